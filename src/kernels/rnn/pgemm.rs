//! The recurrent product of every timestep, h_{t-1} @ U (forward) and dG_t @ U^T (backward), with
//! its B operand packed ONCE per call and reused by all T steps.
//!
//! The general sgemm (and the `gemm` crate) re-pack B on every call; for a per-step product such
//! as [64,128] @ [128,512] that packing (and the dispatch around it) is a large share of the step.
//! Here B is laid out in panels of 16 columns ([k][16] contiguous, the last one zero-padded) and
//! an AVX2/FMA micro-kernel (run-time detected; portable loop otherwise) computes 6x16 blocks of
//! C reading A in place through its row stride, so a timestep of a batch-first [N,T,*] buffer is
//! used without a copy.

/// Panel width: two 8-float registers.
const NR: usize = 16;
/// Rows per micro-kernel call: 6 x 2 accumulators + 2 B registers + 1 broadcast = 15 of 16 ymm.
const MR: usize = 6;
/// AVX-512: panels of 32 columns (two zmm), 8 rows: 16 accumulators of the 32 zmm registers.
const NR512: usize = 32;
const MR512: usize = 8;

/// B[k,n] (or B^T when packed from a [n,k] matrix) in panels of NR columns.
pub struct PackedB {
    data: Vec<f32>,
    k: usize,
    n: usize,
    /// panel width: 32 for the AVX-512 kernel, 16 otherwise
    nr: usize,
}

impl PackedB {
    /// Pack b: a contiguous [k,n] matrix, or [n,k] when `trans_b` (then the product uses b^T).
    pub fn new(b: &[f32], k: usize, n: usize, trans_b: bool) -> PackedB {
        Self::with_panel(b, k, n, trans_b, if has_avx512() { NR512 } else { NR })
    }

