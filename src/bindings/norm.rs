//! batchnorm_forward_train / batchnorm_forward_infer / batchnorm_backward over x[..., C].

use super::activations::same_shape;
use super::util::{empty, slice, zeros};
use crate::error::KernelError;
use crate::kernels::norm;
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

type Arr<'py> = Bound<'py, PyArrayDyn<f32>>;

/// C (the last axis of x) after checking every per-channel array is [C].
fn channels(x: &[usize], per_channel: &[(&str, &[usize])]) -> PyResult<usize> {
    let Some(&c) = x.last() else {
        return Err(KernelError::Shape("batchnorm: x must have at least one axis, got a scalar".into()).into());
    };
    for (name, s) in per_channel {
        same_shape("batchnorm", name, s, "[C] from x's last axis", &[c])?;
    }
    Ok(c)
}

#[pyfunction]
#[pyo3(signature = (x, gamma, beta, epsilon=1e-3))]
fn batchnorm_forward_train<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    gamma: PyReadonlyArrayDyn<'py, f32>,
    beta: PyReadonlyArrayDyn<'py, f32>,
    epsilon: f32,
) -> PyResult<(Arr<'py>, Arr<'py>, Arr<'py>)> {
    let c = channels(x.shape(), &[("gamma", gamma.shape()), ("beta", beta.shape())])?;
    let (y, mean, var) = (empty(py, x.shape()), zeros(py, &[c]), zeros(py, &[c]));
    {
        let (xs, gs, bs) = (slice("x", &x)?, slice("gamma", &gamma)?, slice("beta", &beta)?);
        let (mut yw, mut mw, mut vw) = (y.readwrite(), mean.readwrite(), var.readwrite());
        let (ys, ms, vs) = (yw.as_slice_mut().unwrap(), mw.as_slice_mut().unwrap(), vw.as_slice_mut().unwrap());
        py.detach(|| norm::batchnorm_forward_train(xs, gs, bs, c, epsilon, ys, ms, vs))?;
    }
    Ok((y, mean, var))
}

#[pyfunction]
#[pyo3(signature = (x, gamma, beta, moving_mean, moving_var, epsilon=1e-3))]
fn batchnorm_forward_infer<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    gamma: PyReadonlyArrayDyn<'py, f32>,
    beta: PyReadonlyArrayDyn<'py, f32>,
    moving_mean: PyReadonlyArrayDyn<'py, f32>,
    moving_var: PyReadonlyArrayDyn<'py, f32>,
    epsilon: f32,
) -> PyResult<Arr<'py>> {
    let c = channels(
        x.shape(),
        &[("gamma", gamma.shape()), ("beta", beta.shape()), ("moving_mean", moving_mean.shape()), ("moving_var", moving_var.shape())],
    )?;
    let y = empty(py, x.shape());
    {
        let (xs, gs, bs) = (slice("x", &x)?, slice("gamma", &gamma)?, slice("beta", &beta)?);
        let (mm, mv) = (slice("moving_mean", &moving_mean)?, slice("moving_var", &moving_var)?);
        let mut yw = y.readwrite();
        let ys = yw.as_slice_mut().unwrap();
        py.detach(|| norm::batchnorm_forward_infer(xs, gs, bs, mm, mv, c, epsilon, ys))?;
    }
    Ok(y)
}

#[pyfunction]
#[pyo3(signature = (x, dy, gamma, batch_mean, batch_var, epsilon=1e-3))]
fn batchnorm_backward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    dy: PyReadonlyArrayDyn<'py, f32>,
    gamma: PyReadonlyArrayDyn<'py, f32>,
    batch_mean: PyReadonlyArrayDyn<'py, f32>,
    batch_var: PyReadonlyArrayDyn<'py, f32>,
    epsilon: f32,
) -> PyResult<(Arr<'py>, Arr<'py>, Arr<'py>)> {
    let c = channels(
        x.shape(),
        &[("gamma", gamma.shape()), ("batch_mean", batch_mean.shape()), ("batch_var", batch_var.shape())],
    )?;
    same_shape("batchnorm_backward", "dy", dy.shape(), "x", x.shape())?;
    let (dx, dg, db) = (empty(py, x.shape()), zeros(py, &[c]), zeros(py, &[c]));
    {
        let (xs, gs, gam) = (slice("x", &x)?, slice("dy", &dy)?, slice("gamma", &gamma)?);
        let (mu, var) = (slice("batch_mean", &batch_mean)?, slice("batch_var", &batch_var)?);
        let (mut a, mut b, mut cc) = (dx.readwrite(), dg.readwrite(), db.readwrite());
        let (dxs, dgs, dbs) = (a.as_slice_mut().unwrap(), b.as_slice_mut().unwrap(), cc.as_slice_mut().unwrap());
        py.detach(|| norm::batchnorm_backward(xs, gs, gam, mu, var, c, epsilon, dxs, dgs, dbs))?;
    }
    Ok((dx, dg, db))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(batchnorm_forward_train, m)?)?;
    m.add_function(wrap_pyfunction!(batchnorm_forward_infer, m)?)?;
    m.add_function(wrap_pyfunction!(batchnorm_backward, m)?)?;
    Ok(())
}
