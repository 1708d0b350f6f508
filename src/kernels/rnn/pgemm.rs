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

/// B[k,n] (or B^T when packed from a [n,k] matrix) in panels of NR columns.
pub struct PackedB {
    data: Vec<f32>,
    k: usize,
    n: usize,
}

impl PackedB {
    /// Pack b: a contiguous [k,n] matrix, or [n,k] when `trans_b` (then the product uses b^T).
    pub fn new(b: &[f32], k: usize, n: usize, trans_b: bool) -> PackedB {
        assert!(b.len() >= k * n, "PackedB: b too small");
        let panels = n.div_ceil(NR);
        let mut data = vec![0.0f32; panels * k * NR];
        for p in 0..panels {
            let j0 = p * NR;
            let w = NR.min(n - j0);
            let panel = &mut data[p * k * NR..(p + 1) * k * NR];
            for kk in 0..k {
                let dst = &mut panel[kk * NR..kk * NR + w];
                if trans_b {
                    for (j, v) in dst.iter_mut().enumerate() {
                        *v = b[(j0 + j) * k + kk];
                    }
                } else {
                    dst.copy_from_slice(&b[kk * n + j0..kk * n + j0 + w]);
                }
            }
        }
        PackedB { data, k, n }
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

/// Whether the AVX2/FMA paths (this product and the vectorized gate math) are taken.
pub fn simd_available() -> bool {
    has_avx2_fma()
}

/// c (m rows of b.n, row stride ldc) = [c +] a (m rows of b.k, row stride lda) @ B.
pub fn gemm_pb(a: &[f32], lda: usize, b: &PackedB, c: &mut [f32], ldc: usize, m: usize, accumulate: bool) {
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
    assert!(lda >= k && a.len() >= (m - 1) * lda + k, "gemm_pb: a too small");
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the features were detected; the asserts above bound every row touched.
        unsafe { gemm_pb_avx2(a, lda, b, c, ldc, m, accumulate) };
        return;
    }
    gemm_pb_portable(a, lda, b, c, ldc, m, accumulate);
}

fn gemm_pb_portable(a: &[f32], lda: usize, b: &PackedB, c: &mut [f32], ldc: usize, m: usize, accumulate: bool) {
    let (k, n) = (b.k, b.n);
    let mut acc = [0.0f32; NR];
    for p in 0..n.div_ceil(NR) {
        let j0 = p * NR;
        let w = NR.min(n - j0);
        let panel = &b.data[p * k * NR..(p + 1) * k * NR];
        for r in 0..m {
            acc.fill(0.0);
            let arow = &a[r * lda..r * lda + k];
            for (kk, &av) in arow.iter().enumerate() {
                let brow = &panel[kk * NR..kk * NR + NR];
                for j in 0..NR {
                    acc[j] += av * brow[j];
                }
            }
            let crow = &mut c[r * ldc + j0..r * ldc + j0 + w];
            if accumulate {
                for (cv, v) in crow.iter_mut().zip(&acc) {
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

/// A is first copied into MR-row micro-panels ([k][MR], zero rows past m): the rows of a
/// timestep of a batch-first buffer sit T*W floats apart, often a multiple of 4 KiB, and read
/// in place they would all compete for the same L1 sets. Then each micro-panel (L1-resident)
/// meets every B panel (streamed from L2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_pb_avx2(a: &[f32], lda: usize, b: &PackedB, c: &mut [f32], ldc: usize, m: usize, accumulate: bool) {
    let (k, n) = (b.k, b.n);
    let blocks = m.div_ceil(MR);
    A_PACK.with(|cell| {
        let mut ap = cell.borrow_mut();
        ap.clear();
        ap.resize(blocks * MR * k, 0.0);
        for r in 0..m {
            let (blk, rr) = (r / MR, r % MR);
            let dst = &mut ap[blk * MR * k..(blk + 1) * MR * k];
            for (kk, &v) in a[r * lda..r * lda + k].iter().enumerate() {
                dst[kk * MR + rr] = v;
            }
        }
        let cp = c.as_mut_ptr();
        for blk in 0..blocks {
            let r0 = blk * MR;
            let rows = MR.min(m - r0);
            let a0 = ap.as_ptr().add(blk * MR * k);
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
                let pb = PackedB::new(&b, k, n, tb);
                for acc in [false, true] {
                    let mut c = vec![1.0f32; m * ldc];
                    gemm_pb(&a, lda, &pb, &mut c, ldc, m, acc);
                    let mut c2 = vec![1.0f32; m * ldc];
                    gemm_pb_portable(&a, lda, &pb, &mut c2, ldc, m, acc);
                    for r in 0..m {
                        for j in 0..n {
                            let w = want[r * n + j] + if acc { 1.0 } else { 0.0 };
                            assert!((c[r * ldc + j] - w).abs() < 1e-4, "{m} {k} {n} {tb} {acc}");
                            assert!((c2[r * ldc + j] - w).abs() < 1e-4, "{m} {k} {n} {tb} {acc}");
                        }
                        assert_eq!(&c[r * ldc + n..r * ldc + ldc], &[1.0, 1.0]);
                    }
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
