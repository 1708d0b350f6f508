//! maxpool2d_forward/backward, avgpool2d_forward/backward: x[N,H,W,C] -> y[N,OH,OW,C] (NHWC).

use super::util::{c_slice, empty, slice, try_empty};
use crate::error::KernelError;
use crate::kernels::conv::{check_stride, Padding};
use crate::kernels::pool::{self, Pool2d};
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

type F32Array<'py> = Bound<'py, PyArrayDyn<f32>>;

fn geometry(x_shape: &[usize], pool_size: (i64, i64), strides: (i64, i64), padding: &str) -> PyResult<Pool2d> {
    let pool_size = check_stride("pool2d: pool_size", pool_size)?;
    let strides = check_stride("pool2d: strides", strides)?;
    Ok(Pool2d::new(x_shape, pool_size, strides, Padding::parse(padding)?)?)
}

fn x_shape_of(x_shape: (i64, i64, i64, i64)) -> PyResult<Vec<usize>> {
    let s = [x_shape.0, x_shape.1, x_shape.2, x_shape.3];
    if s.iter().any(|&d| d < 0) {
        return Err(KernelError::Value(format!("x_shape must be non-negative, got {s:?}")).into());
    }
    Ok(s.iter().map(|&d| d as usize).collect())
}

#[pyfunction]
#[pyo3(signature = (x, pool_size, strides, padding="valid"))]
fn maxpool2d_forward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    pool_size: (i64, i64),
    strides: (i64, i64),
    padding: &str,
) -> PyResult<(F32Array<'py>, Bound<'py, PyArrayDyn<i64>>)> {
    let g = geometry(x.shape(), pool_size, strides, padding)?;
    let y = empty(py, &g.y_shape()); // every window writes all its channels
    let argmax = PyArrayDyn::<i64>::zeros(py, &g.y_shape()[..], false);
    {
        let xs = slice("x", &x)?;
        let (mut yw, mut aw) = (y.readwrite(), argmax.readwrite());
        let ys = yw.as_slice_mut().expect("fresh array is contiguous");
        let a = aw.as_slice_mut().expect("fresh array is contiguous");
        py.detach(|| pool::maxpool2d_forward(&g, xs, ys, a))?;
    }
    Ok((y, argmax))
}

#[pyfunction]
fn maxpool2d_backward<'py>(
    py: Python<'py>,
    dy: PyReadonlyArrayDyn<'py, f32>,
    argmax: PyReadonlyArrayDyn<'py, i64>,
    x_shape: (i64, i64, i64, i64),
) -> PyResult<F32Array<'py>> {
    let xs = x_shape_of(x_shape)?;
    let dx = try_empty(py, &xs)?; // the kernels zero it image by image
    {
        let dys = slice("dy", &dy)?;
        let a = c_slice("argmax", "int64", argmax.is_c_contiguous(), argmax.as_slice().ok())?;
        let mut dxw = dx.readwrite();
        let d = dxw.as_slice_mut().expect("fresh array is contiguous");
        let (dy_shape, a_shape) = (dy.shape(), argmax.shape());
        py.detach(|| pool::maxpool2d_backward(&xs, dy_shape, dys, a_shape, a, d))?;
    }
    Ok(dx)
}

#[pyfunction]
#[pyo3(signature = (x, pool_size, strides, padding="valid"))]
fn avgpool2d_forward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    pool_size: (i64, i64),
    strides: (i64, i64),
    padding: &str,
) -> PyResult<F32Array<'py>> {
    let g = geometry(x.shape(), pool_size, strides, padding)?;
    let y = empty(py, &g.y_shape()); // every window writes all its channels
    {
        let xs = slice("x", &x)?;
        let mut yw = y.readwrite();
        let ys = yw.as_slice_mut().expect("fresh array is contiguous");
        py.detach(|| pool::avgpool2d_forward(&g, xs, ys))?;
    }
    Ok(y)
}

#[pyfunction]
#[pyo3(signature = (dy, x_shape, pool_size, strides, padding="valid"))]
fn avgpool2d_backward<'py>(
    py: Python<'py>,
    dy: PyReadonlyArrayDyn<'py, f32>,
    x_shape: (i64, i64, i64, i64),
    pool_size: (i64, i64),
    strides: (i64, i64),
    padding: &str,
) -> PyResult<F32Array<'py>> {
    let xs = x_shape_of(x_shape)?;
    let g = geometry(&xs, pool_size, strides, padding)?;
    let dx = try_empty(py, &xs)?; // the kernels zero it image by image
    {
        let dys = slice("dy", &dy)?;
        let mut dxw = dx.readwrite();
        let d = dxw.as_slice_mut().expect("fresh array is contiguous");
        let dy_shape = dy.shape();
        py.detach(|| pool::avgpool2d_backward(&g, dy_shape, dys, d))?;
    }
    Ok(dx)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(maxpool2d_forward, m)?)?;
    m.add_function(wrap_pyfunction!(maxpool2d_backward, m)?)?;
    m.add_function(wrap_pyfunction!(avgpool2d_forward, m)?)?;
    m.add_function(wrap_pyfunction!(avgpool2d_backward, m)?)?;
    Ok(())
}
