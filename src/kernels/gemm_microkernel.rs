//! The MR x NR micro-kernels at the heart of the packed sgemm: c[MR,NR] (+)= a_panel @ b_panel,
//! and the `KernelSpec` (shape + blocking) the packed loops follow, chosen once at run time.
//!
//! `a` is a packed panel laid out [kc][MR] (one column of MR rows per step), `b` a packed panel
//! [kc][NR]. AVX2 6x16 keeps 12 ymm accumulators + 2 B vectors + 1 broadcast A = 15 of the 16
//! registers busy, and per k step issues 12 FMAs against 8 loads: enough independent FMAs to
//! cover the 4-cycle FMA latency on both pipes (the BLIS Haswell/Zen choice).
//! With AVX-512 there are 32 zmm registers: the kernels below are generic over MR rows and NV zmm
//! vectors per row (NR = 16*NV), e.g. 12x32 = 24 accumulators + 2 B vectors + 1 broadcast.
//! `AIAAS_DISABLE_AVX512=1` (read once) keeps the AVX2 path on AVX-512 machines;
//! `AIAAS_GEMM_KERNEL=<name>` (read once) picks a candidate by name (benchmarks).

#![allow(clippy::needless_range_loop)]

use std::sync::OnceLock;

/// Rows of C the AVX2 / portable micro-kernel produces.
pub const MR: usize = 6;
/// Columns of C the AVX2 / portable micro-kernel produces.
pub const NR: usize = 16;
/// Largest MR*NR of any kernel (edge-tile scratch size).
pub const MAX_TILE: usize = 16 * 64;

/// A micro-kernel: (kc, a panel, b panel, c, c row stride, overwrite). Writes the full MR x NR
/// tile at `c`: `c = a@b` when `overwrite`, else `c += a@b`.
pub type MicroKernel = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, bool);

/// A micro-kernel with its shape and the cache blocking tuned for it. Packing widths follow
/// `mr` / `nr`.
#[derive(Clone, Copy, Debug)]
pub struct KernelSpec {
    pub name: &'static str,
    pub mr: usize,
    pub nr: usize,
    pub kernel: MicroKernel,
    /// Rows of A per packed block (MC x KC stays in L2).
    pub mc: usize,
    /// Depth of one packed block (a KC x NR panel of B stays in L1).
    pub kc: usize,
    /// Columns of B per packed block (KC x NC shared in L3).
    pub nc: usize,
}

/// The instruction set the SIMD paths (micro-kernels, skinny products) use on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2,
    Portable,
}

/// `AIAAS_DISABLE_AVX512=1` (or any value but "" / "0"), read once.
pub fn avx512_disabled() -> bool {
    static D: OnceLock<bool> = OnceLock::new();
    *D.get_or_init(|| {
        std::env::var("AIAAS_DISABLE_AVX512").map(|v| !v.is_empty() && v != "0").unwrap_or(false)
    })
}

/// Whether this CPU runs the AVX-512 kernels (and they are not disabled).
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        !avx512_disabled() && is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU runs the AVX2+FMA kernels.
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The best instruction set here, read once.
pub fn isa() -> Isa {
    static I: OnceLock<Isa> = OnceLock::new();
    *I.get_or_init(|| {
        if has_avx512() {
            Isa::Avx512
        } else if has_avx2() {
            Isa::Avx2
        } else {
            Isa::Portable
        }
    })
}

const PORTABLE: KernelSpec =
    KernelSpec { name: "portable6x16", mr: MR, nr: NR, kernel: kernel_portable, mc: 144, kc: 256, nc: 4096 };

/// Every kernel this CPU can run, the default first (tests run them all; benchmarks pick by name).
pub fn candidates() -> Vec<KernelSpec> {
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            v.extend_from_slice(&AVX512_SPECS);
        }
        if has_avx2() {
            v.push(KernelSpec {
                name: "avx2_6x16",
                mr: MR,
                nr: NR,
                kernel: kernel_avx2_entry,
                mc: 144,
                kc: 256,
                nc: 4096,
            });
        }
    }
    v.push(PORTABLE);
    v
}

/// The kernel the packed sgemm uses, chosen once: `AIAAS_GEMM_KERNEL` by name if set and
/// runnable, else the first candidate (AVX-512 > AVX2 > portable).
pub fn spec() -> &'static KernelSpec {
    static S: OnceLock<KernelSpec> = OnceLock::new();
    S.get_or_init(|| {
        let all = candidates();
        let mut s = all[0];
        if let Ok(name) = std::env::var("AIAAS_GEMM_KERNEL") {
            if let Some(found) = all.iter().find(|s| s.name == name) {
                s = *found;
            }
        }
        // Tuning aid: AIAAS_GEMM_BLOCKING=mc,kc,nc overrides the blocking (mc rounded to mr).
        if let Ok(v) = std::env::var("AIAAS_GEMM_BLOCKING") {
            let f: Vec<usize> = v.split(',').filter_map(|x| x.trim().parse().ok()).collect();
            if f.len() == 3 && f.iter().all(|&x| x > 0) {
                s.mc = f[0].div_ceil(s.mr) * s.mr;
                s.kc = f[1];
                s.nc = f[2];
            }
        }
        s
    })
}

