//! Dense (fully connected) layer: y = act(x W + b), Keras layout W[D,U].
//! The matmul is `sgemm`; the bias and the activation are fused into one pass over the output.
//! Small shapes (batch 32, 100 -> 64) are overhead-bound: no allocation beyond dz, and the thread
//! pool is entered only when the product is large enough for threads to pay.

use crate::error::{ensure_len, KResult};
use crate::kernels::activations::{activation_backward, bias_act_inplace, require_fusable, simd, Act};
use crate::kernels::gemm::sgemm;
use crate::parallel;

/// Multiply-adds below which a dense pass stays on the calling thread: ~4M (about 50 us on one
/// core) covers a pool worker's wake-up on a VM. At 256K the autoencoder's 784 <-> 32 layers (0.8M
/// each at batch 32) went to the pool and its 2-thread epoch took 115 ms against 77 ms on 1 thread.
const PARALLEL_MIN_FLOPS: usize = 1 << 22;

/// Run `f` with the thread count a product of `flops` multiply-adds deserves: the pool (and its
/// wake-up cost) only for big work.
fn with_threads<R: Send>(flops: usize, f: impl FnOnce(usize) -> R + Send) -> R {
    let threads = parallel::num_threads();
    if threads > 1 && flops >= PARALLEL_MIN_FLOPS {
        parallel::install(|| f(threads))
    } else {
        f(1)
    }
}

/// x[N,D], w[D,U], b[U] | None -> y[N,U] = act(x w + b)
#[allow(clippy::too_many_arguments)]
pub fn dense_forward(
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
    n: usize,
    d: usize,
    u: usize,
    act: Act,
) -> KResult<()> {
    require_fusable(act, "dense")?;
    ensure_len("dense x", x.len(), n * d)?;
    ensure_len("dense kernel", w.len(), d * u)?;
    ensure_len("dense y", y.len(), n * u)?;
    if let Some(b) = b {
        ensure_len("dense bias", b.len(), u)?;
    }
    // The zero-skipping product picks its threads by the work it keeps, not by n * d * u.
    if !sparse_input_forward(x, w, y, n, d, u) {
        with_threads(n * d * u, |threads| sgemm(x, w, y, n, d, u, false, false, false, threads));
    }
    bias_act_inplace(act, y, b, u);
    Ok(())
}

/// Rows of x up to which the zero-skipping forward is tried (single-sample inference).
const SPARSE_MAX_ROWS: usize = 4;
/// It runs when at least this fraction of x's columns is zero in every row.
const SPARSE_MIN_ZERO_FRACTION: f32 = 0.5;
/// Nonzero columns per partial sum: fixed, so results do not depend on the thread count.
const SPARSE_CHUNK: usize = 1024;

/// y[n,u] = x[n,d] @ w[d,u] reading only the rows of w whose column of x is not all zero, for a
/// few rows of x with many zeros -- the Flatten after a ReLU feeding a big Dense (the seed
/// ConvNet's 36864 -> 128 sees ~3/4 zeros). A single-sample forward is bound by reading w (19 MB
/// there), so skipping its rows is the speed-up. Returns false (nothing written) when the shape or
/// the sparsity does not qualify. Skipped rows contribute exactly 0 (so a NaN or inf weight whose
/// input is exactly zero does not spread, unlike 0 * inf in a dense product).
fn sparse_input_forward(x: &[f32], w: &[f32], y: &mut [f32], n: usize, d: usize, u: usize) -> bool {
    if n == 0 || n > SPARSE_MAX_ROWS || d < 2 * SPARSE_CHUNK || u == 0 {
        return false;
    }
    let nz = nonzero_columns(x, n, d);
    if (nz.len() as f32) > (1.0 - SPARSE_MIN_ZERO_FRACTION) * d as f32 {
        return false;
    }
    // One partial [n,u] per chunk of nonzero columns, summed in chunk order.
    let chunks = nz.len().div_ceil(SPARSE_CHUNK).max(1);
    let mut partials = vec![0.0f32; chunks * n * u];
    with_threads(n * nz.len() * u, |threads| parallel::par_chunks_mut(&mut partials, n * u, threads, |c, part| {
        let idx = &nz[(c * SPARSE_CHUNK).min(nz.len())..((c + 1) * SPARSE_CHUNK).min(nz.len())];
        simd(|| {
            for &p in idx {
                let wrow = &w[p as usize * u..(p as usize + 1) * u];
                for (i, prow) in part.chunks_exact_mut(u).enumerate() {
                    let a = x[i * d + p as usize];
                    for (o, &wv) in prow.iter_mut().zip(wrow) {
                        *o += a * wv;
                    }
                }
            }
        });
    }));
    y.copy_from_slice(&partials[..n * u]);
    for part in partials.chunks_exact(n * u).skip(1) {
        y.iter_mut().zip(part).for_each(|(o, v)| *o += v);
    }
    true
}

