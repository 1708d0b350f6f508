//! SimpleRNN: h_t = act(x_t W + h_{t-1} U + b); kernel[D,H], recurrent_kernel[H,H], bias[H].
//! The derivative of act is taken from h_t itself, so the forward needs no cache beyond hs.

use super::common::{act_inplace, col_sum_add, ensure, gemm_rows, mul_grad, run_sized, shift_in_time, RnnDims};
use crate::error::KResult;
use crate::kernels::activations::Act;
use crate::kernels::gemm::sgemm;

/// x[N,T,D], kernel[D,H], recurrent[H,H], bias[H]? -> hs[N,T,H] (fully overwritten).
#[allow(clippy::too_many_arguments)]
pub fn simple_rnn_forward(
    d: &RnnDims,
    act: Act,
    x: &[f32],
    kernel: &[f32],
    recurrent: &[f32],
    bias: Option<&[f32]>,
    hs: &mut [f32],
) -> KResult<()> {
    let RnnDims { n, t, d: din, h } = *d;
    ensure("simple_rnn x", x.len(), n * t * din)?;
    ensure("simple_rnn kernel", kernel.len(), din * h)?;
    ensure("simple_rnn recurrent_kernel", recurrent.len(), h * h)?;
    if let Some(b) = bias {
        ensure("simple_rnn bias", b.len(), h)?;
    }
    ensure("simple_rnn hs", hs.len(), n * t * h)?;
    if n * t * h == 0 {
        return Ok(());
    }
    run_sized(n * h * h, |threads| {
        // hs starts as the input projection x W + b of every step; the loop adds h_{t-1} U.
        for row in hs.chunks_exact_mut(h) {
            match bias {
                Some(b) => row.copy_from_slice(b),
                None => row.fill(0.0),
            }
        }
        sgemm(x, kernel, hs, n * t, din, h, false, false, true, threads);
        let mut rp = vec![0.0f32; n * h]; // h_{t-1} U for the current step
        for step in 0..t {
            if step > 0 {
                gemm_rows(&hs[(step - 1) * h..], t * h, recurrent, false, &mut rp, h, n, h, h, false, threads);
            }
            for b in 0..n {
                let r = b * t + step;
                let hrow = &mut hs[r * h..(r + 1) * h];
                if step > 0 {
                    for (hv, pv) in hrow.iter_mut().zip(&rp[b * h..(b + 1) * h]) {
                        *hv += pv;
                    }
                }
                act_inplace(act, hrow);
            }
        }
    });
    Ok(())
}

/// Backward through time. dhs[N,T,H] -> dx[N,T,D] (when asked), dkernel[D,H], drecurrent[H,H],
/// dbias[H] (all outputs fully overwritten).
#[allow(clippy::too_many_arguments)]
pub fn simple_rnn_backward(
    d: &RnnDims,
    act: Act,
    x: &[f32],
    kernel: &[f32],
    recurrent: &[f32],
    hs: &[f32],
    dhs: &[f32],
    dx: Option<&mut [f32]>,
    dkernel: &mut [f32],
    drecurrent: &mut [f32],
    dbias: &mut [f32],
) -> KResult<()> {
    let RnnDims { n, t, d: din, h } = *d;
    ensure("simple_rnn x", x.len(), n * t * din)?;
    ensure("simple_rnn kernel", kernel.len(), din * h)?;
    ensure("simple_rnn recurrent_kernel", recurrent.len(), h * h)?;
    ensure("simple_rnn hs", hs.len(), n * t * h)?;
    ensure("simple_rnn dhs", dhs.len(), n * t * h)?;
    ensure("simple_rnn dkernel", dkernel.len(), din * h)?;
    ensure("simple_rnn drecurrent_kernel", drecurrent.len(), h * h)?;
    ensure("simple_rnn dbias", dbias.len(), h)?;
    if let Some(dx) = dx.as_deref() {
        ensure("simple_rnn dx", dx.len(), n * t * din)?;
    }
    run_sized(n * h * h, |threads| {
        // dG[n, t] = gradient w.r.t. the pre-activation at step t.
        let mut dg = vec![0.0f32; n * t * h];
        let mut dh_rec = vec![0.0f32; n * h];
        for step in (0..t).rev() {
            for b in 0..n {
                let r = b * t + step;
                let dgr = &mut dg[r * h..(r + 1) * h];
                for ((g, a), c) in dgr.iter_mut().zip(&dhs[r * h..(r + 1) * h]).zip(&dh_rec[b * h..(b + 1) * h]) {
                    *g = a + c;
                }
                mul_grad(act, &hs[r * h..(r + 1) * h], dgr);
            }
            if step > 0 {
                gemm_rows(&dg[step * h..], t * h, recurrent, true, &mut dh_rec, h, n, h, h, false, threads);
            }
        }
        sgemm(x, &dg, dkernel, din, n * t, h, true, false, false, threads);
        let mut h_prev = Vec::new();
        shift_in_time(hs, d, &mut h_prev);
        sgemm(&h_prev, &dg, drecurrent, h, n * t, h, true, false, false, threads);
        dbias.fill(0.0);
        col_sum_add(&dg, h, dbias);
        if let Some(dx) = dx {
            sgemm(&dg, kernel, dx, n * t, h, din, false, true, false, threads);
        }
    });
    Ok(())
}
