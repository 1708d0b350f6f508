//! Batch normalization over every axis but the last (channels-last): x is M rows of C channels.
//! Statistics use two passes (mean, then squared deviations) with f64 accumulators, so a large
//! mean does not swallow the variance. The caller (the Python layer) updates moving statistics.
//! Sums run over fixed blocks of rows, in parallel when large, each block into its own f64
//! partial, and the partials are added in block order: the same bits on any thread count.

use crate::error::{ensure_len, KResult, KernelError};
use crate::kernels::activations::threads_for;
use crate::parallel::par_chunks_mut;

/// Rows per block of the per-channel sums and of the elementwise passes.
const BLOCK_ROWS: usize = 256;

fn check(x: usize, c: usize, eps: f32, params: &[(&str, usize)]) -> KResult<usize> {
    if c == 0 || x % c != 0 {
        return Err(KernelError::Shape(format!(
            "batchnorm: x has {x} elements, not a whole number of rows of {c} channels"
        )));
    }
    if !(eps.is_finite() && eps > 0.0) {
        return Err(KernelError::Value(format!("batchnorm: epsilon must be finite and > 0, got {eps}")));
    }
    for &(name, len) in params {
        ensure_len(&format!("batchnorm {name}"), len, c)?;
    }
    Ok(x / c)
}

/// `K` per-channel sums over the rows of x[M,C]: `add(first_row, rows of x, partial[K*C])` adds one
/// block's rows into its own zeroed partial; the partials are then added in block order.
fn column_sums<const K: usize>(x: &[f32], c: usize, add: impl Fn(usize, &[f32], &mut [f64]) + Sync) -> Vec<f64> {
    let block = BLOCK_ROWS * c;
    let mut partial = vec![0.0f64; x.len().div_ceil(block) * K * c];
    par_chunks_mut(&mut partial, K * c, threads_for(x.len()), |b, part| {
        add(b * BLOCK_ROWS, &x[b * block..((b + 1) * block).min(x.len())], part)
    });
    let mut sums = vec![0.0f64; K * c];
    for part in partial.chunks_exact(K * c) {
        sums.iter_mut().zip(part).for_each(|(s, &p)| *s += p);
    }
    sums
}

/// `write(first_row, rows of out)` over blocks of rows of out[M,C], in parallel when large.
fn per_row_block(out: &mut [f32], c: usize, write: impl Fn(usize, &mut [f32]) + Sync) {
    let threads = threads_for(out.len());
    par_chunks_mut(out, BLOCK_ROWS * c, threads, |b, rows| write(b * BLOCK_ROWS, rows));
}

/// y = (x - center[c]) * scale[c] + shift[c], row by row. Centering first (rather than folding the
/// mean into the shift) keeps float32 cancellation out when |mean| is large against the std.
fn affine(x: &[f32], y: &mut [f32], c: usize, center: &[f32], scale: &[f32], shift: &[f32]) {
    per_row_block(y, c, |first, yb| affine_rows(&x[first * c..], yb, center, scale, shift));
}

// The loops of one block of rows (c channels each, c = the per-channel slices' length), each
// compiled for AVX2 by `avx2_dispatch`.
avx2_dispatch!(fn affine_rows(x: &[f32], y: &mut [f32], center: &[f32], scale: &[f32], shift: &[f32]) => affine_rows_body);
avx2_dispatch!(fn add_values(rows: &[f32], sums: &mut [f64]) => add_values_body);
avx2_dispatch!(fn add_squared_deviations(rows: &[f32], mean: &[f64], sums: &mut [f64]) => add_squared_deviations_body);
avx2_dispatch!(fn add_backward_sums(x: &[f32], dy: &[f32], mean: &[f32], inv: &[f32], db: &mut [f64], dg: &mut [f64]) => add_backward_sums_body);
avx2_dispatch!(fn backward_rows(x: &[f32], dy: &[f32], dx: &mut [f32], p: &BackwardParams) => backward_rows_body);

