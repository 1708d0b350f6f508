//! Threads, CPU features, and the helpers every binding uses to borrow and allocate arrays.

use crate::error::KernelError;
use crate::parallel;
use numpy::{PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Borrow a C-contiguous f32 array as a slice, or say which argument was not one.
pub fn slice<'a>(name: &str, a: &'a PyReadonlyArrayDyn<'_, f32>) -> PyResult<&'a [f32]> {
    a.as_slice().map_err(|_| {
        KernelError::Value(format!("{name} must be a C-contiguous float32 array")).into()
    })
}

/// A new float32 array of `shape`, zero-filled.
pub fn zeros<'py>(py: Python<'py>, shape: &[usize]) -> Bound<'py, PyArrayDyn<f32>> {
    PyArrayDyn::<f32>::zeros(py, shape, false)
}

#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    if n == 0 {
        return Err(KernelError::Value("set_num_threads: n must be >= 1, got 0".into()).into());
    }
    parallel::set_num_threads(n);
    Ok(())
}

#[pyfunction]
fn get_num_threads() -> usize {
    parallel::num_threads()
}

#[pyfunction]
fn cpu_features(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in parallel::cpu_features() {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// Name of the sgemm micro-kernel chosen at start-up (e.g. "avx512_8x32", "avx2_6x16"): what
/// `AIAAS_DISABLE_AVX512` / `AIAAS_GEMM_KERNEL` selected, for tests and benchmarks.
#[pyfunction]
fn gemm_kernel() -> &'static str {
    crate::kernels::gemm::gemm_microkernel::spec().name
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gemm_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(cpu_features, m)?)?;
    Ok(())
}
