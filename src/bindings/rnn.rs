//! lstm_*, gru_*, simple_rnn_* (forward -> (hs, cache); backward(…, hs, cache, dhs) -> grads).
//! x[N,T,D] batch-first, Keras weight layouts; the cache is a tuple of float32 arrays the forward
//! made and the backward checks (shape by shape) before trusting.

use super::util::{slice, try_zeros, zeros};
use crate::error::KernelError;
use crate::kernels::rnn::gru::{self, GruCache};
use crate::kernels::rnn::lstm::{self, LstmCache};
use crate::kernels::rnn::{parse_rnn_activation, simple, RnnDims};
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

type Arr<'py> = Bound<'py, PyArrayDyn<f32>>;
type In<'py> = PyReadonlyArrayDyn<'py, f32>;
type Grads<'py> = (Option<Arr<'py>>, Arr<'py>, Arr<'py>, Arr<'py>);

fn bias_slice<'a>(bias: &'a Option<In<'_>>) -> PyResult<Option<&'a [f32]>> {
    bias.as_ref().map(|b| slice("bias", b)).transpose()
}

fn rw<'py>(a: &Arr<'py>) -> numpy::PyReadwriteArrayDyn<'py, f32> {
    a.readwrite()
}

/// The cache tuple the forward returned, as arrays, each checked to be [N,T,width].
fn cache_arrays<'py>(
    func: &str,
    layer: &str,
    cache: &Bound<'py, PyAny>,
    parts: &[(&str, usize)],
    d: &RnnDims,
) -> PyResult<Vec<In<'py>>> {
    let described = parts
        .iter()
        .map(|(name, w)| format!("{name}[{}, {}, {w}]", d.n, d.t))
        .collect::<Vec<_>>()
        .join(", ");
    let bad = |got: String| -> PyErr {
        KernelError::Shape(format!(
            "{func}: cache must be the tuple ({described}) returned by the forward, got {got}"
        ))
        .into()
    };
    let tuple = cache.cast::<PyTuple>().map_err(|_| bad(format!("a {}", cache.get_type().name().map(|s| s.to_string()).unwrap_or_default())))?;
    if tuple.len() != parts.len() {
        return Err(bad(format!("a tuple of {} items", tuple.len())));
    }
    let mut out = Vec::with_capacity(parts.len());
    for (i, (name, width)) in parts.iter().enumerate() {
        let item = tuple.get_item(i)?;
        let arr: In<'py> = item
            .extract()
            .map_err(|_| bad(format!("item {i} ({name}) that is not a float32 array")))?;
        d.check_seq(layer, &format!("cache {name}"), arr.shape(), *width)?;
        out.push(arr);
    }
    Ok(out)
}

/// The four gradient arrays: dx[N,T,D] (when asked), dkernel, drecurrent_kernel, dbias.
fn grad_arrays<'py>(
    py: Python<'py>,
    d: &RnnDims,
    gates: usize,
    bias_shape: &[usize],
    need_dx: bool,
) -> Grads<'py> {
    (
        need_dx.then(|| zeros(py, &[d.n, d.t, d.d])),
        zeros(py, &[d.d, gates * d.h]),
        zeros(py, &[d.h, gates * d.h]),
        zeros(py, bias_shape),
    )
}

// ---- LSTM ------------------------------------------------------------------------------------

fn lstm_dims(x: &In, k: &In, r: &In, b: &Option<In>) -> PyResult<RnnDims> {
    Ok(RnnDims::check("lstm", 4, x.shape(), k.shape(), r.shape(), b.as_ref().map(|b| b.shape()), &|h| {
        vec![4 * h]
    })?)
}

