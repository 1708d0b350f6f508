//! Recurrent layers (batch-first x[N,T,D], Keras weight layouts, zero initial states):
//! LSTM, GRU (reset_after=True) and SimpleRNN, each forward with its backward through time.
//!
//! Shared shape of every cell: one big sgemm projects the inputs of all timesteps at once
//! ([N*T, D] @ [D, G*H] + bias), then the time loop does one small product h_{t-1} @ U per step and
//! a fused elementwise gate update. Backward walks time in reverse, writing each step's gate
//! gradients into one [N*T, G*H] buffer, so the weight gradients are big products after the loop.
//! LSTM and GRU run the per-step product with U packed once per call (`pgemm`: AVX-512 or AVX2/FMA
//! kernels chosen at run time; AIAAS_RNN_NO_AVX512=1 forces the AVX2 one), split the batch into
//! one contiguous block per thread that runs the whole time loop (no per-step dispatch), and
//! compile the gate math for AVX2/FMA when the CPU has it.

mod common;
pub mod pgemm;
pub mod gru;
pub mod lstm;
pub mod simple;

pub use common::{parse_rnn_activation, RnnDims};
