//! Inverted dropout with a counter-based PRNG: element i keeps or drops according to
//! splitmix64(seed, i / 2) alone, so the mask depends only on (seed, shape), not on threads or
//! chunking, and the same seed always gives the same mask.

use crate::error::{ensure_len, KResult, KernelError};
use crate::kernels::activations::{simd, threads_for, PARALLEL_MIN_ELEMENTS};
use rayon::prelude::*;

/// splitmix64's output function: a strong 64-bit mix of a counter.
#[inline(always)]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// What every block of one dropout call shares.
struct Draws {
    key: u64,
    /// keep an element when its 32-bit draw is >= this (rate * 2^32, rounded up)
    threshold: u64,
    keep_scale: f32,
}

/// Pairs of elements whose draws are made side by side: 16 independent mix64 calls per batch, so
/// the 64-bit multiplies vectorize instead of running one dependent chain at a time.
const PAIRS: usize = 16;

avx2_dispatch!(
    /// `fill` compiled for AVX2 when the CPU has it (a closure through `simd` stayed out of line, SSE2).
    fn fill_dispatch(d: &Draws, first_pair: u64, x: &[f32], y: &mut [f32], mask: &mut [f32]) => fill
);

/// y = x * mask for one block starting at pair `first_pair`: element i of the call uses the low
/// (even i) or high (odd i) half of mix64(key + (i / 2) * GOLDEN).
#[inline(always)]
fn fill(d: &Draws, first_pair: u64, x: &[f32], y: &mut [f32], mask: &mut [f32]) {
    let mut draws = [0u32; 2 * PAIRS];
    let mut pair = first_pair;
    for ((xs, ys), ms) in x.chunks(2 * PAIRS).zip(y.chunks_mut(2 * PAIRS)).zip(mask.chunks_mut(2 * PAIRS)) {
        for k in 0..PAIRS {
            let r = mix64(d.key.wrapping_add((pair + k as u64).wrapping_mul(GOLDEN)));
            draws[2 * k] = r as u32;
            draws[2 * k + 1] = (r >> 32) as u32;
        }
        pair += PAIRS as u64;
        for (((yv, mv), &xv), &u) in ys.iter_mut().zip(ms.iter_mut()).zip(xs).zip(&draws) {
            let m = if u as u64 >= d.threshold { d.keep_scale } else { 0.0 };
            *mv = m;
            *yv = xv * m;
        }
    }
}

/// x[K], rate in [0,1), seed -> y[K] = x * mask, mask[K] in {0, 1/(1-rate)}
/// `rate` is f64 so the scale is float32(1/(1-rate)) of the caller's number, as Keras computes it
/// (1 / (1 - float32(0.9)) would be 9.999998, not 10).
pub fn dropout_forward(x: &[f32], rate: f64, seed: u64, y: &mut [f32], mask: &mut [f32]) -> KResult<()> {
    if !(rate.is_finite() && (0.0..1.0).contains(&rate)) {
        return Err(KernelError::Value(format!("dropout: rate must be in [0, 1), got {rate}")));
    }
    ensure_len("dropout y", y.len(), x.len())?;
    ensure_len("dropout mask", mask.len(), x.len())?;
    let keep_scale = (1.0 / (1.0 - rate)) as f32;
    // Keep when the 32-bit draw u satisfies u >= rate * 2^32, i.e. with probability 1 - rate.
    let threshold = (rate * 4_294_967_296.0).ceil() as u64;
    let key = mix64(seed ^ 0x5DEE_CE66_D1A4_F87B);
    // Each 64-bit draw feeds two elements; `base` is the element index of the block's start (even).
    let fill = |base: usize, x: &[f32], y: &mut [f32], mask: &mut [f32]| {
        fill_dispatch(&Draws { key, threshold, keep_scale }, (base / 2) as u64, x, y, mask)
    };
    const CH: usize = 1 << 15; // even, so every block starts a fresh draw
    if x.len() >= PARALLEL_MIN_ELEMENTS && crate::parallel::num_threads() > 1 {
        crate::parallel::install(|| {
            y.par_chunks_mut(CH)
                .zip(mask.par_chunks_mut(CH))
                .zip(x.par_chunks(CH))
                .enumerate()
                .for_each(|(i, ((y, m), x))| fill(i * CH, x, y, m))
        });
    } else {
        fill(0, x, y, mask);
    }
    Ok(())
}

/// dy[K], mask[K] -> dx = dy * mask
pub fn dropout_backward(dy: &[f32], mask: &[f32], dx: &mut [f32]) -> KResult<()> {
    ensure_len("dropout mask", mask.len(), dy.len())?;
    ensure_len("dropout dx", dx.len(), dy.len())?;
    const CH: usize = 1 << 15;
    crate::parallel::par_chunks_mut(dx, CH, threads_for(dy.len()), |k, dx| {
        let (dy, mask) = (&dy[k * CH..k * CH + dx.len()], &mask[k * CH..k * CH + dx.len()]);
        simd(|| dx.iter_mut().zip(dy).zip(mask).for_each(|((o, &g), &m)| *o = g * m))
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_mask_and_rate_is_respected() {
        let n = 200_001;
        let x = vec![1.0f32; n];
        let (mut y1, mut m1) = (vec![0.0; n], vec![0.0; n]);
        let (mut y2, mut m2) = (vec![0.0; n], vec![0.0; n]);
        dropout_forward(&x, 0.3, 42, &mut y1, &mut m1).unwrap();
        dropout_forward(&x, 0.3, 42, &mut y2, &mut m2).unwrap();
        assert_eq!(m1, m2);
        let dropped = m1.iter().filter(|&&m| m == 0.0).count() as f64 / n as f64;
        assert!((dropped - 0.3).abs() < 0.005, "{dropped}");
        dropout_forward(&x, 0.3, 43, &mut y2, &mut m2).unwrap();
        assert_ne!(m1, m2);
        assert!(dropout_forward(&x, 1.0, 1, &mut y1, &mut m1).is_err());
    }
}
