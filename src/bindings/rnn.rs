//! lstm_*, gru_*, simple_rnn_* (forward -> (hs, cache); backward(…, hs, cache, dhs) -> grads).
//! x[N,T,D] batch-first, Keras weight layouts; the cache is a tuple of float32 arrays the forward
//! made and the backward checks (shape by shape) before trusting. To the bindings the three cells
//! differ only in their `Cell` row (gate count, bias shape, cache arrays) and the kernel they call.

use super::util::{slice, try_empty, zeros};
use crate::error::{KResult, KernelError};
use crate::kernels::rnn::gru::{self, GruCache};
use crate::kernels::rnn::lstm::{self, LstmCache};
use crate::kernels::rnn::{parse_rnn_activation, simple, RnnDims};
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

type Arr<'py> = Bound<'py, PyArrayDyn<f32>>;
type In<'py> = PyReadonlyArrayDyn<'py, f32>;
/// dx[N,T,D] (when asked), dkernel[D,G*H], drecurrent_kernel[H,G*H], dbias.
type Grads<'py> = (Option<Arr<'py>>, Arr<'py>, Arr<'py>, Arr<'py>);

/// What the bindings need to know of a recurrent cell.
struct Cell {
    layer: &'static str,
    gates: usize,
    /// the bias shape for `units`
    bias: fn(usize) -> Vec<usize>,
    /// the arrays the forward keeps for the backward: (name, width in units), each [N,T,width*H]
    cache: &'static [(&'static str, usize)],
}

const LSTM: Cell =
    Cell { layer: "lstm", gates: 4, bias: |h| vec![4 * h], cache: &[("gates", 4), ("cells", 1), ("act_cells", 1)] };
const GRU: Cell = Cell { layer: "gru", gates: 3, bias: |h| vec![2, 3 * h], cache: &[("gates", 3), ("rec_h", 1)] };
// SimpleRNN's backward reads act' from hs itself: its cache is empty.
const SIMPLE_RNN: Cell = Cell { layer: "simple_rnn", gates: 1, bias: |h| vec![h], cache: &[] };

impl Cell {
    fn dims(&self, x: &In, kernel: &In, recurrent: &In, bias: Option<&In>) -> PyResult<RnnDims> {
        let (x, k, r) = (x.shape(), kernel.shape(), recurrent.shape());
        Ok(RnnDims::check(self.layer, self.gates, x, k, r, bias.map(|b| b.shape()), &self.bias)?)
    }

    /// hs[N,T,H] and the cache arrays, uninitialised: every forward kernel writes all of them.
    fn forward_outputs<'py>(&self, py: Python<'py>, d: &RnnDims) -> PyResult<(Arr<'py>, Vec<Arr<'py>>)> {
        let hs = try_empty(py, &[d.n, d.t, d.h])?;
        let cache = self.cache.iter().map(|&(_, w)| try_empty(py, &[d.n, d.t, w * d.h])).collect::<PyResult<_>>()?;
        Ok((hs, cache))
    }

    /// The backward's checked inputs (dims; hs, dhs and every cache array shaped as the forward
    /// made them) and its zeroed gradient arrays.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn backward_inputs<'py>(
        &self,
        py: Python<'py>,
        x: &In,
        kernel: &In,
        recurrent: &In,
        hs: &In,
        cache: &Bound<'py, PyAny>,
        dhs: &In,
        need_dx: bool,
    ) -> PyResult<(RnnDims, Vec<In<'py>>, Grads<'py>)> {
        let d = self.dims(x, kernel, recurrent, None)?;
        d.check_seq(self.layer, "hs", hs.shape(), d.h)?;
        d.check_seq(self.layer, "dhs", dhs.shape(), d.h)?;
        let cache = self.cache_arrays(cache, &d)?;
        let g = self.gates * d.h;
        let grads = (
            need_dx.then(|| zeros(py, &[d.n, d.t, d.d])),
            zeros(py, &[d.d, g]),
            zeros(py, &[d.h, g]),
            zeros(py, &(self.bias)(d.h)),
        );
        Ok((d, cache, grads))
    }

    /// The cache tuple the forward returned, as arrays, each checked to be [N,T,width*H].
    fn cache_arrays<'py>(&self, cache: &Bound<'py, PyAny>, d: &RnnDims) -> PyResult<Vec<In<'py>>> {
        let described = self
            .cache
            .iter()
            .map(|(name, w)| format!("{name}[{}, {}, {}]", d.n, d.t, w * d.h))
            .collect::<Vec<_>>()
            .join(", ");
        let bad = |got: String| -> PyErr {
            KernelError::Shape(format!(
                "{}_backward: cache must be the tuple ({described}) returned by the forward, got {got}",
                self.layer
            ))
            .into()
        };
        let type_name = || cache.get_type().name().map(|s| s.to_string()).unwrap_or_default();
        let tuple = cache.cast::<PyTuple>().map_err(|_| bad(format!("a {}", type_name())))?;
        if tuple.len() != self.cache.len() {
            return Err(bad(format!("a tuple of {} items", tuple.len())));
        }
        let mut out = Vec::with_capacity(self.cache.len());
        for (i, (name, width)) in self.cache.iter().enumerate() {
            let arr: In<'py> = tuple
                .get_item(i)?
                .extract()
                .map_err(|_| bad(format!("item {i} ({name}) that is not a float32 array")))?;
            d.check_seq(self.layer, &format!("cache {name}"), arr.shape(), width * d.h)?;
            out.push(arr);
        }
        Ok(out)
    }
}

