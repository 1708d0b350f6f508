//! GRU, Keras default reset_after=True: kernel[D,3H], recurrent_kernel[H,3H], bias[2,3H] (row 0
//! input bias, row 1 recurrent bias), gates z, r, h:
//!   [x_z, x_r, x_h] = x_t W + b_in,   [r_z, r_r, r_h] = h_{t-1} U + b_rec
//!   z = rec(x_z + r_z),  r = rec(x_r + r_r),  hh = act(x_h + r * r_h)
//!   h_t = z * h_{t-1} + (1 - z) * hh
//! The forward keeps (gates [N,T,3H] = z, r, hh; rec_h [N,T,H] = r_h) for the backward.

use super::common::{
    act_inplace, batch_block, col_sum_add, ensure, for_each_block, mul_grad, run_sized, shift_in_time, RnnDims, Scratch,
};
use super::pgemm::{gemm_pb, simd_available, weight_grad, PackedB};
use crate::error::KResult;
use crate::kernels::activations::Act;
use crate::kernels::gemm::sgemm;

/// What the forward keeps for the backward (batch-first, row (n, t) at index n*T + t).
pub struct GruCache<'a> {
    /// [N,T,3H] z, r, hh (activated)
    pub gates: &'a [f32],
    /// [N,T,H] r_h = (h_{t-1} U + b_rec) for the candidate gate, before the reset gate scales it
    pub rec_h: &'a [f32],
}

/// x[N,T,D], kernel[D,3H], recurrent[H,3H], bias[2,3H]? -> hs[N,T,H], gates[N,T,3H], rec_h[N,T,H]
/// (all outputs fully overwritten).
#[allow(clippy::too_many_arguments)]
pub fn gru_forward(
    d: &RnnDims,
    act: Act,
    rec: Act,
    x: &[f32],
    kernel: &[f32],
    recurrent: &[f32],
    bias: Option<&[f32]>,
    hs: &mut [f32],
    gates: &mut [f32],
    rec_h: &mut [f32],
) -> KResult<()> {
    let RnnDims { n, t, d: din, h } = *d;
    let g3 = 3 * h;
    ensure("gru x", x.len(), n * t * din)?;
    ensure("gru kernel", kernel.len(), din * g3)?;
    ensure("gru recurrent_kernel", recurrent.len(), h * g3)?;
    if let Some(b) = bias {
        ensure("gru bias", b.len(), 2 * g3)?;
    }
    ensure("gru hs", hs.len(), n * t * h)?;
    ensure("gru gates", gates.len(), n * t * g3)?;
    ensure("gru rec_h", rec_h.len(), n * t * h)?;
    if n * t * h == 0 {
        return Ok(());
    }
    let (b_in, b_rec) = match bias {
        Some(b) => (Some(&b[..g3]), Some(&b[g3..])),
        None => (None, None),
    };
    run_sized(n * h * g3, |threads| {
        for row in gates.chunks_exact_mut(g3) {
            match b_in {
                Some(b) => row.copy_from_slice(b),
                None => row.fill(0.0),
            }
        }
        sgemm(x, kernel, gates, n * t, din, g3, false, false, true, threads);

        // U packed once for all steps; each thread runs the time loop on its own batch block.
        let pu = PackedB::new(recurrent, h, g3, false);
        let f = FwdCtx { t, h, act, rec, b_rec, pu: &pu };
        let rows = batch_block(n, threads);
        let parts = gates.chunks_mut(rows * t * g3).zip(hs.chunks_mut(rows * t * h)).zip(rec_h.chunks_mut(rows * t * h));
        for_each_block(parts, threads, |((g, hs), rh)| f.run(g, hs, rh));
    });
    Ok(())
}

