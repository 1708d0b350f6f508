//! Recurrent layers (batch-first x[N,T,D], Keras weight layouts, zero initial states):
//! LSTM, GRU (reset_after=True) and SimpleRNN, each forward with its backward through time.
//!
//! Shared shape of every cell: one big sgemm projects the inputs of all timesteps at once
//! ([N*T, D] @ [D, G*H] + bias), then the time loop does one small sgemm h_{t-1} @ U per step and a
//! fused elementwise gate update. Backward walks time in reverse, writing each step's gate
//! gradients into one [N*T, G*H] buffer, so the weight gradients are big sgemms after the loop.

mod common;
pub mod pgemm;
pub mod gru;
pub mod lstm;
pub mod simple;

pub use common::{parse_rnn_activation, RnnDims};