/// x, kernel and recurrent_kernel as slices.
fn weights<'a>(x: &'a In, kernel: &'a In, recurrent: &'a In) -> PyResult<[&'a [f32]; 3]> {
    Ok([slice("x", x)?, slice("kernel", kernel)?, slice("recurrent_kernel", recurrent)?])
}

fn bias_slice<'a>(bias: &'a Option<In<'_>>) -> PyResult<Option<&'a [f32]>> {
    bias.as_ref().map(|b| slice("bias", b)).transpose()
}

/// Runs `kernel` without the GIL on the memory of `outs`, arrays this module just allocated.
fn write_detached<const K: usize>(
    py: Python<'_>,
    outs: [&Arr<'_>; K],
    kernel: impl FnOnce([&mut [f32]; K]) -> KResult<()> + Send,
) -> PyResult<()> {
    let mut writers = outs.map(|a| a.readwrite());
    let slices = writers.each_mut().map(|w| w.as_slice_mut().expect("fresh array"));
    py.detach(|| kernel(slices))?;
    Ok(())
}

/// `write_detached` on the gradient arrays: dx (when asked) and [dkernel, drecurrent, dbias].
fn write_grads(
    py: Python<'_>,
    grads: &Grads<'_>,
    kernel: impl FnOnce(Option<&mut [f32]>, [&mut [f32]; 3]) -> KResult<()> + Send,
) -> PyResult<()> {
    let mut dx_writer = grads.0.as_ref().map(|a| a.readwrite());
    let dx = dx_writer.as_mut().map(|w| w.as_slice_mut().expect("fresh array"));
    write_detached(py, [&grads.1, &grads.2, &grads.3], |dw| kernel(dx, dw))
}

// ---- LSTM ------------------------------------------------------------------------------------

#[pyfunction]
#[pyo3(signature = (x, kernel, recurrent_kernel, bias=None, activation="tanh", recurrent_activation="sigmoid"))]
fn lstm_forward<'py>(
    py: Python<'py>,
    x: In<'py>,
    kernel: In<'py>,
    recurrent_kernel: In<'py>,
    bias: Option<In<'py>>,
    activation: &str,
    recurrent_activation: &str,
) -> PyResult<(Arr<'py>, Bound<'py, PyTuple>)> {
    let (act, rec) = (parse_rnn_activation(activation)?, parse_rnn_activation(recurrent_activation)?);
    let d = LSTM.dims(&x, &kernel, &recurrent_kernel, bias.as_ref())?;
    let ([xs, ks, rs], bs) = (weights(&x, &kernel, &recurrent_kernel)?, bias_slice(&bias)?);
    let (hs, cache) = LSTM.forward_outputs(py, &d)?;
    write_detached(py, [&hs, &cache[0], &cache[1], &cache[2]], |[h, g, c, a]| {
        lstm::lstm_forward(&d, act, rec, xs, ks, rs, bs, h, g, c, a)
    })?;
    Ok((hs, PyTuple::new(py, cache)?))
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
    let (act, rec) = (parse_rnn_activation(activation)?, parse_rnn_activation(recurrent_activation)?);
    let (d, c, grads) = LSTM.backward_inputs(py, &x, &kernel, &recurrent_kernel, &hs, cache, &dhs, need_dx)?;
    let [xs, ks, rs] = weights(&x, &kernel, &recurrent_kernel)?;
    let (hss, dhss) = (slice("hs", &hs)?, slice("dhs", &dhs)?);
    let cache = LstmCache {
        gates: slice("cache gates", &c[0])?,
        cells: slice("cache cells", &c[1])?,
        act_cells: slice("cache act_cells", &c[2])?,
    };
    write_grads(py, &grads, |dx, [dk, dr, db]| {
        lstm::lstm_backward(&d, act, rec, xs, ks, rs, hss, &cache, dhss, dx, dk, dr, db)
    })?;
    Ok(grads)
}