#[pyfunction]
#[pyo3(signature = (x, kernel, recurrent_kernel, bias=None, activation="tanh", recurrent_activation="sigmoid"))]
#[allow(clippy::type_complexity)]
fn lstm_forward<'py>(
    py: Python<'py>,
    x: In<'py>,
    kernel: In<'py>,
    recurrent_kernel: In<'py>,
    bias: Option<In<'py>>,
    activation: &str,
    recurrent_activation: &str,
) -> PyResult<(Arr<'py>, (Arr<'py>, Arr<'py>, Arr<'py>))> {
    let act = parse_rnn_activation(activation)?;
    let rec = parse_rnn_activation(recurrent_activation)?;
    let d = lstm_dims(&x, &kernel, &recurrent_kernel, &bias)?;
    let hs = try_zeros(py, &[d.n, d.t, d.h])?;
    let gates = try_zeros(py, &[d.n, d.t, 4 * d.h])?;
    let cells = try_zeros(py, &[d.n, d.t, d.h])?;
    let act_cells = try_zeros(py, &[d.n, d.t, d.h])?;
    {
        let (xs, ks, rs) = (slice("x", &x)?, slice("kernel", &kernel)?, slice("recurrent_kernel", &recurrent_kernel)?);
        let bs = bias_slice(&bias)?;
        let (mut hw, mut gw, mut cw, mut aw) = (rw(&hs), rw(&gates), rw(&cells), rw(&act_cells));
        let (h, g, c, a) = (
            hw.as_slice_mut().expect("fresh array"),
            gw.as_slice_mut().expect("fresh array"),
            cw.as_slice_mut().expect("fresh array"),
            aw.as_slice_mut().expect("fresh array"),
        );
        py.detach(|| lstm::lstm_forward(&d, act, rec, xs, ks, rs, bs, h, g, c, a))?;
    }
    Ok((hs, (gates, cells, act_cells)))
}

#[pyfunction]
#[pyo3(signature = (x, kernel, recurrent_kernel, hs, cache, dhs, activation="tanh", recurrent_activation="sigmoid", need_dx=true))]
#[allow(clippy::too_many_arguments)]
fn lstm_backward<'py>(
    py: Python<'py>,
    x: In<'py>,
    kernel: In<'py>,
    recurrent_kernel: In<'py>,
    hs: In<'py>,
    cache: &Bound<'py, PyAny>,
    dhs: In<'py>,
    activation: &str,
    recurrent_activation: &str,
    need_dx: bool,
) -> PyResult<Grads<'py>> {
    let act = parse_rnn_activation(activation)?;
    let rec = parse_rnn_activation(recurrent_activation)?;
    let d = lstm_dims(&x, &kernel, &recurrent_kernel, &None)?;
    d.check_seq("lstm", "hs", hs.shape(), d.h)?;
    d.check_seq("lstm", "dhs", dhs.shape(), d.h)?;
    let parts = [("gates", 4 * d.h), ("cells", d.h), ("act_cells", d.h)];
    let c = cache_arrays("lstm_backward", "lstm", cache, &parts, &d)?;
    let out = grad_arrays(py, &d, 4, &[4 * d.h], need_dx);
    {
        let (xs, ks, rs) = (slice("x", &x)?, slice("kernel", &kernel)?, slice("recurrent_kernel", &recurrent_kernel)?);
        let (hss, dhss) = (slice("hs", &hs)?, slice("dhs", &dhs)?);
        let cache = LstmCache {
            gates: slice("cache gates", &c[0])?,
            cells: slice("cache cells", &c[1])?,
            act_cells: slice("cache act_cells", &c[2])?,
        };
        let mut dxw = out.0.as_ref().map(rw);
        let (mut kw, mut rw_, mut bw) = (rw(&out.1), rw(&out.2), rw(&out.3));
        let dx = dxw.as_mut().map(|w| w.as_slice_mut().expect("fresh array"));
        let (dk, dr, db) = (
            kw.as_slice_mut().expect("fresh array"),
            rw_.as_slice_mut().expect("fresh array"),
            bw.as_slice_mut().expect("fresh array"),
        );
        py.detach(|| lstm::lstm_backward(&d, act, rec, xs, ks, rs, hss, &cache, dhss, dx, dk, dr, db))?;
    }
    Ok(out)
}

// ---- GRU -------------------------------------------------------------------------------------

