//! conv2d_forward(x, w, b, stride, padding) -> y; conv2d_backward(...) -> (dx | None, dw, db)
//! x[N,H,W,C], w[KH,KW,C,F] (Keras HWIO), b[F] | None, y/dy[N,OH,OW,F].

use super::util::{empty, slice};
use crate::kernels::conv::{self, Conv2d, Padding};
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

type F32Array<'py> = Bound<'py, PyArrayDyn<f32>>;

#[pyfunction]
#[pyo3(signature = (x, w, b, stride=(1, 1), padding="valid"))]
fn conv2d_forward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    w: PyReadonlyArrayDyn<'py, f32>,
    b: Option<PyReadonlyArrayDyn<'py, f32>>,
    stride: (i64, i64),
    padding: &str,
) -> PyResult<F32Array<'py>> {
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
        py.detach(|| conv::conv2d_forward(&g, xs, ws, bs, ys))?;
    }
    Ok(y)
}

#[pyfunction]
#[pyo3(signature = (x, w, dy, stride=(1, 1), padding="valid", need_dx=true))]
#[allow(clippy::type_complexity)]
fn conv2d_backward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    w: PyReadonlyArrayDyn<'py, f32>,
    dy: PyReadonlyArrayDyn<'py, f32>,
    stride: (i64, i64),
    padding: &str,
    need_dx: bool,
) -> PyResult<(Option<F32Array<'py>>, F32Array<'py>, F32Array<'py>)> {
    let stride = conv::check_stride("conv2d: stride", stride)?;
    let g = Conv2d::new(x.shape(), w.shape(), stride, Padding::parse(padding)?)?;
    g.check_dy_shape(dy.shape())?;
    let dx = need_dx.then(|| empty(py, x.shape()));
    let dw = empty(py, w.shape());
    let db = empty(py, &[g.f]);
    {
        let (xs, ws, dys) = (slice("x", &x)?, slice("w", &w)?, slice("dy", &dy)?);
        let mut dxw = dx.as_ref().map(|a| a.readwrite());
        let (mut dww, mut dbw) = (dw.readwrite(), db.readwrite());
        let dxs = dxw.as_mut().map(|a| a.as_slice_mut().expect("fresh array is contiguous"));
        let dws = dww.as_slice_mut().expect("fresh array is contiguous");
        let dbs = dbw.as_slice_mut().expect("fresh array is contiguous");
        py.detach(|| conv::conv2d_backward(&g, xs, ws, dys, dxs, dws, dbs))?;
    }
    Ok((dx, dw, db))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(conv2d_forward, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d_backward, m)?)?;
    Ok(())
}
