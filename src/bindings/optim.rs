//! sgd_update / adam_update / rmsprop_update / clip_by_global_norm / clip_by_value: lists of
//! float32 arrays updated IN PLACE, all tensors in one call, the GIL released for the whole update.

use crate::error::KernelError;
use crate::kernels::optim;
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

type Arrays<'py> = Vec<Bound<'py, PyArrayDyn<f32>>>;

/// Every list has as many arrays as params, and each array has its param's shape.
fn check_shapes(what: &str, params: &Arrays<'_>, others: &[(&str, &Arrays<'_>)]) -> PyResult<()> {
    for (name, list) in others {
        if list.len() != params.len() {
            return Err(KernelError::Shape(format!(
                "{what}: {name} has {} arrays but params has {}; the lists must match one to one",
                list.len(),
                params.len()
            ))
            .into());
        }
        for (i, (p, a)) in params.iter().zip(list.iter()).enumerate() {
            if p.shape() != a.shape() {
                return Err(KernelError::Shape(format!(
                    "{what}: {name}[{i}] has shape {:?} but params[{i}] has shape {:?}",
                    a.shape(),
                    p.shape()
                ))
                .into());
            }
        }
    }
    Ok(())
}

fn borrow_err(name: &str, i: usize) -> PyErr {
    KernelError::Value(format!(
        "{name}[{i}] cannot be borrowed (is the same array passed twice, or is it not writeable?)"
    ))
    .into()
}

fn contiguous_err(name: &str, i: usize) -> PyErr {
    KernelError::Value(format!(
        "{name}[{i}] must be a C-contiguous float32 array; got a Fortran-ordered or strided one"
    ))
    .into()
}

fn writers<'py>(name: &str, arrs: &Arrays<'py>) -> PyResult<Vec<PyReadwriteArrayDyn<'py, f32>>> {
    arrs.iter().enumerate().map(|(i, a)| a.try_readwrite().map_err(|_| borrow_err(name, i))).collect()
}

fn readers<'py>(name: &str, arrs: &Arrays<'py>) -> PyResult<Vec<PyReadonlyArrayDyn<'py, f32>>> {
    arrs.iter().enumerate().map(|(i, a)| a.try_readonly().map_err(|_| borrow_err(name, i))).collect()
}

fn slices_mut<'a>(name: &str, w: &'a mut [PyReadwriteArrayDyn<'_, f32>]) -> PyResult<Vec<&'a mut [f32]>> {
    // `as_slice_mut` alone also accepts Fortran order, whose flat slice is the transpose.
    w.iter_mut()
        .enumerate()
        .map(|(i, a)| {
            if !a.is_c_contiguous() {
                return Err(contiguous_err(name, i));
            }
            a.as_slice_mut().map_err(|_| contiguous_err(name, i))
        })
        .collect()
}

fn slices<'a>(name: &str, r: &'a [PyReadonlyArrayDyn<'_, f32>]) -> PyResult<Vec<&'a [f32]>> {
    r.iter()
        .enumerate()
        .map(|(i, a)| {
            if !a.is_c_contiguous() {
                return Err(contiguous_err(name, i));
            }
            a.as_slice().map_err(|_| contiguous_err(name, i))
        })
        .collect()
}

#[pyfunction]
#[pyo3(signature = (params, grads, velocities, learning_rate, momentum=0.0, nesterov=false, weight_decay=0.0))]
#[allow(clippy::too_many_arguments)]
fn sgd_update<'py>(
    py: Python<'py>,
    params: Arrays<'py>,
    grads: Arrays<'py>,
    velocities: Arrays<'py>,
    learning_rate: f32,
    momentum: f32,
    nesterov: bool,
    weight_decay: f32,
) -> PyResult<()> {
    check_shapes("sgd_update", &params, &[("grads", &grads), ("velocities", &velocities)])?;
    let (mut pw, gr, mut vw) = (writers("params", &params)?, readers("grads", &grads)?, writers("velocities", &velocities)?);
    let (mut p, g, mut v) = (slices_mut("params", &mut pw)?, slices("grads", &gr)?, slices_mut("velocities", &mut vw)?);
    py.detach(|| optim::sgd_update(&mut p, &g, &mut v, learning_rate, momentum, nesterov, weight_decay))?;
    Ok(())
}

#[pyfunction]
#[pyo3(signature = (params, grads, ms, vs, learning_rate, step, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0))]
#[allow(clippy::too_many_arguments)]
fn adam_update<'py>(
    py: Python<'py>,
    params: Arrays<'py>,
    grads: Arrays<'py>,
    ms: Arrays<'py>,
    vs: Arrays<'py>,
    learning_rate: f32,
    step: i64,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
) -> PyResult<()> {
    if step < 1 {
        return Err(KernelError::Value(format!("adam_update: step must be >= 1 (1-based), got {step}")).into());
    }
    check_shapes("adam_update", &params, &[("grads", &grads), ("ms", &ms), ("vs", &vs)])?;
    let (mut pw, gr) = (writers("params", &params)?, readers("grads", &grads)?);
    let (mut mw, mut vw) = (writers("ms", &ms)?, writers("vs", &vs)?);
    let (mut p, g) = (slices_mut("params", &mut pw)?, slices("grads", &gr)?);
    let (mut m, mut v) = (slices_mut("ms", &mut mw)?, slices_mut("vs", &mut vw)?);
    py.detach(|| {
        optim::adam_update(&mut p, &g, &mut m, &mut v, learning_rate, step as u64, beta_1, beta_2, epsilon, weight_decay)
    })?;
    Ok(())
}

