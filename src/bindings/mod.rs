//! The thin PyO3 layer: checks what Python handed over, releases the GIL, calls a kernel.
//! Kernel errors become Python exceptions here (`errors`), and nowhere else.
//!
//! Convention: every array argument is a C-contiguous float32 numpy array (the Python wrappers
//! in `aiaas_core` convert, zero-copy when the input already is one); results are new arrays.
//! `python/aiaas_core/_core.pyi` documents every function.

mod activations;
mod conv;
mod dense;
mod dropout;
mod embedding;
mod errors;
mod gemm;
mod losses;
mod norm;
mod optim;
mod pool;
mod rnn;
mod util;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    util::register(m)?;
    gemm::register(m)?;
    activations::register(m)?;
    dense::register(m)?;
    conv::register(m)?;
    pool::register(m)?;
    norm::register(m)?;
    embedding::register(m)?;
    dropout::register(m)?;
    losses::register(m)?;
    optim::register(m)?;
    rnn::register(m)?;
    Ok(())
}
