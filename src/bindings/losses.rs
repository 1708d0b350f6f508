//! loss_forward_backward(name, y_pred, y_true, from_logits) -> (mean loss, d loss / d y_pred)
//! loss_forward(name, y_pred, y_true, from_logits) -> mean loss

use super::activations::same_shape;
use super::util::{empty, slice};
use crate::error::KernelError;
use crate::kernels::losses::{self, Loss, Targets};
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// Class ids from y_true (float or integer array of shape y_pred.shape[:-1] or [..., 1]),
/// each checked to be a whole number in [0, C).
fn class_ids(y_true: &Bound<'_, PyAny>, pred_shape: &[usize], c: usize) -> PyResult<Vec<usize>> {
    let want = &pred_shape[..pred_shape.len() - 1];
    let check_shape = |got: &[usize]| -> PyResult<()> {
        let ok = got == want || (got.len() == want.len() + 1 && &got[..want.len()] == want && got[want.len()] == 1);
        if ok {
            Ok(())
        } else {
            Err(KernelError::Shape(format!(
                "sparse_categorical_crossentropy: y_true (class ids) has shape {got:?}; expected {want:?} \
                 or {want:?} + [1] for y_pred of shape {pred_shape:?}"
            ))
            .into())
        }
    };
    let bad = |id: String| -> PyErr {
        KernelError::Value(format!(
            "sparse_categorical_crossentropy: class id {id} is not a valid class for {c} classes \
             (ids must be integers in [0, {c}))"
        ))
        .into()
    };
    let from_float = |v: f64| -> PyResult<usize> {
        if v.fract() == 0.0 && v >= 0.0 && v < c as f64 { Ok(v as usize) } else { Err(bad(format!("{v}"))) }
    };
    let from_int = |v: i64| -> PyResult<usize> {
        if v >= 0 && (v as u64) < c as u64 { Ok(v as usize) } else { Err(bad(format!("{v}"))) }
    };
    macro_rules! read {
        ($t:ty, $conv:expr) => {
            if let Ok(a) = y_true.cast::<PyArrayDyn<$t>>() {
                let a = a.try_readonly().map_err(|e| KernelError::Value(format!("y_true: {e}")))?;
                check_shape(a.shape())?;
                let a = a.as_array();
                return a.iter().map(|&v| $conv(v)).collect();
            }
        };
    }
    read!(f32, |v: f32| from_float(v as f64));
    read!(f64, from_float);
    read!(i64, from_int);
    read!(i32, |v: i32| from_int(v as i64));
    Err(pyo3::exceptions::PyTypeError::new_err(
        "sparse_categorical_crossentropy: y_true must be a numpy array of float32, float64, int64 or int32 class ids",
    ))
}

fn compute(
    py: Python<'_>,
    name: &str,
    y_pred: &PyReadonlyArrayDyn<'_, f32>,
    y_true: &Bound<'_, PyAny>,
    from_logits: bool,
    grad: Option<&mut [f32]>,
) -> PyResult<f64> {
    let loss = Loss::parse(name)?;
    let shape = y_pred.shape();
    if shape.is_empty() || shape[shape.len() - 1] == 0 {
        return Err(KernelError::Shape(format!(
            "{name}: y_pred must have at least one axis with a non-empty last axis, got shape {shape:?}"
        ))
        .into());
    }
    let c = shape[shape.len() - 1];
    let p = slice("y_pred", y_pred)?;
    if loss == Loss::SparseCategoricalCrossentropy {
        let ids = class_ids(y_true, shape, c)?;
        Ok(py.detach(|| losses::loss(loss, from_logits, p, Targets::Sparse(&ids), c, grad))?)
    } else {
        let t: PyReadonlyArrayDyn<'_, f32> = y_true.extract().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!("{name}: y_true must be a float32 numpy array"))
        })?;
        same_shape(name, "y_true", t.shape(), "y_pred", shape)?;
        let ts = slice("y_true", &t)?;
        Ok(py.detach(|| losses::loss(loss, from_logits, p, Targets::Dense(ts), c, grad))?)
    }
}

#[pyfunction]
#[pyo3(signature = (name, y_pred, y_true, from_logits=false))]
fn loss_forward_backward<'py>(
    py: Python<'py>,
    name: &str,
    y_pred: PyReadonlyArrayDyn<'py, f32>,
    y_true: &Bound<'py, PyAny>,
    from_logits: bool,
) -> PyResult<(f64, Bound<'py, PyArrayDyn<f32>>)> {
    let out = empty(py, y_pred.shape());
    let l = {
        let mut w = out.readwrite();
        let g = w.as_slice_mut().expect("fresh array is contiguous");
        compute(py, name, &y_pred, y_true, from_logits, Some(g))?
    };
    Ok((l, out))
}

#[pyfunction]
#[pyo3(signature = (name, y_pred, y_true, from_logits=false))]
fn loss_forward<'py>(
    py: Python<'py>,
    name: &str,
    y_pred: PyReadonlyArrayDyn<'py, f32>,
    y_true: &Bound<'py, PyAny>,
    from_logits: bool,
) -> PyResult<f64> {
    compute(py, name, &y_pred, y_true, from_logits, None)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(loss_forward_backward, m)?)?;
    m.add_function(wrap_pyfunction!(loss_forward, m)?)?;
    Ok(())
}
