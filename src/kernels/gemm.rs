//! Matrix multiply on top of the `gemm` crate (pure Rust, runtime AVX2/FMA/AVX-512 dispatch).
//! Everything else (dense, conv via im2col, rnn) calls `sgemm` from here.

use crate::error::{KResult, KernelError};
use crate::parallel;
use gemm::Parallelism;
use rayon::prelude::*;

/// Below this many multiply-adds a product runs on one thread: waking the pool costs more.
const PARALLEL_MIN_FLOPS: usize = 64 * 64 * 64;

/// c[M,N] = op(a) @ op(b) (+ c when `accumulate`).
/// a is [M,K] row-major, or [K,M] when `trans_a`; b is [K,N], or [N,K] when `trans_b`.
/// Runs on the caller's thread pool (`parallel::install` around it for threads).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    trans_a: bool,
    trans_b: bool,
    accumulate: bool,
    threads: usize,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "sgemm: buffer too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = if trans_a { (1, m as isize) } else { (k as isize, 1) };
    let (b_rs, b_cs) = if trans_b { (1, k as isize) } else { (n as isize, 1) };
    let par = if threads > 1 && m * n * k >= PARALLEL_MIN_FLOPS {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above bound every index gemm touches: row/column strides describe
    // exactly the [M,K], [K,N] and [M,N] row-major (or transposed) buffers.
    // Note the gemm crate computes dst = alpha*dst + beta*lhs*rhs (the reverse of BLAS).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// Shapes of a (possibly batched, possibly broadcast) product, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatmulShape {
    pub batch: usize,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// Elements between consecutive matrices of a / b (0 when one matrix is broadcast).
    pub a_stride: usize,
    pub b_stride: usize,
}

