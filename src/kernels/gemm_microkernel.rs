//! The MR x NR micro-kernels at the heart of the packed sgemm: c[MR,NR] (+)= a_panel @ b_panel.
//!
//! `a` is a packed panel laid out [kc][MR] (one column of MR rows per step), `b` a packed panel
//! [kc][NR]. 6x16 keeps 12 ymm accumulators + 2 B vectors + 1 broadcast A = 15 of the 16 AVX2
//! registers busy, and per k step issues 12 FMAs against 8 loads: enough independent FMAs to
//! cover the 4-cycle FMA latency on both pipes (the BLIS Haswell/Zen choice).

/// Rows of C one micro-kernel call produces.
pub const MR: usize = 6;
/// Columns of C one micro-kernel call produces.
pub const NR: usize = 16;

/// A micro-kernel: (kc, a panel, b panel, c, c row stride, overwrite). Writes the full MR x NR
/// tile at `c`: `c = a@b` when `overwrite`, else `c += a@b`.
pub type MicroKernel = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, bool);

/// The fastest micro-kernel this CPU runs (checked at run time, so one binary serves all x86-64).
pub fn select() -> MicroKernel {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return kernel_avx2_entry;
        }
    }
    kernel_portable
}

#[cfg(target_arch = "x86_64")]
unsafe fn kernel_avx2_entry(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, overwrite: bool) {
    // SAFETY: `select` returns this only after detecting avx2 and fma.
    unsafe { kernel_avx2(kc, a, b, c, ldc, overwrite) }
}

/// AVX2+FMA 6x16 kernel.
///
/// # Safety
/// `a` holds kc*MR floats, `b` kc*NR floats, and `c` a 6x16 tile with row stride `ldc`;
/// the CPU supports avx2 and fma.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn kernel_avx2(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, overwrite: bool) {
    use std::arch::x86_64::*;
    unsafe {
        let mut c00 = _mm256_setzero_ps();
        let mut c01 = _mm256_setzero_ps();
        let mut c10 = _mm256_setzero_ps();
        let mut c11 = _mm256_setzero_ps();
        let mut c20 = _mm256_setzero_ps();
        let mut c21 = _mm256_setzero_ps();
        let mut c30 = _mm256_setzero_ps();
        let mut c31 = _mm256_setzero_ps();
        let mut c40 = _mm256_setzero_ps();
        let mut c41 = _mm256_setzero_ps();
        let mut c50 = _mm256_setzero_ps();
        let mut c51 = _mm256_setzero_ps();
        // Warm the C tile while the FMAs run: it is read (or written) right after the loop.
        for r in 0..MR {
            _mm_prefetch::<_MM_HINT_T0>(c.add(r * ldc) as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(c.add(r * ldc + NR - 1) as *const i8);
        }
        let mut ap = a;
        let mut bp = b;
        macro_rules! step {
            ($off:expr) => {{
                let b0 = _mm256_loadu_ps(bp.add($off * NR));
                let b1 = _mm256_loadu_ps(bp.add($off * NR + 8));
                let a0 = _mm256_broadcast_ss(&*ap.add($off * MR));
                c00 = _mm256_fmadd_ps(a0, b0, c00);
                c01 = _mm256_fmadd_ps(a0, b1, c01);
                let a1 = _mm256_broadcast_ss(&*ap.add($off * MR + 1));
                c10 = _mm256_fmadd_ps(a1, b0, c10);
                c11 = _mm256_fmadd_ps(a1, b1, c11);
                let a2 = _mm256_broadcast_ss(&*ap.add($off * MR + 2));
                c20 = _mm256_fmadd_ps(a2, b0, c20);
                c21 = _mm256_fmadd_ps(a2, b1, c21);
                let a3 = _mm256_broadcast_ss(&*ap.add($off * MR + 3));
                c30 = _mm256_fmadd_ps(a3, b0, c30);
                c31 = _mm256_fmadd_ps(a3, b1, c31);
                let a4 = _mm256_broadcast_ss(&*ap.add($off * MR + 4));
                c40 = _mm256_fmadd_ps(a4, b0, c40);
                c41 = _mm256_fmadd_ps(a4, b1, c41);
                let a5 = _mm256_broadcast_ss(&*ap.add($off * MR + 5));
                c50 = _mm256_fmadd_ps(a5, b0, c50);
                c51 = _mm256_fmadd_ps(a5, b1, c51);
            }};
        }
        let mut p = 0;
        while p + 4 <= kc {
            // Pull the B panel a few steps ahead into L1 (A's panel is small and already hot).
            _mm_prefetch::<_MM_HINT_T0>(bp.add(8 * NR) as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(bp.add(10 * NR) as *const i8);
            step!(0);
            step!(1);
            step!(2);
            step!(3);
            ap = ap.add(4 * MR);
            bp = bp.add(4 * NR);
            p += 4;
        }
        while p < kc {
            step!(0);
            ap = ap.add(MR);
            bp = bp.add(NR);
            p += 1;
        }
        let rows = [[c00, c01], [c10, c11], [c20, c21], [c30, c31], [c40, c41], [c50, c51]];
        for (r, [lo, hi]) in rows.into_iter().enumerate() {
            let cr = c.add(r * ldc);
            if overwrite {
                _mm256_storeu_ps(cr, lo);
                _mm256_storeu_ps(cr.add(8), hi);
            } else {
                _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_loadu_ps(cr), lo));
                _mm256_storeu_ps(cr.add(8), _mm256_add_ps(_mm256_loadu_ps(cr.add(8)), hi));
            }
        }
    }
}

/// Plain-Rust kernel for CPUs without AVX2/FMA (the compiler vectorises it for the baseline ISA).
///
/// # Safety
/// Same buffers as `kernel_avx2`.
pub unsafe fn kernel_portable(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, overwrite: bool) {
    let mut acc = [[0.0f32; NR]; MR];
    unsafe {
        let a = std::slice::from_raw_parts(a, kc * MR);
        let b = std::slice::from_raw_parts(b, kc * NR);
        for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
            for (row, &av) in acc.iter_mut().zip(ap) {
                for (x, &bv) in row.iter_mut().zip(bp) {
                    *x += av * bv;
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let cr = std::slice::from_raw_parts_mut(c.add(r * ldc), NR);
            if overwrite {
                cr.copy_from_slice(row);
            } else {
                for (x, v) in cr.iter_mut().zip(row) {
                    *x += v;
                }
            }
        }
    }
}
