//! Matrix multiply. Everything else (dense, conv via im2col, rnn) calls `sgemm` from here.
//!
//! The default backend is our own:
//! - skinny products (A with <= 4 rows, or B with <= 4 columns: single-sample Dense forward and
//!   backward, matrix-vector) stream B once without packing (gemm_skinny.rs);
//! - everything else runs the BLIS-style packed kernel (gemm_packed.rs + gemm_microkernel.rs):
//!   the micro-kernel and its blocking are a `KernelSpec` chosen once at run time (AVX-512
//!   MRx32 when avx512f is detected and `AIAAS_DISABLE_AVX512` is not set, else AVX2/FMA 6x16,
//!   else portable), threads over row blocks with the calling thread working alongside the pool
//!   (`parallel::run_tasks`).
//!
//! The `gemm` and `matrixmultiply` crates stay selectable with `AIAAS_GEMM_BACKEND=gemm|matrixmultiply`
//! (read once) so benches can compare them in the same process as numpy.

#[path = "gemm_microkernel.rs"]
pub mod gemm_microkernel;
#[path = "gemm_packed.rs"]
pub mod gemm_packed;
#[path = "gemm_skinny.rs"]
pub mod gemm_skinny;

use crate::error::{KResult, KernelError};
use crate::parallel;
use gemm_packed::View;
use gemm_skinny::SKINNY_MAX;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Below this many multiply-adds a product runs on one thread: waking the pool costs more.
const PARALLEL_MIN_FLOPS: usize = 64 * 64 * 64;

/// Which implementation `sgemm` runs (benchmarking switch; the default is the fastest here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Packed,
    GemmCrate,
    MatrixMultiply,
}

/// The backend named by `AIAAS_GEMM_BACKEND` (packed | gemm | matrixmultiply), read once.
pub fn backend() -> Backend {
    static B: OnceLock<Backend> = OnceLock::new();
    *B.get_or_init(|| match std::env::var("AIAAS_GEMM_BACKEND").as_deref() {
        Ok("gemm") => Backend::GemmCrate,
        Ok("matrixmultiply") => Backend::MatrixMultiply,
        _ => Backend::Packed,
    })
}

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
    sgemm_with(backend(), a, b, c, m, k, n, trans_a, trans_b, accumulate, threads)
}

/// `sgemm` on a chosen backend (tests and benchmarks compare them).
#[allow(clippy::too_many_arguments)]
pub fn sgemm_with(
    backend: Backend,
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
    let (a_rs, a_cs) = if trans_a { (1, m) } else { (k, 1) };
    let (b_rs, b_cs) = if trans_b { (1, k) } else { (n, 1) };
    let threads = if m * n * k >= PARALLEL_MIN_FLOPS { threads.max(1) } else { 1 };
    // SAFETY (all three): the asserts above bound every index touched: the row/column strides
    // describe exactly the [M,K], [K,N] and [M,N] row-major (or transposed) buffers.
    match backend {
        Backend::Packed => unsafe {
            let av = View { ptr: a.as_ptr(), rs: a_rs, cs: a_cs };
            let bv = View { ptr: b.as_ptr(), rs: b_rs, cs: b_cs };
            // Skinny products stream B once, unpacked: few rows of A ...
            if m <= SKINNY_MAX && gemm_skinny::sgemm_skinny(av, bv, c.as_mut_ptr(), n, 1, m, k, n, accumulate, threads) {
                return;
            }
            // ... or few columns of B: C^T = B^T A^T, written through C's transposed strides.
            if n <= SKINNY_MAX {
                let bt = View { ptr: b.as_ptr(), rs: b_cs, cs: b_rs };
                let at = View { ptr: a.as_ptr(), rs: a_cs, cs: a_rs };
                if gemm_skinny::sgemm_skinny(bt, at, c.as_mut_ptr(), 1, n, n, k, m, accumulate, threads) {
                    return;
                }
            }
            gemm_packed::sgemm_packed(
                av,
                bv,
                c.as_mut_ptr(),
                n,
                m,
                k,
                n,
                accumulate,
                threads,
            )
        },
        Backend::GemmCrate => unsafe {
            // The gemm crate computes dst = alpha*dst + beta*lhs*rhs (the reverse of BLAS).
            let par =
                if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                accumulate,
                a.as_ptr(),
                a_cs as isize,
                a_rs as isize,
                b.as_ptr(),
                b_cs as isize,
                b_rs as isize,
                if accumulate { 1.0 } else { 0.0 },
                1.0,
                false,
                false,
                false,
                par,
            )
        },
        Backend::MatrixMultiply => unsafe {
            // Threads come from its own pool (MATMUL_NUM_THREADS), not ours.
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                a_rs as isize,
                a_cs as isize,
                b.as_ptr(),
                b_rs as isize,
                b_cs as isize,
                if accumulate { 1.0 } else { 0.0 },
                c.as_mut_ptr(),
                n as isize,
                1,
            )
        },
    }
}

