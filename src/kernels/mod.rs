//! Plain-Rust kernels: f32, row-major (channels-last), shapes passed explicitly.
//! Each forward has its backward beside it.

pub mod activations;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod gemm;
pub mod losses;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod rnn;
