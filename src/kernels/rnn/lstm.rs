//! LSTM, Keras layout: kernel[D,4H], recurrent_kernel[H,4H], bias[4H], gates i, f, c, o.
//!   i = rec(z_i), f = rec(z_f), g = act(z_c), o = rec(z_o)   with z = x_t W + h_{t-1} U + b
//!   c_t = f * c_{t-1} + i * g,   h_t = o * act(c_t)
//! The forward keeps (gates [N,T,4H] = activated i,f,g,o; cells [N,T,H]; act(c) [N,T,H]) for the
//! backward; nothing is recomputed there.

use super::common::{
    act_inplace, batch_block, col_sum_add, ensure, for_each_block, mul_grad, run_sized, shift_in_time, RnnDims, Scratch,
};
use super::pgemm::{gemm_pb, simd_available, weight_grad, PackedB};
use crate::error::KResult;
use crate::kernels::activations::Act;
use crate::kernels::gemm::sgemm;

/// What the forward keeps for the backward (all batch-first, row (n, t) at index n*T + t).
pub struct LstmCache<'a> {
    /// [N,T,4H] activated gates i, f, g, o
    pub gates: &'a [f32],
    /// [N,T,H] cell states c_t
    pub cells: &'a [f32],
    /// [N,T,H] act(c_t)
    pub act_cells: &'a [f32],
}

/// x[N,T,D], kernel[D,4H], recurrent[H,4H], bias[4H]? -> hs[N,T,H], gates[N,T,4H], cells[N,T,H],
/// act_cells[N,T,H] (all outputs fully overwritten).
#[allow(clippy::too_many_arguments)]
pub fn lstm_forward(
    d: &RnnDims,
    act: Act,
    rec: Act,
    x: &[f32],
    kernel: &[f32],
    recurrent: &[f32],
    bias: Option<&[f32]>,
    hs: &mut [f32],
    gates: &mut [f32],
    cells: &mut [f32],
    act_cells: &mut [f32],
) -> KResult<()> {
    let RnnDims { n, t, d: din, h } = *d;
    let g4 = 4 * h;
    ensure("lstm x", x.len(), n * t * din)?;
    ensure("lstm kernel", kernel.len(), din * g4)?;
    ensure("lstm recurrent_kernel", recurrent.len(), h * g4)?;
    if let Some(b) = bias {
        ensure("lstm bias", b.len(), g4)?;
    }
    ensure("lstm hs", hs.len(), n * t * h)?;
    ensure("lstm gates", gates.len(), n * t * g4)?;
    ensure("lstm cells", cells.len(), n * t * h)?;
    ensure("lstm act_cells", act_cells.len(), n * t * h)?;
    if n * t * h == 0 {
        return Ok(());
    }
    run_sized(n * h * g4, |threads| {
        // All timesteps' input projections in one sgemm, on top of the bias.
        for row in gates.chunks_exact_mut(g4) {
            match bias {
                Some(b) => row.copy_from_slice(b),
                None => row.fill(0.0),
            }
        }
        sgemm(x, kernel, gates, n * t, din, g4, false, false, true, threads);
        // U packed once for all steps; the batch rows are independent through time, so each
        // thread runs the whole time loop on its own contiguous block of the batch.
        let pu = PackedB::new(recurrent, h, g4, false);
        let f = FwdCtx { t, h, act, rec, pu: &pu };
        let rows = batch_block(n, threads);
        let parts = gates
            .chunks_mut(rows * t * g4)
            .zip(hs.chunks_mut(rows * t * h))
            .zip(cells.chunks_mut(rows * t * h))
            .zip(act_cells.chunks_mut(rows * t * h));
        for_each_block(parts, threads, |(((g, hs), c), ac)| f.run(g, hs, c, ac));
    });
    Ok(())
}

