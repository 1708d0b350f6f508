//! matmul(a, b, transpose_a, transpose_b) -> c   // a [M,K] | [B,M,K], b [K,N] | [B,K,N]

use super::util::{slice, try_empty};
use crate::kernels::gemm;
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

#[pyfunction]
#[pyo3(signature = (a, b, transpose_a=false, transpose_b=false))]
fn matmul<'py>(
    py: Python<'py>,
    a: PyReadonlyArrayDyn<'py, f32>,
    b: PyReadonlyArrayDyn<'py, f32>,
    transpose_a: bool,
    transpose_b: bool,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let s = gemm::matmul_shape(a.shape(), b.shape(), transpose_a, transpose_b)?;
    let out_shape: Vec<usize> =
        if s.batched { vec![s.batch, s.m, s.n] } else { vec![s.m, s.n] };
    let out = try_empty(py, &out_shape)?;
    {
        let (a, b) = (slice("a", &a)?, slice("b", &b)?);
        let mut w = out.readwrite();
        let c = w.as_slice_mut().expect("fresh array is contiguous");
        py.detach(|| gemm::matmul(a, b, c, &s, transpose_a, transpose_b));
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(matmul, m)?)?;
    Ok(())
}