#[pyfunction]
#[pyo3(signature = (params, grads, ms, mgs, moms, learning_rate, rho=0.9, momentum=0.0, epsilon=1e-7, centered=false))]
#[allow(clippy::too_many_arguments)]
fn rmsprop_update<'py>(
    py: Python<'py>,
    params: Arrays<'py>,
    grads: Arrays<'py>,
    ms: Arrays<'py>,
    mgs: Arrays<'py>,
    moms: Arrays<'py>,
    learning_rate: f32,
    rho: f32,
    momentum: f32,
    epsilon: f32,
    centered: bool,
) -> PyResult<()> {
    check_shapes("rmsprop_update", &params, &[("grads", &grads), ("ms", &ms), ("mgs", &mgs), ("moms", &moms)])?;
    let (mut pw, gr, mut sw) = (writers("params", &params)?, readers("grads", &grads)?, writers("ms", &ms)?);
    let (mut gw, mut ow) = (writers("mgs", &mgs)?, writers("moms", &moms)?);
    let (mut p, g, mut s) = (slices_mut("params", &mut pw)?, slices("grads", &gr)?, slices_mut("ms", &mut sw)?);
    let (mut mg, mut mo) = (slices_mut("mgs", &mut gw)?, slices_mut("moms", &mut ow)?);
    py.detach(|| {
        optim::rmsprop_update(&mut p, &g, &mut s, &mut mg, &mut mo, learning_rate, rho, momentum, epsilon, centered)
    })?;
    Ok(())
}

#[pyfunction]
fn clip_by_global_norm<'py>(py: Python<'py>, grads: Arrays<'py>, max_norm: f32) -> PyResult<f64> {
    let mut gw = writers("grads", &grads)?;
    let mut g = slices_mut("grads", &mut gw)?;
    Ok(py.detach(|| optim::clip_by_global_norm(&mut g, max_norm))?)
}

#[pyfunction]
fn clip_by_value<'py>(py: Python<'py>, grads: Arrays<'py>, clip_value: f32) -> PyResult<()> {
    let mut gw = writers("grads", &grads)?;
    let mut g = slices_mut("grads", &mut gw)?;
    py.detach(|| optim::clip_by_value(&mut g, clip_value))?;
    Ok(())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sgd_update, m)?)?;
    m.add_function(wrap_pyfunction!(adam_update, m)?)?;
    m.add_function(wrap_pyfunction!(rmsprop_update, m)?)?;
    m.add_function(wrap_pyfunction!(clip_by_global_norm, m)?)?;
    m.add_function(wrap_pyfunction!(clip_by_value, m)?)?;
    Ok(())
}