#[inline(always)]
fn affine_rows_body(x: &[f32], y: &mut [f32], center: &[f32], scale: &[f32], shift: &[f32]) {
    let c = center.len();
    for (yr, xr) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        for ((((o, &v), &m), &a), &b) in yr.iter_mut().zip(xr).zip(center).zip(scale).zip(shift) {
            *o = (v - m) * a + b;
        }
    }
}

/// sums[j] += x[., j] over the rows.
#[inline(always)]
fn add_values_body(rows: &[f32], sums: &mut [f64]) {
    for row in rows.chunks_exact(sums.len()) {
        sums.iter_mut().zip(row).for_each(|(a, &v)| *a += v as f64);
    }
}

/// sums[j] += (x[., j] - mean[j])^2 over the rows.
#[inline(always)]
fn add_squared_deviations_body(rows: &[f32], mean: &[f64], sums: &mut [f64]) {
    for row in rows.chunks_exact(sums.len()) {
        for ((a, &v), &u) in sums.iter_mut().zip(row).zip(mean) {
            let d = v as f64 - u;
            *a += d * d;
        }
    }
}

/// db[j] += dy[., j]; dg[j] += dy[., j] xhat[., j] over the rows (xhat = (x - mean) inv).
#[inline(always)]
fn add_backward_sums_body(x: &[f32], dy: &[f32], mean: &[f32], inv: &[f32], db: &mut [f64], dg: &mut [f64]) {
    let c = mean.len();
    for (xr, gr) in x.chunks_exact(c).zip(dy.chunks_exact(c)) {
        for (((((b, d), &xv), &g), &mu), &iv) in db.iter_mut().zip(dg.iter_mut()).zip(xr).zip(gr).zip(mean).zip(inv) {
            *b += g as f64;
            *d += (g * ((xv - mu) * iv)) as f64;
        }
    }
}

/// The per-channel values dx needs once the sums are known.
struct BackwardParams {
    mean: Vec<f32>,
    inv: Vec<f32>,
    /// gamma inv_std / M
    k: Vec<f32>,
    dbeta: Vec<f32>,
    dgamma: Vec<f32>,
    m: f32,
}

/// dx = k (M dy - dbeta - xhat dgamma), row by row.
#[inline(always)]
fn backward_rows_body(x: &[f32], dy: &[f32], dx: &mut [f32], p: &BackwardParams) {
    let c = p.mean.len();
    for ((o, xr), gr) in dx.chunks_exact_mut(c).zip(x.chunks_exact(c)).zip(dy.chunks_exact(c)) {
        for (((((((o, &xv), &g), &mu), &iv), &kj), &db), &dg) in
            o.iter_mut().zip(xr).zip(gr).zip(&p.mean).zip(&p.inv).zip(&p.k).zip(&p.dbeta).zip(&p.dgamma)
        {
            *o = kj * (p.m * g - db - (xv - mu) * iv * dg);
        }
    }
}

/// x[M,C], gamma[C], beta[C] -> y[M,C], batch_mean[C], batch_var[C] (biased: / M)
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_train(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    c: usize,
    eps: f32,
    y: &mut [f32],
    mean: &mut [f32],
    var: &mut [f32],
) -> KResult<()> {
    let m = check(x.len(), c, eps, &[("gamma", gamma.len()), ("beta", beta.len()), ("mean", mean.len()), ("var", var.len())])?;
    ensure_len("batchnorm y", y.len(), x.len())?;
    if m == 0 {
        return Err(KernelError::Shape("batchnorm: training needs at least one row, got 0".into()));
    }
    let sums = column_sums::<1>(x, c, |_, rows, s| add_values(rows, s));
    let mu: Vec<f64> = sums.iter().map(|s| s / m as f64).collect();
    let sq = column_sums::<1>(x, c, |_, rows, s| add_squared_deviations(rows, &mu, s));
    let mut scale = vec![0.0f32; c];
    for j in 0..c {
        let v = sq[j] / m as f64;
        mean[j] = mu[j] as f32;
        var[j] = v as f32;
        let inv = 1.0 / (v + eps as f64).sqrt();
        scale[j] = (gamma[j] as f64 * inv) as f32;
    }
    affine(x, y, c, mean, &scale, beta);
    Ok(())
}