/// The fastest micro-kernel this CPU runs (kept for callers that only need the function).
pub fn select() -> MicroKernel {
    spec().kernel
}

#[cfg(target_arch = "x86_64")]
unsafe fn kernel_avx2_entry(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, overwrite: bool) {
    // SAFETY: `candidates` lists this only after detecting avx2 and fma.
    unsafe { kernel_avx2(kc, a, b, c, ldc, overwrite) }
}

#[cfg(target_arch = "x86_64")]
macro_rules! avx512_entry {
    ($name:ident, $mr:expr, $nv:expr) => {
        unsafe fn $name(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, overwrite: bool) {
            // SAFETY: `candidates` lists this only after detecting avx512f.
            unsafe { kernel_avx512::<$mr, $nv>(kc, a, b, c, ldc, overwrite) }
        }
    };
}
#[cfg(target_arch = "x86_64")]
avx512_entry!(k512_12x32, 12, 2);
#[cfg(target_arch = "x86_64")]
avx512_entry!(k512_14x16, 14, 1);
#[cfg(target_arch = "x86_64")]
avx512_entry!(k512_6x32, 6, 2);
#[cfg(target_arch = "x86_64")]
avx512_entry!(k512_8x32, 8, 2);
#[cfg(target_arch = "x86_64")]
avx512_entry!(k512_6x48, 6, 3);

/// The AVX-512 candidates, the default first. Measured on the AMD EPYC (Zen 4) this was tuned
/// on (examples/gemm_probe.rs, 1 thread, GFLOP/s at N=128/256/512): 8x32 79/103/105-108,
/// 6x32 77/102/106, 12x32 76/99/105, 14x16 72/98/102, 6x48 71/91/103; AVX2 6x16 75/100/105.
/// Zen 4 executes a zmm FMA as two 256-bit halves, so the peak equals AVX2's: the gain is the
/// smaller instruction count and edge waste (8 rows divide the usual batch sizes), a few %.
/// KC=256 (a 32 KiB B panel, read once per A panel from L1/L2) was as good as 128-384.
#[cfg(target_arch = "x86_64")]
const AVX512_SPECS: [KernelSpec; 5] = [
    KernelSpec { name: "avx512_8x32", mr: 8, nr: 32, kernel: k512_8x32, mc: 144, kc: 256, nc: 4096 },
    KernelSpec { name: "avx512_6x32", mr: 6, nr: 32, kernel: k512_6x32, mc: 144, kc: 256, nc: 4096 },
    KernelSpec { name: "avx512_12x32", mr: 12, nr: 32, kernel: k512_12x32, mc: 144, kc: 256, nc: 4096 },
    KernelSpec { name: "avx512_14x16", mr: 14, nr: 16, kernel: k512_14x16, mc: 140, kc: 384, nc: 4096 },
    KernelSpec { name: "avx512_6x48", mr: 6, nr: 48, kernel: k512_6x48, mc: 144, kc: 256, nc: 4096 },
];

/// AVX-512 MR x (16*NV) kernel: MR*NV zmm accumulators; per k step NV loads of B and MR
/// broadcasts of A (folded into the FMA as an embedded broadcast when NV == 1).
///
/// # Safety
/// `a` holds kc*MR floats, `b` kc*16*NV floats, and `c` an MR x 16*NV tile with row stride `ldc`;
/// the CPU supports avx512f.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn kernel_avx512<const MR_: usize, const NV: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    overwrite: bool,
) {
    use std::arch::x86_64::*;
    let nr = 16 * NV;
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); NV]; MR_];
        for r in 0..MR_ {
            _mm_prefetch::<_MM_HINT_T0>(c.add(r * ldc) as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(c.add(r * ldc + nr - 1) as *const i8);
        }
        let mut ap = a;
        let mut bp = b;
        macro_rules! step {
            ($off:expr) => {{
                let mut bv = [_mm512_setzero_ps(); NV];
                for v in 0..NV {
                    bv[v] = _mm512_loadu_ps(bp.add($off * nr + 16 * v));
                }
                for r in 0..MR_ {
                    let av = _mm512_set1_ps(*ap.add($off * MR_ + r));
                    for v in 0..NV {
                        acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
                    }
                }
            }};
        }
        let mut p = 0;
        while p + 4 <= kc {
            _mm_prefetch::<_MM_HINT_T0>(bp.add(8 * nr) as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(ap.add(8 * MR_) as *const i8);
            step!(0);
            step!(1);
            step!(2);
            step!(3);
            ap = ap.add(4 * MR_);
            bp = bp.add(4 * nr);
            p += 4;
        }
        while p < kc {
            step!(0);
            ap = ap.add(MR_);
            bp = bp.add(nr);
            p += 1;
        }
        for r in 0..MR_ {
            let cr = c.add(r * ldc);
            for v in 0..NV {
                let cp = cr.add(16 * v);
                if overwrite {
                    _mm512_storeu_ps(cp, acc[r][v]);
                } else {
                    _mm512_storeu_ps(cp, _mm512_add_ps(_mm512_loadu_ps(cp), acc[r][v]));
                }
            }
        }
    }
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