/// Backward through time. dhs[N,T,H] -> dx[N,T,D] (when asked), dkernel[D,3H],
/// drecurrent[H,3H], dbias[2,3H] (all outputs fully overwritten).
#[allow(clippy::too_many_arguments)]
pub fn gru_backward(
    d: &RnnDims,
    act: Act,
    rec: Act,
    x: &[f32],
    kernel: &[f32],
    recurrent: &[f32],
    hs: &[f32],
    cache: &GruCache<'_>,
    dhs: &[f32],
    dx: Option<&mut [f32]>,
    dkernel: &mut [f32],
    drecurrent: &mut [f32],
    dbias: &mut [f32],
) -> KResult<()> {
    let RnnDims { n, t, d: din, h } = *d;
    let g3 = 3 * h;
    ensure("gru x", x.len(), n * t * din)?;
    ensure("gru kernel", kernel.len(), din * g3)?;
    ensure("gru recurrent_kernel", recurrent.len(), h * g3)?;
    ensure("gru hs", hs.len(), n * t * h)?;
    ensure("gru cache gates", cache.gates.len(), n * t * g3)?;
    ensure("gru cache rec_h", cache.rec_h.len(), n * t * h)?;
    ensure("gru dhs", dhs.len(), n * t * h)?;
    ensure("gru dkernel", dkernel.len(), din * g3)?;
    ensure("gru drecurrent_kernel", drecurrent.len(), h * g3)?;
    ensure("gru dbias", dbias.len(), 2 * g3)?;
    if let Some(dx) = dx.as_deref() {
        ensure("gru dx", dx.len(), n * t * din)?;
    }
    let GruCache { gates, rec_h } = *cache;
    run_sized(n * h * g3, |threads| {
        // Gradients w.r.t. the input projection (x W + b_in) and the recurrent one (h U + b_rec):
        // equal for z and r; for the candidate the recurrent side is scaled by the reset gate.
        let mut dgx = Scratch::take(n * t * g3); // fully overwritten below
        let mut dgr = Scratch::take(n * t * g3); // fully overwritten below
        let put = PackedB::new(recurrent, g3, h, true); // U^T, for dh_{t-1} += dGr_t @ U^T
        let f = BwdCtx { t, h, act, rec, put: &put };
        let rows = batch_block(n, threads);
        let parts = dgx
            .chunks_mut(rows * t * g3)
            .zip(dgr.chunks_mut(rows * t * g3))
            .zip(gates.chunks(rows * t * g3).zip(rec_h.chunks(rows * t * h)))
            .zip(hs.chunks(rows * t * h).zip(dhs.chunks(rows * t * h)));
        if n * t * h > 0 {
            for_each_block(parts, threads, |(((dgx, dgr), (g, rh)), (hs, dh))| f.run(dgx, dgr, g, rh, hs, dh));
        }
        weight_grad(x, &dgx, n * t, din, g3, dkernel, threads);
        let mut h_prev = Scratch::take(0);
        shift_in_time(hs, d, h_prev.vec());
        weight_grad(&h_prev, &dgr, n * t, h, g3, drecurrent, threads);
        dbias.fill(0.0);
        let (db_in, db_rec) = dbias.split_at_mut(g3);
        col_sum_add(&dgx, g3, db_in);
        col_sum_add(&dgr, g3, db_rec);
        if let Some(dx) = dx {
            sgemm(&dgx, kernel, dx, n * t, g3, din, false, true, false, threads);
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
    b_rec: Option<&'a [f32]>,
    pu: &'a PackedB,
}

impl FwdCtx<'_> {
    fn run(&self, gates: &mut [f32], hs: &mut [f32], rec_h: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if simd_available() {
            // SAFETY: AVX2 and FMA were detected at run time.
            unsafe { self.run_avx2(gates, hs, rec_h) };
            return;
        }
        self.body(gates, hs, rec_h);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, gates: &mut [f32], hs: &mut [f32], rec_h: &mut [f32]) {
        self.body(gates, hs, rec_h);
    }

    #[inline(always)]
    fn body(&self, gates: &mut [f32], hs: &mut [f32], rec_h: &mut [f32]) {
        let FwdCtx { t, h, act, rec, b_rec, pu } = *self;
        let g3 = 3 * h;
        let n = hs.len() / (t * h);
        // rp[N,3H] = h_{t-1} U + b_rec for the current step (contiguous scratch).
        let mut rp = vec![0.0f32; n * g3];
        for step in 0..t {
            for row in rp.chunks_exact_mut(g3) {
                match b_rec {
                    Some(b) => row.copy_from_slice(b),
                    None => row.fill(0.0),
                }
            }
            if step > 0 {
                gemm_pb(&hs[(step - 1) * h..], t * h, pu, &mut rp, g3, n, true);
            }
            for b in 0..n {
                let r = b * t + step;
                let rprow = &rp[b * g3..(b + 1) * g3];
                let z = &mut gates[r * g3..(r + 1) * g3];
                for (zv, rv) in z[..2 * h].iter_mut().zip(&rprow[..2 * h]) {
                    *zv += rv;
                }
                act_inplace(rec, &mut z[..2 * h]); // z, r
                let rh = &mut rec_h[r * h..(r + 1) * h];
                rh.copy_from_slice(&rprow[2 * h..]);
                let (zr, hh) = z.split_at_mut(2 * h);
                let (zg, rg) = zr.split_at(h);
                for j in 0..h {
                    hh[j] += rg[j] * rh[j];
                }
                act_inplace(act, hh);
                let (before, cur) = hs.split_at_mut(r * h);
                let hrow = &mut cur[..h];
                if step > 0 {
                    let hp = &before[(r - 1) * h..];
                    for j in 0..h {
                        hrow[j] = zg[j] * hp[j] + (1.0 - zg[j]) * hh[j];
                    }
                } else {
                    for j in 0..h {
                        hrow[j] = (1.0 - zg[j]) * hh[j];
                    }
                }
            }
        }
    }
}

/// The backward time loop over one block of the batch: fills that block's rows of dGx and dGr.
struct BwdCtx<'a> {
    t: usize,
    h: usize,
    act: Act,
    rec: Act,
    put: &'a PackedB,
}

impl BwdCtx<'_> {
    fn run(&self, dgx: &mut [f32], dgr: &mut [f32], gates: &[f32], rec_h: &[f32], hs: &[f32], dhs: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if simd_available() {
            // SAFETY: AVX2 and FMA were detected at run time.
            unsafe { self.run_avx2(dgx, dgr, gates, rec_h, hs, dhs) };
            return;
        }
        self.body(dgx, dgr, gates, rec_h, hs, dhs);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, dgx: &mut [f32], dgr: &mut [f32], gates: &[f32], rec_h: &[f32], hs: &[f32], dhs: &[f32]) {
        self.body(dgx, dgr, gates, rec_h, hs, dhs);
    }

    #[inline(always)]
    fn body(&self, dgx: &mut [f32], dgr: &mut [f32], gates: &[f32], rec_h: &[f32], hs: &[f32], dhs: &[f32]) {
        let BwdCtx { t, h, act, rec, put } = *self;
        let g3 = 3 * h;
        let n = dhs.len() / (t * h);
        let mut dh_rec = vec![0.0f32; n * h]; // dL/dh_t arriving from step t+1
        let mut dh = vec![0.0f32; h];
        for step in (0..t).rev() {
            for b in 0..n {
                let r = b * t + step;
                let gr = &gates[r * g3..(r + 1) * g3];
                let (zg, rest) = gr.split_at(h);
                let (rg, hh) = rest.split_at(h);
                let rh = &rec_h[r * h..(r + 1) * h];
                let dhs_r = &dhs[r * h..(r + 1) * h];
                let carry = &mut dh_rec[b * h..(b + 1) * h];
                for j in 0..h {
                    dh[j] = dhs_r[j] + carry[j];
                    carry[j] = dh[j] * zg[j]; // the direct path h_t = z * h_{t-1} + ...
                }
                let dxr = &mut dgx[r * g3..(r + 1) * g3];
                let (dzz, rest) = dxr.split_at_mut(h);
                let (dzr, dzh) = rest.split_at_mut(h);
                if step > 0 {
                    let hp = &hs[(r - 1) * h..r * h];
                    for j in 0..h {
                        dzz[j] = dh[j] * (hp[j] - hh[j]);
                    }
                } else {
                    for j in 0..h {
                        dzz[j] = -dh[j] * hh[j];
                    }
                }
                mul_grad(rec, zg, dzz);
                for j in 0..h {
                    dzh[j] = dh[j] * (1.0 - zg[j]);
                }
                mul_grad(act, hh, dzh);
                for j in 0..h {
                    dzr[j] = dzh[j] * rh[j];
                }
                mul_grad(rec, rg, dzr);
                let drr = &mut dgr[r * g3..(r + 1) * g3];
                drr[..2 * h].copy_from_slice(&dxr[..2 * h]);
                let dzh = &dxr[2 * h..];
                for j in 0..h {
                    drr[2 * h + j] = dzh[j] * rg[j];
                }
            }
            if step > 0 {
                // dh_{t-1} = dh_t * z + dGr[:, t] @ U^T
                gemm_pb(&dgr[step * g3..], t * g3, put, &mut dh_rec, h, n, true);
            }
        }
    }
}