/// x[M,C] with moving statistics -> y[M,C] = gamma (x - mean) / sqrt(var + eps) + beta
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_infer(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    moving_mean: &[f32],
    moving_var: &[f32],
    c: usize,
    eps: f32,
    y: &mut [f32],
) -> KResult<()> {
    check(
        x.len(),
        c,
        eps,
        &[("gamma", gamma.len()), ("beta", beta.len()), ("moving_mean", moving_mean.len()), ("moving_var", moving_var.len())],
    )?;
    ensure_len("batchnorm y", y.len(), x.len())?;
    let mut scale = vec![0.0f32; c];
    for j in 0..c {
        let inv = 1.0 / (moving_var[j] as f64 + eps as f64).sqrt();
        scale[j] = (gamma[j] as f64 * inv) as f32;
    }
    affine(x, y, c, moving_mean, &scale, beta);
    Ok(())
}

/// x[M,C], dy[M,C], gamma, batch mean/var -> dx[M,C], dgamma[C], dbeta[C]
/// dx = gamma inv_std / M * (M dy - dbeta - xhat dgamma), xhat = (x - mean) inv_std
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    x: &[f32],
    dy: &[f32],
    gamma: &[f32],
    mean: &[f32],
    var: &[f32],
    c: usize,
    eps: f32,
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) -> KResult<()> {
    let m = check(
        x.len(),
        c,
        eps,
        &[("gamma", gamma.len()), ("batch_mean", mean.len()), ("batch_var", var.len()), ("dgamma", dgamma.len()), ("dbeta", dbeta.len())],
    )?;
    ensure_len("batchnorm dy", dy.len(), x.len())?;
    ensure_len("batchnorm dx", dx.len(), x.len())?;
    if m == 0 {
        dgamma.fill(0.0);
        dbeta.fill(0.0);
        return Ok(());
    }
    let inv: Vec<f32> = var.iter().map(|&v| (1.0 / (v as f64 + eps as f64).sqrt()) as f32).collect();
    // Per channel: dbeta = sum dy, dgamma = sum dy xhat (partials [dbeta | dgamma] per block).
    let sums = column_sums::<2>(x, c, |first, rows, part| {
        let (db, dg) = part.split_at_mut(c);
        add_backward_sums(rows, &dy[first * c..first * c + rows.len()], mean, &inv, db, dg)
    });
    let mf = m as f32;
    let p = BackwardParams {
        k: (0..c).map(|j| gamma[j] * inv[j] / mf).collect(),
        dbeta: sums[..c].iter().map(|&v| v as f32).collect(),
        dgamma: sums[c..].iter().map(|&v| v as f32).collect(),
        mean: mean.to_vec(),
        inv,
        m: mf,
    };
    per_row_block(dx, c, |first, dxb| backward_rows(&x[first * c..], &dy[first * c..], dxb, &p));
    dgamma.copy_from_slice(&p.dgamma);
    dbeta.copy_from_slice(&p.dbeta);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_forward_normalizes_each_channel() {
        let x = [1.0f32, 10.0, 3.0, 20.0];
        let (mut y, mut m, mut v) = ([0.0f32; 4], [0.0f32; 2], [0.0f32; 2]);
        batchnorm_forward_train(&x, &[1.0, 2.0], &[0.0, 1.0], 2, 1e-3, &mut y, &mut m, &mut v).unwrap();
        assert_eq!(m, [2.0, 15.0]);
        assert_eq!(v, [1.0, 25.0]);
        assert!((y[0] + 1.0 / 1.001f32.sqrt()).abs() < 1e-6);
        assert!((y[3] - (1.0 + 2.0 * 5.0 / 25.001f32.sqrt())).abs() < 1e-5);
    }
}