fn gru_dims(x: &In, k: &In, r: &In, b: &Option<In>) -> PyResult<RnnDims> {
    Ok(RnnDims::check("gru", 3, x.shape(), k.shape(), r.shape(), b.as_ref().map(|b| b.shape()), &|h| {
        vec![2, 3 * h]
    })?)
}

#[pyfunction]
#[pyo3(signature = (x, kernel, recurrent_kernel, bias=None, activation="tanh", recurrent_activation="sigmoid"))]
#[allow(clippy::type_complexity)]
fn gru_forward<'py>(
    py: Python<'py>,
    x: In<'py>,
    kernel: In<'py>,
    recurrent_kernel: In<'py>,
    bias: Option<In<'py>>,
    activation: &str,
    recurrent_activation: &str,
) -> PyResult<(Arr<'py>, (Arr<'py>, Arr<'py>))> {
    let act = parse_rnn_activation(activation)?;
    let rec = parse_rnn_activation(recurrent_activation)?;
    let d = gru_dims(&x, &kernel, &recurrent_kernel, &bias)?;
    let hs = try_zeros(py, &[d.n, d.t, d.h])?;
    let gates = try_zeros(py, &[d.n, d.t, 3 * d.h])?;
    let rec_h = try_zeros(py, &[d.n, d.t, d.h])?;
    {
        let (xs, ks, rs) = (slice("x", &x)?, slice("kernel", &kernel)?, slice("recurrent_kernel", &recurrent_kernel)?);
        let bs = bias_slice(&bias)?;
        let (mut hw, mut gw, mut rhw) = (rw(&hs), rw(&gates), rw(&rec_h));
        let (h, g, r) = (
            hw.as_slice_mut().expect("fresh array"),
            gw.as_slice_mut().expect("fresh array"),
            rhw.as_slice_mut().expect("fresh array"),
        );
        py.detach(|| gru::gru_forward(&d, act, rec, xs, ks, rs, bs, h, g, r))?;
    }
    Ok((hs, (gates, rec_h)))
}

#[pyfunction]
#[pyo3(signature = (x, kernel, recurrent_kernel, hs, cache, dhs, activation="tanh", recurrent_activation="sigmoid", need_dx=true))]
#[allow(clippy::too_many_arguments)]
fn gru_backward<'py>(
    py: Python<'py>,
    x: In<'py>,
    kernel: In<'py>,
    recurrent_kernel: In<'py>,
    hs: In<'py>,
    cache: &Bound<'py, PyAny>,
    dhs: In<'py>,
    activation: &str,
    recurrent_activation: &str,
    need_dx: bool,
) -> PyResult<Grads<'py>> {
    let act = parse_rnn_activation(activation)?;
    let rec = parse_rnn_activation(recurrent_activation)?;
    let d = gru_dims(&x, &kernel, &recurrent_kernel, &None)?;
    d.check_seq("gru", "hs", hs.shape(), d.h)?;
    d.check_seq("gru", "dhs", dhs.shape(), d.h)?;
    let parts = [("gates", 3 * d.h), ("rec_h", d.h)];
    let c = cache_arrays("gru_backward", "gru", cache, &parts, &d)?;
    let out = grad_arrays(py, &d, 3, &[2, 3 * d.h], need_dx);
    {
        let (xs, ks, rs) = (slice("x", &x)?, slice("kernel", &kernel)?, slice("recurrent_kernel", &recurrent_kernel)?);
        let (hss, dhss) = (slice("hs", &hs)?, slice("dhs", &dhs)?);
        let cache = GruCache { gates: slice("cache gates", &c[0])?, rec_h: slice("cache rec_h", &c[1])? };
        let mut dxw = out.0.as_ref().map(rw);
        let (mut kw, mut rw_, mut bw) = (rw(&out.1), rw(&out.2), rw(&out.3));
        let dx = dxw.as_mut().map(|w| w.as_slice_mut().expect("fresh array"));
        let (dk, dr, db) = (
            kw.as_slice_mut().expect("fresh array"),
            rw_.as_slice_mut().expect("fresh array"),
            bw.as_slice_mut().expect("fresh array"),
        );
        py.detach(|| gru::gru_backward(&d, act, rec, xs, ks, rs, hss, &cache, dhss, dx, dk, dr, db))?;
    }
    Ok(out)
}

