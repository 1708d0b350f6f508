//! Threads, CPU features, and the helpers every binding uses to borrow and allocate arrays.

use crate::error::KernelError;
use crate::parallel::{self, MAX_THREADS};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Borrow a C-contiguous f32 array as a slice, or say which argument was not one.
/// (`as_slice` alone also accepts Fortran order, whose flat slice is the transpose: checked here.)
pub fn slice<'a>(name: &str, a: &'a PyReadonlyArrayDyn<'_, f32>) -> PyResult<&'a [f32]> {
    c_slice(name, "float32", a.is_c_contiguous(), a.as_slice().ok())
}

/// The one C-order check every binding makes before reading an array's memory as a flat slice.
pub fn c_slice<'a, T>(name: &str, dtype: &str, c_contiguous: bool, s: Option<&'a [T]>) -> PyResult<&'a [T]> {
    match s {
        Some(s) if c_contiguous => Ok(s),
        _ => Err(KernelError::Value(format!(
            "{name} must be a C-contiguous {dtype} array (np.ascontiguousarray); got a Fortran-ordered or strided one"
        ))
        .into()),
    }
}

/// A new float32 array of `shape`, zero-filled: for outputs a kernel accumulates into.
pub fn zeros<'py>(py: Python<'py>, shape: &[usize]) -> Bound<'py, PyArrayDyn<f32>> {
    PyArrayDyn::<f32>::zeros(py, shape, false)
}

/// A new float32 array of `shape`, uninitialised: only for outputs the kernel overwrites in full
/// before Python can see them. Zero-filling costs as much as a memory-bound kernel itself (a fresh
/// calloc'd 16 MB block page-faults on first touch; malloc reuses the block numpy just freed).
pub fn empty<'py>(py: Python<'py>, shape: &[usize]) -> Bound<'py, PyArrayDyn<f32>> {
    // SAFETY: every caller hands the whole array to a kernel that writes each element before the
    // array is returned to Python; on an error the array is dropped unseen.
    unsafe { PyArrayDyn::<f32>::new(py, shape, false) }
}

/// Bytes above which `try_zeros` asks numpy through Python, which reports a failed allocation as
/// MemoryError (rust-numpy's `zeros` panics on it).
const BIG_ALLOCATION: usize = 1 << 30;

/// `zeros` for a shape that is a product of independent sizes (x rows times kernel columns, a
/// vocabulary size the caller passed): too large is a ValueError or MemoryError, never a panic.
pub fn try_zeros<'py>(py: Python<'py>, shape: &[usize]) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    try_alloc(py, shape, true)
}

/// `empty` with `try_zeros`'s checks on the size.
pub fn try_empty<'py>(py: Python<'py>, shape: &[usize]) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    try_alloc(py, shape, false)
}

fn try_alloc<'py>(py: Python<'py>, shape: &[usize], zeroed: bool) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let bytes = shape.iter().try_fold(std::mem::size_of::<f32>(), |acc, &d| acc.checked_mul(d));
    match bytes {
        Some(b) if b <= isize::MAX as usize => {
            if b < BIG_ALLOCATION {
                return Ok(if zeroed { zeros(py, shape) } else { empty(py, shape) });
            }
            let func = if zeroed { "zeros" } else { "empty" };
            let arr = py.import("numpy")?.call_method1(func, (shape.to_vec(), "float32"))?;
            Ok(arr.cast_into::<PyArrayDyn<f32>>()?)
        }
        _ => Err(KernelError::Value(format!(
            "an output of shape {shape:?} float32 is too large to allocate"
        ))
        .into()),
    }
}

#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    if n == 0 || n > MAX_THREADS {
        return Err(KernelError::Value(format!(
            "set_num_threads: n must be in [1, {MAX_THREADS}], got {n}"
        ))
        .into());
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