/// Backward through time. dhs[N,T,H] -> dx[N,T,D] (when asked), dkernel[D,4H], drecurrent[H,4H],
/// dbias[4H] (all outputs fully overwritten).
#[allow(clippy::too_many_arguments)]
pub fn lstm_backward(
    d: &RnnDims,
    act: Act,
    rec: Act,
    x: &[f32],
    kernel: &[f32],
    recurrent: &[f32],
    hs: &[f32],
    cache: &LstmCache<'_>,
    dhs: &[f32],
    dx: Option<&mut [f32]>,
    dkernel: &mut [f32],
    drecurrent: &mut [f32],
    dbias: &mut [f32],
) -> KResult<()> {
    let RnnDims { n, t, d: din, h } = *d;
    let g4 = 4 * h;
    ensure("lstm x", x.len(), n * t * din)?;
    ensure("lstm kernel", kernel.len(), din * g4)?;
    ensure("lstm recurrent_kernel", recurrent.len(), h * g4)?;
    ensure("lstm hs", hs.len(), n * t * h)?;
    ensure("lstm cache gates", cache.gates.len(), n * t * g4)?;
    ensure("lstm cache cells", cache.cells.len(), n * t * h)?;
    ensure("lstm cache act_cells", cache.act_cells.len(), n * t * h)?;
    ensure("lstm dhs", dhs.len(), n * t * h)?;
    ensure("lstm dkernel", dkernel.len(), din * g4)?;
    ensure("lstm drecurrent_kernel", drecurrent.len(), h * g4)?;
    ensure("lstm dbias", dbias.len(), g4)?;
    if let Some(dx) = dx.as_deref() {
        ensure("lstm dx", dx.len(), n * t * din)?;
    }
    let LstmCache { gates, cells, act_cells } = *cache;
    run_sized(n * h * g4, |threads| {
        // dG[n, t] = gradient w.r.t. the gate pre-activations z (i, f, c, o) at step t.
        let mut dg = Scratch::take(n * t * g4); // fully overwritten below
        let put = PackedB::new(recurrent, g4, h, true); // U^T, for dh_{t-1} = dG_t @ U^T
        let f = BwdCtx { t, h, act, rec, put: &put };
        let rows = batch_block(n, threads);
        let parts = dg
            .chunks_mut(rows * t * g4)
            .zip(gates.chunks(rows * t * g4))
            .zip(cells.chunks(rows * t * h))
            .zip(act_cells.chunks(rows * t * h).zip(dhs.chunks(rows * t * h)));
        if n * t * h > 0 {
            for_each_block(parts, threads, |(((dg, g), c), (ac, dh))| f.run(dg, g, c, ac, dh));
        }
        // Weight gradients: one big sgemm each over all N*T rows.
        weight_grad(x, &dg, n * t, din, g4, dkernel, threads);
        let mut h_prev = Scratch::take(0);
        shift_in_time(hs, d, h_prev.vec());
        weight_grad(&h_prev, &dg, n * t, h, g4, drecurrent, threads);
        dbias.fill(0.0);
        col_sum_add(&dg, g4, dbias);
        if let Some(dx) = dx {
            sgemm(&dg, kernel, dx, n * t, g4, din, false, true, false, threads);
        }
    });
    Ok(())
}

/// The forward time loop over one block of the batch (row b of the block at b*T + step).
struct FwdCtx<'a> {
    t: usize,
    h: usize,
    act: Act,
    rec: Act,
    pu: &'a PackedB,
}

impl FwdCtx<'_> {
    fn run(&self, gates: &mut [f32], hs: &mut [f32], cells: &mut [f32], act_cells: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if simd_available() {
            // SAFETY: AVX2 and FMA were detected at run time.
            unsafe { self.run_avx2(gates, hs, cells, act_cells) };
            return;
        }
        self.body(gates, hs, cells, act_cells);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, gates: &mut [f32], hs: &mut [f32], cells: &mut [f32], act_cells: &mut [f32]) {
        self.body(gates, hs, cells, act_cells);
    }

    #[inline(always)]
    fn body(&self, gates: &mut [f32], hs: &mut [f32], cells: &mut [f32], act_cells: &mut [f32]) {
        let FwdCtx { t, h, act, rec, pu } = *self;
        let g4 = 4 * h;
        let n = hs.len() / (t * h);
        for step in 0..t {
            if step > 0 {
                // gates[:, step] += hs[:, step-1] @ U (both strided views of batch-first buffers)
                gemm_pb(&hs[(step - 1) * h..], t * h, pu, &mut gates[step * g4..], t * g4, n, true);
            }
            for b in 0..n {
                let r = b * t + step;
                let z = &mut gates[r * g4..(r + 1) * g4];
                act_inplace(rec, &mut z[..2 * h]); // i, f
                act_inplace(act, &mut z[2 * h..3 * h]); // g
                act_inplace(rec, &mut z[3 * h..]); // o
                let (i, rest) = z.split_at(h);
                let (f, rest) = rest.split_at(h);
                let (g, o) = rest.split_at(h);
                let (before, cur) = cells.split_at_mut(r * h);
                let c = &mut cur[..h];
                if step > 0 {
                    let c_prev = &before[(r - 1) * h..];
                    for j in 0..h {
                        c[j] = f[j] * c_prev[j] + i[j] * g[j];
                    }
                } else {
                    for j in 0..h {
                        c[j] = i[j] * g[j];
                    }
                }
                let ac = &mut act_cells[r * h..(r + 1) * h];
                ac.copy_from_slice(c);
                act_inplace(act, ac);
                let hrow = &mut hs[r * h..(r + 1) * h];
                for j in 0..h {
                    hrow[j] = o[j] * ac[j];
                }
            }
        }
    }
}