// ---- SimpleRNN -------------------------------------------------------------------------------

fn simple_dims(x: &In, k: &In, r: &In, b: &Option<In>) -> PyResult<RnnDims> {
    Ok(RnnDims::check("simple_rnn", 1, x.shape(), k.shape(), r.shape(), b.as_ref().map(|b| b.shape()), &|h| {
        vec![h]
    })?)
}

#[pyfunction]
#[pyo3(signature = (x, kernel, recurrent_kernel, bias=None, activation="tanh"))]
fn simple_rnn_forward<'py>(
    py: Python<'py>,
    x: In<'py>,
    kernel: In<'py>,
    recurrent_kernel: In<'py>,
    bias: Option<In<'py>>,
    activation: &str,
) -> PyResult<(Arr<'py>, Bound<'py, PyTuple>)> {
    let act = parse_rnn_activation(activation)?;
    let d = simple_dims(&x, &kernel, &recurrent_kernel, &bias)?;
    let hs = try_zeros(py, &[d.n, d.t, d.h])?;
    {
        let (xs, ks, rs) = (slice("x", &x)?, slice("kernel", &kernel)?, slice("recurrent_kernel", &recurrent_kernel)?);
        let bs = bias_slice(&bias)?;
        let mut hw = rw(&hs);
        let h = hw.as_slice_mut().expect("fresh array");
        py.detach(|| simple::simple_rnn_forward(&d, act, xs, ks, rs, bs, h))?;
    }
    // act' is read from hs itself: the cache is empty.
    Ok((hs, PyTuple::empty(py)))
}

#[pyfunction]
#[pyo3(signature = (x, kernel, recurrent_kernel, hs, cache, dhs, activation="tanh", need_dx=true))]
#[allow(clippy::too_many_arguments)]
fn simple_rnn_backward<'py>(
    py: Python<'py>,
    x: In<'py>,
    kernel: In<'py>,
    recurrent_kernel: In<'py>,
    hs: In<'py>,
    cache: &Bound<'py, PyAny>,
    dhs: In<'py>,
    activation: &str,
    need_dx: bool,
) -> PyResult<Grads<'py>> {
    let act = parse_rnn_activation(activation)?;
    let d = simple_dims(&x, &kernel, &recurrent_kernel, &None)?;
    d.check_seq("simple_rnn", "hs", hs.shape(), d.h)?;
    d.check_seq("simple_rnn", "dhs", dhs.shape(), d.h)?;
    cache_arrays("simple_rnn_backward", "simple_rnn", cache, &[], &d)?;
    let out = grad_arrays(py, &d, 1, &[d.h], need_dx);
    {
        let (xs, ks, rs) = (slice("x", &x)?, slice("kernel", &kernel)?, slice("recurrent_kernel", &recurrent_kernel)?);
        let (hss, dhss) = (slice("hs", &hs)?, slice("dhs", &dhs)?);
        let mut dxw = out.0.as_ref().map(rw);
        let (mut kw, mut rw_, mut bw) = (rw(&out.1), rw(&out.2), rw(&out.3));
        let dx = dxw.as_mut().map(|w| w.as_slice_mut().expect("fresh array"));
        let (dk, dr, db) = (
            kw.as_slice_mut().expect("fresh array"),
            rw_.as_slice_mut().expect("fresh array"),
            bw.as_slice_mut().expect("fresh array"),
        );
        py.detach(|| simple::simple_rnn_backward(&d, act, xs, ks, rs, hss, dhss, dx, dk, dr, db))?;
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lstm_forward, m)?)?;
    m.add_function(wrap_pyfunction!(lstm_backward, m)?)?;
    m.add_function(wrap_pyfunction!(gru_forward, m)?)?;
    m.add_function(wrap_pyfunction!(gru_backward, m)?)?;
    m.add_function(wrap_pyfunction!(simple_rnn_forward, m)?)?;
    m.add_function(wrap_pyfunction!(simple_rnn_backward, m)?)?;
    Ok(())
}
