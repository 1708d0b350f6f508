//! Batch normalization over every axis but the last (channels-last): x is M rows of C channels.
//! Statistics use two passes (mean, then squared deviations) with f64 accumulators, so a large
//! mean does not swallow the variance. The caller (the Python layer) updates moving statistics.

use crate::error::{ensure_len, KResult, KernelError};
use crate::kernels::activations::simd;

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

/// Per-channel sums of f(row values) over the rows of x[M,C] into f64.
fn column_sums(x: &[f32], c: usize, mut acc: Vec<f64>, f: impl Fn(usize, f32) -> f64) -> Vec<f64> {
    simd(|| {
        for row in x.chunks_exact(c) {
            for (j, (s, &v)) in acc.iter_mut().zip(row).enumerate() {
                *s += f(j, v);
            }
        }
    });
    acc
}

/// y = (x - center[c]) * scale[c] + shift[c], row by row. Centering first (rather than folding the
/// mean into the shift) keeps float32 cancellation out when |mean| is large against the std.
fn affine(x: &[f32], y: &mut [f32], c: usize, center: &[f32], scale: &[f32], shift: &[f32]) {
    simd(|| {
        for (yr, xr) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
            for ((((o, &v), &m), &a), &b) in yr.iter_mut().zip(xr).zip(center).zip(scale).zip(shift) {
                *o = (v - m) * a + b;
            }
        }
    })
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
    let sums = column_sums(x, c, vec![0.0; c], |_, v| v as f64);
    let mu: Vec<f64> = sums.iter().map(|s| s / m as f64).collect();
    let sq = column_sums(x, c, vec![0.0; c], |j, v| {
        let d = v as f64 - mu[j];
        d * d
    });
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
    let mut db = vec![0.0f64; c];
    let mut dg = vec![0.0f64; c];
    simd(|| {
        for (xr, gr) in x.chunks_exact(c).zip(dy.chunks_exact(c)) {
            for j in 0..c {
                let xhat = (xr[j] - mean[j]) * inv[j];
                db[j] += gr[j] as f64;
                dg[j] += (gr[j] * xhat) as f64;
            }
        }
    });
    let mf = m as f32;
    let k: Vec<f32> = (0..c).map(|j| gamma[j] * inv[j] / mf).collect();
    let dbf: Vec<f32> = db.iter().map(|&v| v as f32).collect();
    let dgf: Vec<f32> = dg.iter().map(|&v| v as f32).collect();
    simd(|| {
        for ((o, xr), gr) in dx.chunks_exact_mut(c).zip(x.chunks_exact(c)).zip(dy.chunks_exact(c)) {
            for j in 0..c {
                let xhat = (xr[j] - mean[j]) * inv[j];
                o[j] = k[j] * (mf * gr[j] - dbf[j] - xhat * dgf[j]);
            }
        }
    });
    dgamma.copy_from_slice(&dgf);
    dbeta.copy_from_slice(&dbf);
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