/// The backward time loop over one block of the batch: fills that block's rows of dG.
struct BwdCtx<'a> {
    t: usize,
    h: usize,
    act: Act,
    rec: Act,
    put: &'a PackedB,
}

impl BwdCtx<'_> {
    fn run(&self, dg: &mut [f32], gates: &[f32], cells: &[f32], act_cells: &[f32], dhs: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if simd_available() {
            // SAFETY: AVX2 and FMA were detected at run time.
            unsafe { self.run_avx2(dg, gates, cells, act_cells, dhs) };
            return;
        }
        self.body(dg, gates, cells, act_cells, dhs);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, dg: &mut [f32], gates: &[f32], cells: &[f32], act_cells: &[f32], dhs: &[f32]) {
        self.body(dg, gates, cells, act_cells, dhs);
    }

    #[inline(always)]
    fn body(&self, dg: &mut [f32], gates: &[f32], cells: &[f32], act_cells: &[f32], dhs: &[f32]) {
        let BwdCtx { t, h, act, rec, put } = *self;
        let g4 = 4 * h;
        let n = dhs.len() / (t * h);
        let mut dh_rec = vec![0.0f32; n * h]; // dL/dh_t arriving through step t+1's recurrent sgemm
        let mut dc_next = vec![0.0f32; n * h]; // dL/dc_t arriving from step t+1
        let mut dh = vec![0.0f32; h];
        let mut dc = vec![0.0f32; h];
        for step in (0..t).rev() {
            for b in 0..n {
                let r = b * t + step;
                let z = &gates[r * g4..(r + 1) * g4];
                let (i, rest) = z.split_at(h);
                let (f, rest) = rest.split_at(h);
                let (g, o) = rest.split_at(h);
                let ac = &act_cells[r * h..(r + 1) * h];
                let dhs_r = &dhs[r * h..(r + 1) * h];
                let dh_in = &dh_rec[b * h..(b + 1) * h];
                for j in 0..h {
                    dh[j] = dhs_r[j] + dh_in[j];
                }
                let dgr = &mut dg[r * g4..(r + 1) * g4];
                let (dzi, rest) = dgr.split_at_mut(h);
                let (dzf, rest) = rest.split_at_mut(h);
                let (dzg, dzo) = rest.split_at_mut(h);
                if act == Act::Tanh && rec == Act::Sigmoid {
                    // The Keras defaults in one pass over the units (same arithmetic as below).
                    let dcn = &mut dc_next[b * h..(b + 1) * h];
                    let c_prev = if step > 0 { &cells[(r - 1) * h..r * h] } else { &cells[..0] };
                    for j in 0..h {
                        let dhj = dh[j];
                        let (ij, fj, gj, oj, acj) = (i[j], f[j], g[j], o[j], ac[j]);
                        dzo[j] = dhj * acj * (oj * (1.0 - oj));
                        let dcj = dhj * oj * (1.0 - acj * acj) + dcn[j];
                        dzi[j] = dcj * gj * (ij * (1.0 - ij));
                        dzg[j] = dcj * ij * (1.0 - gj * gj);
                        dcn[j] = dcj * fj;
                        dzf[j] = if step > 0 { dcj * c_prev[j] * (fj * (1.0 - fj)) } else { 0.0 };
                    }
                    continue;
                }
                // h = o * act(c)
                for j in 0..h {
                    dzo[j] = dh[j] * ac[j];
                    dc[j] = dh[j] * o[j];
                }
                mul_grad(rec, o, dzo);
                mul_grad(act, ac, &mut dc);
                let dcn = &mut dc_next[b * h..(b + 1) * h];
                for j in 0..h {
                    dc[j] += dcn[j];
                }
                // c = f * c_prev + i * g
                for j in 0..h {
                    dzi[j] = dc[j] * g[j];
                    dzg[j] = dc[j] * i[j];
                    dcn[j] = dc[j] * f[j];
                }
                if step > 0 {
                    let c_prev = &cells[(r - 1) * h..r * h];
                    for j in 0..h {
                        dzf[j] = dc[j] * c_prev[j];
                    }
                } else {
                    dzf.fill(0.0);
                }
                mul_grad(rec, i, dzi);
                mul_grad(rec, f, dzf);
                mul_grad(act, g, dzg);
            }
            if step > 0 {
                // dh_{t-1} (recurrent part) = dG[:, t] @ U^T
                gemm_pb(&dg[step * g4..], t * g4, put, &mut dh_rec, h, n, false);
            }
        }
    }
}