    fn with_panel(b: &[f32], k: usize, n: usize, trans_b: bool, nr: usize) -> PackedB {
        assert!(b.len() >= k * n, "PackedB: b too small");
        let panels = n.div_ceil(nr);
        let mut data = vec![0.0f32; panels * k * nr];
        for p in 0..panels {
            let j0 = p * nr;
            let w = nr.min(n - j0);
            let panel = &mut data[p * k * nr..(p + 1) * k * nr];
            for kk in 0..k {
                let dst = &mut panel[kk * nr..kk * nr + w];
                if trans_b {
                    for (j, v) in dst.iter_mut().enumerate() {
                        *v = b[(j0 + j) * k + kk];
                    }
                } else {
                    dst.copy_from_slice(&b[kk * n + j0..kk * n + j0 + w]);
                }
            }
        }
        PackedB { data, k, n, nr }
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn n(&self) -> usize {
        self.n
    }
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static F: OnceLock<bool> = OnceLock::new();
        *F.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static F: OnceLock<bool> = OnceLock::new();
        *F.get_or_init(|| {
            std::env::var("AIAAS_RNN_NO_AVX512").is_err() && is_x86_feature_detected!("avx512f") && has_avx2_fma()
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the AVX2/FMA paths (this product and the vectorized gate math) are taken.
pub fn simd_available() -> bool {
    has_avx2_fma()
}

/// c (m rows of b.n, row stride ldc) = [c +] a (m rows of b.k, row stride lda) @ B.
pub fn gemm_pb(a: &[f32], lda: usize, b: &PackedB, c: &mut [f32], ldc: usize, m: usize, accumulate: bool) {
    gemm_pb_op(a, lda, false, b, c, ldc, m, accumulate)
}

/// `gemm_pb` with A given transposed: A[i, kk] = a[kk*lda + i] (a holds b.k rows of >= m).
pub fn gemm_pb_ta(a: &[f32], lda: usize, b: &PackedB, c: &mut [f32], ldc: usize, m: usize, accumulate: bool) {
    gemm_pb_op(a, lda, true, b, c, ldc, m, accumulate)
}

#[allow(clippy::too_many_arguments)]
fn gemm_pb_op(a: &[f32], lda: usize, trans_a: bool, b: &PackedB, c: &mut [f32], ldc: usize, m: usize, accumulate: bool) {
    let (k, n) = (b.k, b.n);
    if m == 0 || n == 0 {
        return;
    }
    assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "gemm_pb: c too small");
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                c[r * ldc..r * ldc + n].fill(0.0);
            }
        }
        return;
    }
    if trans_a {
        assert!(lda >= m && a.len() >= (k - 1) * lda + m, "gemm_pb: a too small");
    } else {
        assert!(lda >= k && a.len() >= (m - 1) * lda + k, "gemm_pb: a too small");
    }
    #[cfg(target_arch = "x86_64")]
    if b.nr == NR512 {
        // SAFETY: B was packed for this kernel only after AVX-512F was detected; the asserts
        // above bound every row touched.
        unsafe { gemm_pb_avx512(a, lda, trans_a, b, c, ldc, m, accumulate) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if b.nr == NR && has_avx2_fma() {
        // SAFETY: the features were detected; the asserts above bound every row touched.
        unsafe { gemm_pb_avx2(a, lda, trans_a, b, c, ldc, m, accumulate) };
        return;
    }
    gemm_pb_portable(a, lda, trans_a, b, c, ldc, m, accumulate);
}

#[allow(clippy::too_many_arguments)]
fn gemm_pb_portable(a: &[f32], lda: usize, trans_a: bool, b: &PackedB, c: &mut [f32], ldc: usize, m: usize, accumulate: bool) {
    let (k, n, nr) = (b.k, b.n, b.nr);
    let mut acc = [0.0f32; NR512];
    let acc = &mut acc[..nr];
    for p in 0..n.div_ceil(nr) {
        let j0 = p * nr;
        let w = nr.min(n - j0);
        let panel = &b.data[p * k * nr..(p + 1) * k * nr];
        for r in 0..m {
            acc.fill(0.0);
            for kk in 0..k {
                let av = if trans_a { a[kk * lda + r] } else { a[r * lda + kk] };
                let brow = &panel[kk * nr..kk * nr + nr];
                for j in 0..nr {
                    acc[j] += av * brow[j];
                }
            }
            let crow = &mut c[r * ldc + j0..r * ldc + j0 + w];
            if accumulate {
                for (cv, v) in crow.iter_mut().zip(acc.iter()) {
                    *cv += v;
                }
            } else {
                crow.copy_from_slice(&acc[..w]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
thread_local! {
    /// A re-laid out as [row block][k][MR] (reused across calls on this thread).
    static A_PACK: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Rows r0..r0+rows of A (k columns) -> dst[k][MRP], rows past `rows` zero. A is row-major
/// with row stride lda, or when `trans_a` stored as its transpose (A[i,kk] = a[kk*lda + i]).
/// Kept out of the AVX-512 functions on purpose: there the compiler turns the strided writes
/// into scatters, which are slow on AMD.
#[inline(never)]
fn pack_block<const MRP: usize>(a: &[f32], lda: usize, trans_a: bool, r0: usize, rows: usize, k: usize, dst: &mut [f32]) {
    let dst = &mut dst[..MRP * k];
    if trans_a {
        if rows == MRP {
            // Fixed-size copies: inlined moves instead of a memmove call per 8 floats.
            for (kk, d) in dst.chunks_exact_mut(MRP).enumerate() {
                let s: &[f32; MRP] = a[kk * lda + r0..kk * lda + r0 + MRP].try_into().unwrap();
                let d: &mut [f32; MRP] = d.try_into().unwrap();
                *d = *s;
            }
        } else {
            for (kk, d) in dst.chunks_exact_mut(MRP).enumerate() {
                for rr in 0..MRP {
                    d[rr] = if rr < rows { a[kk * lda + r0 + rr] } else { 0.0 };
                }
            }
        }
    } else if rows == MRP {
        let src: [&[f32]; MRP] = std::array::from_fn(|rr| &a[(r0 + rr) * lda..(r0 + rr) * lda + k]);
        for (kk, d) in dst.chunks_exact_mut(MRP).enumerate() {
            for rr in 0..MRP {
                d[rr] = src[rr][kk];
            }
        }
    } else {
        dst.fill(0.0);
        for rr in 0..rows {
            let src = &a[(r0 + rr) * lda..(r0 + rr) * lda + k];
            for (kk, &v) in src.iter().enumerate() {
                dst[kk * MRP + rr] = v;
            }
        }
    }
}

/// A is first copied into MR-row micro-panels ([k][MR], zero rows past m): the rows of a
/// timestep of a batch-first buffer sit T*W floats apart, often a multiple of 4 KiB, and read
/// in place they would all compete for the same L1 sets. Then each micro-panel (L1-resident)
/// meets every B panel (streamed from L2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_pb_avx2(a: &[f32], lda: usize, trans_a: bool, b: &PackedB, c: &mut [f32], ldc: usize, m: usize, accumulate: bool) {
    let (k, n) = (b.k, b.n);
    let blocks = m.div_ceil(MR);
    A_PACK.with(|cell| {
        let mut ap = cell.borrow_mut();
        ap.resize(MR * k, 0.0);
        let cp = c.as_mut_ptr();
        for blk in 0..blocks {
            let r0 = blk * MR;
            let rows = MR.min(m - r0);
            pack_block::<MR>(a, lda, trans_a, r0, rows, k, &mut ap);
            let a0 = ap.as_ptr();
            for p in 0..n.div_ceil(NR) {
                let j0 = p * NR;
                let w = NR.min(n - j0);
                let bp = b.data.as_ptr().add(p * k * NR);
                let c0 = cp.add(r0 * ldc + j0);
                match rows {
                    6 => kernel::<6>(k, a0, bp, c0, ldc, w, accumulate),
                    5 => kernel::<5>(k, a0, bp, c0, ldc, w, accumulate),
                    4 => kernel::<4>(k, a0, bp, c0, ldc, w, accumulate),
                    3 => kernel::<3>(k, a0, bp, c0, ldc, w, accumulate),
                    2 => kernel::<2>(k, a0, bp, c0, ldc, w, accumulate),
                    _ => kernel::<1>(k, a0, bp, c0, ldc, w, accumulate),
                }
            }
        }
    });
}

/// The AVX-512 twin of `gemm_pb_avx2`: 8-row micro-panels of A, 8x32 blocks of C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_pb_avx512(a: &[f32], lda: usize, trans_a: bool, b: &PackedB, c: &mut [f32], ldc: usize, m: usize, accumulate: bool) {
    let (k, n) = (b.k, b.n);
    let blocks = m.div_ceil(MR512);
    A_PACK.with(|cell| {
        let mut ap = cell.borrow_mut();
        ap.resize(MR512 * k, 0.0);
        let cp = c.as_mut_ptr();
        for blk in 0..blocks {
            let r0 = blk * MR512;
            let rows = MR512.min(m - r0);
            pack_block::<MR512>(a, lda, trans_a, r0, rows, k, &mut ap);
            let a0 = ap.as_ptr();
            for p in 0..n.div_ceil(NR512) {
                let j0 = p * NR512;
                let w = NR512.min(n - j0);
                let bp = b.data.as_ptr().add(p * k * NR512);
                let c0 = cp.add(r0 * ldc + j0);
                match rows {
                    8 => kernel512::<8>(k, a0, bp, c0, ldc, w, accumulate),
                    7 => kernel512::<7>(k, a0, bp, c0, ldc, w, accumulate),
                    6 => kernel512::<6>(k, a0, bp, c0, ldc, w, accumulate),
                    5 => kernel512::<5>(k, a0, bp, c0, ldc, w, accumulate),
                    4 => kernel512::<4>(k, a0, bp, c0, ldc, w, accumulate),
                    3 => kernel512::<3>(k, a0, bp, c0, ldc, w, accumulate),
                    2 => kernel512::<2>(k, a0, bp, c0, ldc, w, accumulate),
                    _ => kernel512::<1>(k, a0, bp, c0, ldc, w, accumulate),
                }
            }
        }
    });
}

/// R rows x 32 columns of C over the whole k; columns past `w` are masked off.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn kernel512<const R: usize>(
    k: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    w: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut lo = [_mm512_setzero_ps(); R];
    let mut hi = [_mm512_setzero_ps(); R];
    for kk in 0..k {
        let b0 = _mm512_loadu_ps(b.add(kk * NR512));
        let b1 = _mm512_loadu_ps(b.add(kk * NR512 + 16));
        for r in 0..R {
            let av = _mm512_set1_ps(*a.add(kk * MR512 + r));
            lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
            hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
        }
    }
    let m_lo: __mmask16 = if w >= 16 { 0xFFFF } else { ((1u32 << w) - 1) as __mmask16 };
    let m_hi: __mmask16 = if w >= 32 { 0xFFFF } else if w <= 16 { 0 } else { ((1u32 << (w - 16)) - 1) as __mmask16 };
    for r in 0..R {
        let cr = c.add(r * ldc);
        let (mut vlo, mut vhi) = (lo[r], hi[r]);
        if accumulate {
            vlo = _mm512_add_ps(vlo, _mm512_maskz_loadu_ps(m_lo, cr));
            vhi = _mm512_add_ps(vhi, _mm512_maskz_loadu_ps(m_hi, cr.add(16)));
        }
        _mm512_mask_storeu_ps(cr, m_lo, vlo);
        _mm512_mask_storeu_ps(cr.add(16), m_hi, vhi);
    }
}

/// R rows x 16 columns of C over the whole k: packed a[kk*MR + r] broadcast, the packed panel row kk
/// loaded as two registers. Only the first `w` columns of C are read/written.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<const R: usize>(
    k: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    w: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut lo = [_mm256_setzero_ps(); R];
    let mut hi = [_mm256_setzero_ps(); R];
    for kk in 0..k {
        let b0 = _mm256_loadu_ps(b.add(kk * NR));
        let b1 = _mm256_loadu_ps(b.add(kk * NR + 8));
        for r in 0..R {
            let av = _mm256_broadcast_ss(&*a.add(kk * MR + r));
            lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
            hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
        }
    }
    if w == NR {
        for r in 0..R {
            let cr = c.add(r * ldc);
            if accumulate {
                _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_loadu_ps(cr), lo[r]));
                _mm256_storeu_ps(cr.add(8), _mm256_add_ps(_mm256_loadu_ps(cr.add(8)), hi[r]));
            } else {
                _mm256_storeu_ps(cr, lo[r]);
                _mm256_storeu_ps(cr.add(8), hi[r]);
            }
        }
    } else {
        let mut tmp = [0.0f32; NR];
        for r in 0..R {
            _mm256_storeu_ps(tmp.as_mut_ptr(), lo[r]);
            _mm256_storeu_ps(tmp.as_mut_ptr().add(8), hi[r]);
            let cr = c.add(r * ldc);
            for (j, &v) in tmp.iter().enumerate().take(w) {
                if accumulate {
                    *cr.add(j) += v;
                } else {
                    *cr.add(j) = v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], lda: usize, b: &[f32], tb: bool, m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for r in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for kk in 0..k {
                    let bv = if tb { b[j * k + kk] } else { b[kk * n + j] };
                    s += a[r * lda + kk] as f64 * bv as f64;
                }
                c[r * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn packed_b_product_matches_naive_all_remainders() {
        for &(m, k, n) in &[(1, 1, 1), (7, 5, 17), (13, 9, 33), (6, 16, 16), (64, 20, 40), (5, 3, 7)] {
            for tb in [false, true] {
                let lda = k + 3;
                let ldc = n + 2;
                let a: Vec<f32> = (0..m * lda).map(|v| ((v * 7 % 13) as f32 - 6.0) * 0.1).collect();
                let b: Vec<f32> = (0..k * n).map(|v| ((v * 5 % 11) as f32 - 5.0) * 0.2).collect();
                let want = naive(&a, lda, &b, tb, m, k, n);
                for pb in [PackedB::new(&b, k, n, tb), PackedB::with_panel(&b, k, n, tb, NR)] {
                for acc in [false, true] {
                    let mut c = vec![1.0f32; m * ldc];
                    gemm_pb(&a, lda, &pb, &mut c, ldc, m, acc);
                    let mut c2 = vec![1.0f32; m * ldc];
                    gemm_pb_portable(&a, lda, false, &pb, &mut c2, ldc, m, acc);
                    // the same product with A stored transposed
                    let ldt = m + 3;
                    let mut at = vec![0.0f32; k * ldt];
                    for r in 0..m {
                        for kk in 0..k {
                            at[kk * ldt + r] = a[r * lda + kk];
                        }
                    }
                    let mut c3 = vec![1.0f32; m * ldc];
                    gemm_pb_ta(&at, ldt, &pb, &mut c3, ldc, m, acc);
                    let mut c4 = vec![1.0f32; m * ldc];
                    gemm_pb_portable(&at, ldt, true, &pb, &mut c4, ldc, m, acc);
                    for (x, y) in c3.iter().zip(&c4) {
                        assert!((x - y).abs() < 1e-4);
                    }
                    for (x, y) in c3.iter().zip(&c) {
                        assert!((x - y).abs() < 1e-4);
                    }
                    for r in 0..m {
                        for j in 0..n {
                            let w = want[r * n + j] + if acc { 1.0 } else { 0.0 };
                            assert!((c[r * ldc + j] - w).abs() < 1e-4, "{m} {k} {n} {tb} {acc}");
                            assert!((c2[r * ldc + j] - w).abs() < 1e-4, "{m} {k} {n} {tb} {acc}");
                        }
                        assert_eq!(&c[r * ldc + n..r * ldc + ldc], &[1.0, 1.0]);
                        assert_eq!(&c2[r * ldc + n..r * ldc + ldc], &[1.0, 1.0]);
                    }
                }
                }
            }
        }
    }
}

#[cfg(test)]
mod weight_grad_tests {
    use super::*;

    #[test]
    fn weight_grad_matches_naive_across_row_chunks() {
        // rows > WG_ROWS (several B chunks, the last partial); g not a multiple of 8.
        for &(rows, kdim, g, threads) in &[(600, 37, 50, 1), (600, 37, 50, 2), (3, 2, 5, 1), (0, 4, 6, 1)] {
            let src: Vec<f32> = (0..rows * kdim).map(|v| ((v * 7 % 17) as f32 - 8.0) * 0.05).collect();
            let dg: Vec<f32> = (0..rows * g).map(|v| ((v * 3 % 13) as f32 - 6.0) * 0.1).collect();
            let mut out = vec![f32::NAN; kdim * g];
            weight_grad(&src, &dg, rows, kdim, g, &mut out, threads);
            for i in 0..kdim {
                for j in 0..g {
                    let want: f64 = (0..rows).map(|r| src[r * kdim + i] as f64 * dg[r * g + j] as f64).sum();
                    let got = out[i * g + j] as f64;
                    assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "{rows} {kdim} {g}: {got} vs {want}");
                }
            }
        }
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    /// Not a pass/fail test: `cargo test --release -- --ignored --nocapture pgemm_timing`.
    #[test]
    #[ignore]
    fn pgemm_timing() {
        for &(m, k, n, lda) in &[(64, 128, 512, 28 * 128), (64, 512, 128, 28 * 512), (32, 128, 512, 128)] {
            let a: Vec<f32> = (0..m * lda).map(|v| (v % 7) as f32 * 0.1).collect();
            let b: Vec<f32> = (0..k * n).map(|v| (v % 5) as f32 * 0.1).collect();
            let pb = PackedB::new(&b, k, n, false);
            let mut c = vec![0.0f32; m * n];
            let reps = 2000;
            let mut best = f64::MAX;
            for _ in 0..5 {
                let t0 = std::time::Instant::now();
                for _ in 0..reps {
                    gemm_pb(&a, lda, &pb, &mut c, n, m, true);
                }
                best = best.min(t0.elapsed().as_secs_f64() / reps as f64);
            }
            println!("m{m} k{k} n{n}: {:.1} us, {:.1} GFLOP/s", best * 1e6, 2.0 * (m * k * n) as f64 / best / 1e9);
        }
    }
}

/// Rows of the weight-gradient sum per packed B chunk.
const WG_ROWS: usize = 256;

/// A weight gradient out[kdim, g] = src^T @ dg over all `rows` (src [rows, kdim], dg [rows, g],
/// both row-major), computed as (dg^T @ src)^T: dg is read in place as a transposed A (8 of its
/// columns packed at a time, so it is streamed once and never copied whole) and src, the narrower
/// operand, is the packed B. Threads split the g rows of the transposed result.
pub fn weight_grad(src: &[f32], dg: &[f32], rows: usize, kdim: usize, g: usize, out: &mut [f32], threads: usize) {
    use super::common::{for_each_block, Scratch};
    assert!(src.len() >= rows * kdim && dg.len() >= rows * g && out.len() >= kdim * g, "weight_grad: sizes");
    if kdim == 0 || g == 0 {
        return;
    }
    let mut tmp = Scratch::take(g * kdim); // [g, kdim], fully written by the products
    let threads = if rows * kdim * g >= 64 * 64 * 64 { threads.max(1) } else { 1 };
    let per = g.div_ceil(threads).div_ceil(MR512) * MR512;
    if rows == 0 {
        tmp.fill(0.0);
    }
    // The sum over rows in chunks of WG_ROWS, so the packed B chunk (WG_ROWS x kdim) stays in L2
    // while every micro-panel of dG meets it (the whole of B, e.g. 1792 x 128, would not).
    let mut k0 = 0;
    while k0 < rows {
        let kc = WG_ROWS.min(rows - k0);
        let pb = PackedB::new(&src[k0 * kdim..], kc, kdim, false);
        let blocks = tmp.chunks_mut(per * kdim).enumerate();
        let first = k0 == 0;
        for_each_block(blocks, threads, |(i, c)| {
            let r0 = i * per;
            let m = c.len() / kdim;
            gemm_pb_ta(&dg[k0 * g + r0..], g, &pb, c, kdim, m, !first);
        });
        k0 += kc;
    }
    for (j, row) in tmp.chunks_exact(kdim).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            out[i * g + j] = v;
        }
    }
}
