//! conv2d_forward(x, w, b, stride, padding, activation, alpha) -> y = act(conv(x, w) + b)
//! conv2d_backward(x, w, dy, stride, padding, need_dx, y, activation, alpha) -> (dx | None, dw, db)
//! x[N,H,W,C], w[KH,KW,C,F] (Keras HWIO), b[F] | None, y/dy[N,OH,OW,F]. The fused backward takes
//! the forward output y and forms dz = dy * act'(y) itself (like dense_backward).

use super::activations::same_shape;
use super::util::{empty, slice};
use crate::kernels::activations::Act;
use crate::kernels::conv::{self, Conv2d, Padding};
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

type F32Array<'py> = Bound<'py, PyArrayDyn<f32>>;

#[pyfunction]
#[pyo3(signature = (x, w, b, stride=(1, 1), padding="valid", activation="linear", alpha=0.0))]
#[allow(clippy::too_many_arguments)]
fn conv2d_forward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    w: PyReadonlyArrayDyn<'py, f32>,
    b: Option<PyReadonlyArrayDyn<'py, f32>>,
    stride: (i64, i64),
    padding: &str,
    activation: &str,
    alpha: f32,
) -> PyResult<F32Array<'py>> {
    let act = Act::parse(activation, alpha)?;
    let stride = conv::check_stride("conv2d: stride", stride)?;
    let g = Conv2d::new(x.shape(), w.shape(), stride, Padding::parse(padding)?)?;
    if let Some(b) = &b {
        if b.shape() != [g.f] {
            return Err(crate::error::KernelError::Shape(format!(
                "conv2d: bias has shape {:?}, expected [{}] for kernel {:?}",
                b.shape(),
                g.f,
                w.shape()
            ))
            .into());
        }
    }
    let y = empty(py, &g.y_shape());
    {
        let (xs, ws) = (slice("x", &x)?, slice("w", &w)?);
        let bs = match &b {
            Some(b) => Some(slice("b", b)?),
            None => None,
        };
        let mut yw = y.readwrite();
        let ys = yw.as_slice_mut().expect("fresh array is contiguous");
        py.detach(|| conv::conv2d_forward(&g, xs, ws, bs, act, ys))?;
    }
    Ok(y)
}

#[pyfunction]
#[pyo3(signature = (x, w, dy, stride=(1, 1), padding="valid", need_dx=true, y=None, activation="linear", alpha=0.0))]
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn conv2d_backward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    w: PyReadonlyArrayDyn<'py, f32>,
    dy: PyReadonlyArrayDyn<'py, f32>,
    stride: (i64, i64),
    padding: &str,
    need_dx: bool,
    y: Option<PyReadonlyArrayDyn<'py, f32>>,
    activation: &str,
    alpha: f32,
) -> PyResult<(Option<F32Array<'py>>, F32Array<'py>, F32Array<'py>)> {
    let act = Act::parse(activation, alpha)?;
    let stride = conv::check_stride("conv2d: stride", stride)?;
    let g = Conv2d::new(x.shape(), w.shape(), stride, Padding::parse(padding)?)?;
    g.check_dy_shape(dy.shape())?;
    // The fused gradient is taken from the forward output: y is required unless linear.
    match (&y, act) {
        (None, Act::Linear) => {}
        (None, _) => {
            return Err(crate::error::KernelError::Value(format!(
                "conv2d_backward: activation {activation:?} needs y, the forward output (pass y=...)"
            ))
            .into())
        }
        (Some(y), _) => same_shape("conv2d_backward", "y", y.shape(), "dy", dy.shape())?,
    }
    let dx = need_dx.then(|| empty(py, x.shape()));
    let dw = empty(py, w.shape());
    let db = empty(py, &[g.f]);
    {
        let (xs, ws, dys) = (slice("x", &x)?, slice("w", &w)?, slice("dy", &dy)?);
        let ys = match &y {
            Some(y) => slice("y", y)?,
            None => &[],
        };
        let mut dxw = dx.as_ref().map(|a| a.readwrite());
        let (mut dww, mut dbw) = (dw.readwrite(), db.readwrite());
        let dxs = dxw.as_mut().map(|a| a.as_slice_mut().expect("fresh array is contiguous"));
        let dws = dww.as_slice_mut().expect("fresh array is contiguous");
        let dbs = dbw.as_slice_mut().expect("fresh array is contiguous");
        py.detach(|| conv::conv2d_backward(&g, xs, ws, ys, act, dys, dxs, dws, dbs))?;
    }
    Ok((dx, dw, db))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(conv2d_forward, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d_backward, m)?)?;
    Ok(())
}