/// The columns p of x[n,d] with a nonzero in some row, in order. Written branch-free (each p is
/// stored, the count advances by whether it qualifies): about half the columns of a ReLU output are
/// zero in no pattern, and a branch per column mispredicted about every other one.
fn nonzero_columns(x: &[f32], n: usize, d: usize) -> Vec<u32> {
    let mut nz = vec![0u32; d + 1];
    let mut k = 0;
    for p in 0..d {
        nz[k] = p as u32;
        k += (0..n).any(|i| x[i * d + p] != 0.0) as usize;
    }
    nz.truncate(k);
    nz
}

/// x[N,D], w[D,U], y[N,U] (forward output), dy[N,U] -> dx[N,D] (when given), dw[D,U], db[U]
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(
    x: &[f32],
    w: &[f32],
    y: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
    n: usize,
    d: usize,
    u: usize,
    act: Act,
) -> KResult<()> {
    require_fusable(act, "dense")?;
    ensure_len("dense x", x.len(), n * d)?;
    ensure_len("dense kernel", w.len(), d * u)?;
    ensure_len("dense y", y.len(), n * u)?;
    ensure_len("dense dy", dy.len(), n * u)?;
    ensure_len("dense dkernel", dw.len(), d * u)?;
    ensure_len("dense dbias", db.len(), u)?;
    if let Some(dx) = dx.as_deref() {
        ensure_len("dense dx", dx.len(), n * d)?;
    }
    // dz = dy * act'(y): linear needs no copy.
    let mut dz_buf = Vec::new();
    let dz: &[f32] = if act == Act::Linear {
        dy
    } else {
        dz_buf.resize(n * u, 0.0);
        // Every fusable activation's derivative is a function of its output: y stands in for x.
        activation_backward(act, y, y, dy, &mut dz_buf, u)?;
        dz_buf.as_slice()
    };
    // db = column sums of dz (row by row: contiguous, vectorized).
    simd(|| {
        db.fill(0.0);
        if u > 0 {
            for row in dz.chunks_exact(u) {
                for (s, &v) in db.iter_mut().zip(row) {
                    *s += v;
                }
            }
        }
    });
    with_threads(n * d * u, |threads| {
        // dW[D,U] = x^T[D,N] dz[N,U]
        sgemm(x, dz, dw, d, n, u, true, false, false, threads);
        // dx[N,D] = dz[N,U] W^T[U,D]
        if let Some(dx) = dx {
            sgemm(dz, w, dx, n, u, d, false, true, false, threads);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_forward(x: &[f32], w: &[f32], b: &[f32], n: usize, d: usize, u: usize) -> Vec<f32> {
        let mut y = vec![0.0f32; n * u];
        for i in 0..n {
            for j in 0..u {
                let mut s = b[j] as f64;
                for k in 0..d {
                    s += x[i * d + k] as f64 * w[k * u + j] as f64;
                }
                y[i * u + j] = (s as f32).max(0.0);
            }
        }
        y
    }

    #[test]
    fn forward_matches_naive_relu() {
        let (n, d, u) = (3, 5, 4);
        let x: Vec<f32> = (0..n * d).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..d * u).map(|i| (i as f32 * 0.11).cos()).collect();
        let b: Vec<f32> = (0..u).map(|i| i as f32 * 0.1 - 0.2).collect();
        let mut y = vec![0.0; n * u];
        dense_forward(&x, &w, Some(&b), &mut y, n, d, u, Act::Relu).unwrap();
        for (a, b) in y.iter().zip(naive_forward(&x, &w, &b, n, d, u)) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn backward_linear_db_is_column_sum() {
        let (n, d, u) = (2, 1, 3);
        let x = [1.0f32, 2.0];
        let w = [0.5f32, -1.0, 2.0];
        let y = [0.0f32; 6];
        let dy = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let (mut dx, mut dw, mut db) = (vec![0.0; 2], vec![0.0; 3], vec![0.0; 3]);
        dense_backward(&x, &w, &y, &dy, Some(&mut dx), &mut dw, &mut db, n, d, u, Act::Linear).unwrap();
        assert_eq!(db, vec![5.0, 7.0, 9.0]);
        assert_eq!(dw, vec![9.0, 12.0, 15.0]);
        assert_eq!(dx, vec![0.5 - 2.0 + 6.0, 2.0 - 5.0 + 12.0]);
    }

    /// x[n,d] with a zero column wherever `keep(p)` is false, w[d,u], relu outputs via dense_forward
    /// on `threads` threads.
    fn sparse_case(n: usize, d: usize, u: usize, keep: impl Fn(usize) -> bool, threads: usize) -> (Vec<f32>, Vec<f32>) {
        let x: Vec<f32> = (0..n * d).map(|i| if keep(i % d) { ((i as f32) * 0.37).sin() } else { 0.0 }).collect();
        let w: Vec<f32> = (0..d * u).map(|i| ((i as f32) * 0.011).cos()).collect();
        let b: Vec<f32> = (0..u).map(|i| i as f32 * 0.01 - 0.2).collect();
        let mut y = vec![f32::NAN; n * u];
        parallel::set_num_threads(threads);
        dense_forward(&x, &w, Some(&b), &mut y, n, d, u, Act::Relu).unwrap();
        (y, naive_forward(&x, &w, &b, n, d, u))
    }

    #[test]
    fn zero_skipping_forward_matches_naive_and_any_thread_count() {
        for &(n, d, u, every) in &[(1, 5000, 128, 4), (3, 4100, 37, 3), (4, 2048, 16, 2), (2, 9000, 5, 7)] {
            let keep = |p: usize| p % every == 1;
            let (first, want) = sparse_case(n, d, u, keep, 1);
            for (a, b) in first.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{n}x{d}x{u}: {a} vs {b}");
            }
            for threads in [2, 3] {
                let (y, _) = sparse_case(n, d, u, keep, threads);
                assert!(y.iter().zip(&first).all(|(a, b)| a.to_bits() == b.to_bits()), "{n}x{d}x{u} t={threads}");
            }
        }
        // Mostly nonzero inputs take the dense product; the result is the same either way.
        let (y, want) = sparse_case(2, 5000, 64, |p| p % 5 != 0, 2);
        for (a, b) in y.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()));
        }
        parallel::set_num_threads(2);
    }

    #[test]
    fn bad_lengths_and_gelu_are_errors() {
        let mut y = vec![0.0; 4];
        assert!(dense_forward(&[0.0; 3], &[0.0; 4], None, &mut y, 2, 2, 2, Act::Relu).is_err());
        assert!(dense_forward(&[0.0; 4], &[0.0; 4], None, &mut y, 2, 2, 2, Act::Gelu).is_err());
    }
}
