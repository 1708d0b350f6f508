//! aiaas_core's native core.
//!
//! `kernels` are plain Rust (slices in, slices out, shapes as arguments) with no PyO3 in them,
//! so they are unit-tested and benchmarked without Python. `bindings` is the thin PyO3 layer
//! (built only with the `python` feature, which maturin enables).

// `x % n == 0` stays: `is_multiple_of` would raise the toolchain needed to Rust 1.87.
#![allow(clippy::manual_is_multiple_of)]

pub mod error;
pub mod kernels;
pub mod parallel;

#[cfg(feature = "python")]
mod bindings;