// ---- GRU -------------------------------------------------------------------------------------

#[pyfunction]
#[pyo3(signature = (x, kernel, recurrent_kernel, bias=None, activation="tanh", recurrent_activation="sigmoid"))]
fn gru_forward<'py>(
    py: Python<'py>,
    x: In<'py>,
    kernel: In<'py>,
    recurrent_kernel: In<'py>,
    bias: Option<In<'py>>,
    activation: &str,
    recurrent_activation: &str,
) -> PyResult<(Arr<'py>, Bound<'py, PyTuple>)> {
    let (act, rec) = (parse_rnn_activation(activation)?, parse_rnn_activation(recurrent_activation)?);
    let d = GRU.dims(&x, &kernel, &recurrent_kernel, bias.as_ref())?;
    let ([xs, ks, rs], bs) = (weights(&x, &kernel, &recurrent_kernel)?, bias_slice(&bias)?);
    let (hs, cache) = GRU.forward_outputs(py, &d)?;
    write_detached(py, [&hs, &cache[0], &cache[1]], |[h, g, r]| {
        gru::gru_forward(&d, act, rec, xs, ks, rs, bs, h, g, r)
    })?;
    Ok((hs, PyTuple::new(py, cache)?))
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
    let (act, rec) = (parse_rnn_activation(activation)?, parse_rnn_activation(recurrent_activation)?);
    let (d, c, grads) = GRU.backward_inputs(py, &x, &kernel, &recurrent_kernel, &hs, cache, &dhs, need_dx)?;
    let [xs, ks, rs] = weights(&x, &kernel, &recurrent_kernel)?;
    let (hss, dhss) = (slice("hs", &hs)?, slice("dhs", &dhs)?);
    let cache = GruCache { gates: slice("cache gates", &c[0])?, rec_h: slice("cache rec_h", &c[1])? };
    write_grads(py, &grads, |dx, [dk, dr, db]| {
        gru::gru_backward(&d, act, rec, xs, ks, rs, hss, &cache, dhss, dx, dk, dr, db)
    })?;
    Ok(grads)
}

// ---- SimpleRNN -------------------------------------------------------------------------------

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
    let d = SIMPLE_RNN.dims(&x, &kernel, &recurrent_kernel, bias.as_ref())?;
    let ([xs, ks, rs], bs) = (weights(&x, &kernel, &recurrent_kernel)?, bias_slice(&bias)?);
    let (hs, cache) = SIMPLE_RNN.forward_outputs(py, &d)?;
    write_detached(py, [&hs], |[h]| simple::simple_rnn_forward(&d, act, xs, ks, rs, bs, h))?;
    Ok((hs, PyTuple::new(py, cache)?))
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
    let (d, _, grads) = SIMPLE_RNN.backward_inputs(py, &x, &kernel, &recurrent_kernel, &hs, cache, &dhs, need_dx)?;
    let [xs, ks, rs] = weights(&x, &kernel, &recurrent_kernel)?;
    let (hss, dhss) = (slice("hs", &hs)?, slice("dhs", &dhs)?);
    write_grads(py, &grads, |dx, [dk, dr, db]| {
        simple::simple_rnn_backward(&d, act, xs, ks, rs, hss, dhss, dx, dk, dr, db)
    })?;
    Ok(grads)
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