/// Shapes of a (possibly batched, possibly broadcast) product, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatmulShape {
    /// Whether the result has a batch axis (either operand was 3-D).
    pub batched: bool,
    /// Products to compute (1 when not batched; may be 0 for an empty batch).
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
        _ => 1,
    };
    Ok(MatmulShape {
        batched: a_shape.len() == 3 || b_shape.len() == 3,
        batch,
        m,
        k: ka,
        n,
        a_stride: if a3 { m * ka } else { 0 },
        b_stride: if b3 { ka * n } else { 0 },
    })
}

/// c = a @ b for the geometry `s`. `c` has batch*M*N elements.
pub fn matmul(a: &[f32], b: &[f32], c: &mut [f32], s: &MatmulShape, trans_a: bool, trans_b: bool) {
    let (m, k, n) = (s.m, s.k, s.n);
    let threads = parallel::num_threads();
    if s.batch == 1 {
        // One product: the calling thread works and wakes pool workers only for big products
        // (`parallel::run_tasks` inside sgemm), no `install` round trip.
        sgemm(a, b, c, m, k, n, trans_a, trans_b, false, threads);
        return;
    }
    if threads == 1 {
        // No pool to enter: the products one after the other on this thread.
        if m * n > 0 {
            for (i, ci) in c.chunks_mut(m * n).take(s.batch).enumerate() {
                sgemm(&a[i * s.a_stride..], &b[i * s.b_stride..], ci, m, k, n, trans_a, trans_b, false, 1);
            }
        }
        return;
    }
    parallel::install(|| {
        if s.batch == 0 {
            return;
        }
        if s.batch == 1 {
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
    use crate::kernels::test_data::data;
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

    fn close(x: &[f32], y: &[f32], k: usize) {
        let tol = 1e-5 * (k as f32).max(1.0) + 1e-5;
        for (i, (a, b)) in x.iter().zip(y).enumerate() {
            assert!((a - b).abs() <= tol, "element {i}: {a} vs {b}");
        }
    }

    /// Run every backend on one case and compare with the f64 naive product (+ the old c).
    #[allow(clippy::too_many_arguments)]
    fn check(m: usize, k: usize, n: usize, ta: bool, tb: bool, acc: bool, threads: usize, seed: u64) {
        let a = data(m * k, seed);
        let b = data(k * n, seed ^ 7);
        let c0 = data(m * n, seed ^ 11);
        let mut want = naive(&a, &b, m, k, n, ta, tb);
        if acc {
            want.iter_mut().zip(&c0).for_each(|(w, c)| *w += c);
        }
        for be in [Backend::Packed, Backend::GemmCrate, Backend::MatrixMultiply] {
            // Without accumulate the old contents must be ignored: start from NaN.
            let mut c = if acc { c0.clone() } else { vec![f32::NAN; m * n] };
            sgemm_with(be, &a, &b, &mut c, m, k, n, ta, tb, acc, threads);
            close(&c, &want, k);
        }
        if m == 0 || n == 0 || k == 0 {
            return;
        }
        let (a_rs, a_cs) = if ta { (1, m) } else { (k, 1) };
        let (b_rs, b_cs) = if tb { (1, k) } else { (n, 1) };
        let av = View { ptr: a.as_ptr(), rs: a_rs, cs: a_cs };
        let bv = View { ptr: b.as_ptr(), rs: b_rs, cs: b_cs };
        // Every micro-kernel this CPU runs, through the packed loops (no skinny shortcut).
        for ks in gemm_microkernel::candidates() {
            let mut c = if acc { c0.clone() } else { vec![f32::NAN; m * n] };
            unsafe { gemm_packed::sgemm_packed_with(&ks, av, bv, c.as_mut_ptr(), n, m, k, n, acc, threads) };
            close(&c, &want, k);
        }
        // The skinny path on every instruction set, both orientations.
        for isa in isas() {
            if m <= SKINNY_MAX {
                let mut c = if acc { c0.clone() } else { vec![f32::NAN; m * n] };
                let done = unsafe {
                    gemm_skinny::sgemm_skinny_isa(isa, av, bv, c.as_mut_ptr(), n, 1, m, k, n, acc, threads)
                };
                assert!(done);
                close(&c, &want, k);
            }
            if n <= SKINNY_MAX {
                let mut c = if acc { c0.clone() } else { vec![f32::NAN; m * n] };
                let bt = View { ptr: b.as_ptr(), rs: b_cs, cs: b_rs };
                let at = View { ptr: a.as_ptr(), rs: a_cs, cs: a_rs };
                let done = unsafe {
                    gemm_skinny::sgemm_skinny_isa(isa, bt, at, c.as_mut_ptr(), 1, n, n, k, m, acc, threads)
                };
                assert!(done);
                close(&c, &want, k);
            }
        }
    }

    fn isas() -> Vec<gemm_microkernel::Isa> {
        use gemm_microkernel::{has_avx2, has_avx512, Isa};
        let mut v = vec![Isa::Portable];
        if has_avx2() {
            v.push(Isa::Avx2);
        }
        if has_avx512() {
            v.push(Isa::Avx512);
        }
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn sgemm_matches_naive(m in 0usize..70, k in 0usize..70, n in 0usize..70,
                               ta in any::<bool>(), tb in any::<bool>(), acc in any::<bool>(),
                               threads in 1usize..4, seed in any::<u64>()) {
            check(m, k, n, ta, tb, acc, threads, seed);
        }

        // Sizes spanning several KC (256) deep and MC (144) tall blocks, ragged at every edge.
        #[test]
        fn sgemm_multi_block_matches_naive(m in 140usize..300, k in 250usize..530, n in 1usize..40,
                                           ta in any::<bool>(), tb in any::<bool>(),
                                           acc in any::<bool>(), seed in any::<u64>()) {
            check(m, k, n, ta, tb, acc, 2, seed);
        }
    }

    #[test]
    fn edge_sizes_every_path() {
        for &(m, k, n) in &[(0, 3, 4), (3, 0, 4), (3, 4, 0), (1, 1, 1), (1, 7, 1), (6, 1, 16), (7, 3, 17),
                            (5, 300, 33), (1, 64, 5000), (2, 3, 4099), (13, 1, 33), (12, 2, 32),
                            (25, 5, 97), (14, 257, 31), (11, 129, 47), (29, 1, 49)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    for acc in [false, true] {
                        for threads in [1, 2] {
                            check(m, k, n, ta, tb, acc, threads, (m * 1000 + k * 10 + n) as u64);
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        // Skinny shapes (few rows or few columns) with long K and wide N: the tile tails, the
        // K split across threads and the partial vector loads.
        #[test]
        fn sgemm_skinny_matches_naive(small in 1usize..=5, k in 1usize..1200, big in 1usize..300,
                                      rows_small in any::<bool>(), ta in any::<bool>(),
                                      tb in any::<bool>(), acc in any::<bool>(),
                                      threads in 1usize..4, seed in any::<u64>()) {
            let (m, n) = if rows_small { (small, big) } else { (big, small) };
            check(m, k, n, ta, tb, acc, threads, seed);
        }
    }

    #[test]
    fn skinny_edge_sizes() {
        // Single-sample dense shapes, k split (few column tiles, long K), tile tails, k = 1.
        for &(m, k, n) in &[(1, 1, 1), (1, 1, 17), (4, 1, 4), (1, 4096, 130), (4, 3000, 70), (3, 2049, 65),
                            (2, 700, 1), (1, 128, 10), (1, 16, 4099), (1, 5000, 3), (4, 17, 4), (5, 9, 4)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    for acc in [false, true] {
                        for threads in [1, 2, 3] {
                            check(m, k, n, ta, tb, acc, threads, (m * 31 + k * 7 + n) as u64);
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        // The K split (small C, K at least 8 KC blocks deep) and the few-rows path (M <= MC,
        // many columns), ragged everywhere, transposed operands, every micro-kernel.
        #[test]
        fn k_split_and_few_rows_match_naive(m in 5usize..40, deep in 2048usize..2600, wide in 3100usize..3400,
                                            ta: bool, tb: bool, acc: bool, threads in 1usize..4) {
            check(m, deep, 37, ta, tb, acc, threads, 5);
            check(m, 70, wide, ta, tb, acc, threads, 6);
        }
    }

    #[test]
    fn same_bits_on_any_thread_count() {
        for &(m, k, n, ta, tb) in &[(3, 5000, 300, false, false), (1, 9000, 130, true, false),
                                    (2, 4500, 77, false, true), (700, 3000, 2, false, false),
                                    (200, 300, 150, false, false), (4, 500, 4100, false, false),
                                    (32, 9000, 128, false, false), (30, 4100, 50, true, true),
                                    (32, 128, 3100, false, true), (100, 700, 900, true, false)] {
            let a = data(m * k, 1);
            let b = data(k * n, 2);
            let mut first = vec![0.0f32; m * n];
            sgemm(&a, &b, &mut first, m, k, n, ta, tb, false, 1);
            for threads in [2, 3, 4] {
                let mut c = vec![0.0f32; m * n];
                sgemm(&a, &b, &mut c, m, k, n, ta, tb, false, threads);
                assert!(c.iter().zip(&first).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}x{k}x{n} t={threads}");
            }
        }
    }

    #[test]
    fn kernel_specs_are_consistent() {
        let all = gemm_microkernel::candidates();
        assert!(all.iter().any(|s| s.name.starts_with("portable")));
        for s in &all {
            assert!(s.mr * s.nr <= gemm_microkernel::MAX_TILE && s.mc % s.mr == 0, "{s:?}");
        }
        let chosen = gemm_microkernel::spec();
        assert!(all.iter().any(|s| s.name == chosen.name));
        if gemm_microkernel::has_avx512() {
            assert!(chosen.name.starts_with("avx512"), "{chosen:?}");
        }
    }

    #[test]
    fn k_zero_overwrites_or_keeps() {
        let mut c = vec![3.0f32; 6];
        sgemm(&[], &[], &mut c, 2, 0, 3, false, false, true, 1);
        assert_eq!(c, vec![3.0; 6]);
        sgemm(&[], &[], &mut c, 2, 0, 3, false, false, false, 1);
        assert_eq!(c, vec![0.0; 6]);
    }

    #[test]
    fn nan_propagates() {
        let (m, k, n) = (9, 20, 18);
        let mut a = data(m * k, 1);
        a[3 * k + 5] = f32::NAN;
        let b = data(k * n, 2);
        let mut c = vec![0.0; m * n];
        sgemm(&a, &b, &mut c, m, k, n, false, false, false, 2);
        for i in 0..m {
            for j in 0..n {
                assert_eq!(c[i * n + j].is_nan(), i == 3, "({i},{j})");
            }
        }
    }

    #[test]
    fn large_parallel_matches_naive() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            check(301, 517, 290, ta, tb, true, 2, 3);
        }
    }

    #[test]
    fn batched_with_broadcast() {
        let s = matmul_shape(&[3, 4, 5], &[5, 6], false, false).unwrap();
        assert_eq!((s.batch, s.m, s.k, s.n, s.a_stride, s.b_stride), (3, 4, 5, 6, 20, 0));
        assert!(s.batched);
        let e = matmul_shape(&[0, 4, 5], &[1, 5, 6], false, false).unwrap();
        assert_eq!((e.batched, e.batch), (true, 0));
        let p = matmul_shape(&[4, 5], &[5, 6], false, false).unwrap();
        assert_eq!((p.batched, p.batch), (false, 1));
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