/// Check `a_shape @ b_shape` (each 2-D [rows, cols] or 3-D [batch, rows, cols]; a batch of 1 or a
/// 2-D operand broadcasts, as in numpy) and return the product's geometry.
pub fn matmul_shape(
    a_shape: &[usize],
    b_shape: &[usize],
    trans_a: bool,
    trans_b: bool,
) -> KResult<MatmulShape> {
    let describe = |s: &[usize]| format!("{s:?}");
    for (name, s) in [("a", a_shape), ("b", b_shape)] {
        if s.len() != 2 && s.len() != 3 {
            return Err(KernelError::Shape(format!(
                "matmul: {name} must be 2-D or 3-D, got shape {}",
                describe(s)
            )));
        }
    }
    let split = |s: &[usize]| -> (usize, usize, usize) {
        if s.len() == 3 { (s[0], s[1], s[2]) } else { (1, s[0], s[1]) }
    };
    let (ab, ar, ac) = split(a_shape);
    let (bb, br, bc) = split(b_shape);
    let (m, ka) = if trans_a { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if trans_b { (bc, br) } else { (br, bc) };
    if ka != kb {
        return Err(KernelError::Shape(format!(
            "matmul: shapes {} and {} do not align (transpose_a={trans_a}, transpose_b={trans_b}): \
             a has {ka} columns, b has {kb} rows",
            describe(a_shape),
            describe(b_shape)
        )));
    }
    let a3 = a_shape.len() == 3 && ab != 1;
    let b3 = b_shape.len() == 3 && bb != 1;
    let batch = match (a3, b3) {
        (true, true) if ab != bb => {
            return Err(KernelError::Shape(format!(
                "matmul: batch sizes differ: a has shape {} and b has shape {}",
                describe(a_shape),
                describe(b_shape)
            )))
        }
        (true, _) => ab,
        (_, true) => bb,
        _ => {
            if a_shape.len() == 3 || b_shape.len() == 3 { 1 } else { 0 }
        }
    };
    Ok(MatmulShape {
        batch,
        m,
        k: ka,
        n,
        a_stride: if a3 { m * ka } else { 0 },
        b_stride: if b3 { ka * n } else { 0 },
    })
}

/// c = a @ b for the geometry `s` (batch 0 means plain 2-D). `c` has batch.max(1)*M*N elements.
pub fn matmul(a: &[f32], b: &[f32], c: &mut [f32], s: &MatmulShape, trans_a: bool, trans_b: bool) {
    let (m, k, n) = (s.m, s.k, s.n);
    let threads = parallel::num_threads();
    parallel::install(|| {
        if s.batch <= 1 {
            sgemm(a, b, c, m, k, n, trans_a, trans_b, false, threads);
            return;
        }
        if m * n == 0 {
            return;
        }
        let per = m * n * k;
        if per >= PARALLEL_MIN_FLOPS * 4 || threads == 1 {
            // Big matrices: one product at a time, each using every thread.
            for (i, ci) in c.chunks_mut(m * n).enumerate() {
                let ai = &a[i * s.a_stride..];
                let bi = &b[i * s.b_stride..];
                sgemm(ai, bi, ci, m, k, n, trans_a, trans_b, false, threads);
            }
        } else {
            // Many small products: spread the batch over the threads, each product single-threaded.
            c.par_chunks_mut(m * n).enumerate().for_each(|(i, ci)| {
                let ai = &a[i * s.a_stride..];
                let bi = &b[i * s.b_stride..];
                sgemm(ai, bi, ci, m, k, n, trans_a, trans_b, false, 1);
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, ta: bool, tb: bool) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f64;
                for p in 0..k {
                    let av = if ta { a[p * m + i] } else { a[i * k + p] };
                    let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                    acc += av as f64 * bv as f64;
                }
                c[i * n + j] = acc as f32;
            }
        }
        c
    }

    fn data(len: usize, seed: u64) -> Vec<f32> {
        // A small LCG: deterministic, no extra crates.
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect()
    }

    fn close(x: &[f32], y: &[f32], k: usize) {
        let tol = 1e-5 * (k as f32).max(1.0) + 1e-5;
        for (i, (a, b)) in x.iter().zip(y).enumerate() {
            assert!((a - b).abs() <= tol, "element {i}: {a} vs {b}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn sgemm_matches_naive(m in 0usize..70, k in 0usize..70, n in 0usize..70,
                               ta in any::<bool>(), tb in any::<bool>(), seed in any::<u64>()) {
            let a = data(m * k, seed);
            let b = data(k * n, seed ^ 7);
            let mut c = vec![f32::NAN; m * n];
            sgemm(&a, &b, &mut c, m, k, n, ta, tb, false, 2);
            close(&c, &naive(&a, &b, m, k, n, ta, tb), k);
        }
    }

    #[test]
    fn accumulate_adds_to_dst() {
        let (m, k, n) = (5, 3, 4);
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut c = vec![1.0f32; m * n];
        sgemm(&a, &b, &mut c, m, k, n, false, false, true, 1);
        let want: Vec<f32> = naive(&a, &b, m, k, n, false, false).iter().map(|v| v + 1.0).collect();
        close(&c, &want, k);
    }

    #[test]
    fn large_parallel_matches_naive() {
        let (m, k, n) = (130, 257, 129);
        let a = data(m * k, 3);
        let b = data(k * n, 4);
        let mut c = vec![0.0f32; m * n];
        sgemm(&a, &b, &mut c, m, k, n, false, true, false, 2);
        close(&c, &naive(&a, &b, m, k, n, false, true), k);
    }

    #[test]
    fn batched_with_broadcast() {
        let s = matmul_shape(&[3, 4, 5], &[5, 6], false, false).unwrap();
        assert_eq!((s.batch, s.m, s.k, s.n, s.a_stride, s.b_stride), (3, 4, 5, 6, 20, 0));
        let a = data(3 * 20, 5);
        let b = data(30, 6);
        let mut c = vec![0.0; 3 * 24];
        matmul(&a, &b, &mut c, &s, false, false);
        for i in 0..3 {
            close(&c[i * 24..(i + 1) * 24], &naive(&a[i * 20..], &b, 4, 5, 6, false, false), 5);
        }
    }

    #[test]
    fn shape_errors_name_both_shapes() {
        let e = matmul_shape(&[2, 3], &[4, 5], false, false).unwrap_err();
        assert!(e.to_string().contains("[2, 3]") && e.to_string().contains("[4, 5]"), "{e}");
        assert!(matmul_shape(&[2, 3, 4], &[3, 4, 5], false, false).is_err());
        assert!(matmul_shape(&[2], &[2, 2], false, false).is_err());
    }
}
