//! Skinny products: C = A @ B where A has at most `SKINNY_MAX` rows (a single-sample Dense
//! forward, 1x36864 @ 36864x128; its backward dx = dy W^T) -- and, transposed, where B has at
//! most `SKINNY_MAX` columns (matrix-vector products). Such a product does ~ms multiply-adds per
//! element of B: packing B (as the blocked kernel does) costs more than the product. Here B is
//! streamed once, unpacked:
//!
//! - rows of B contiguous (B is [K,N] row-major): "axpy" tiles, C[:, j..j+W] = sum_p A[:, p] *
//!   B[p, j..j+W], MS x W accumulators in registers, A read as broadcast scalars at any stride;
//! - columns of B contiguous (B^T stored, [N,K]): "dot" tiles, C[i, j] = A[i, :] . B^T[j, :],
//!   MS x J vector accumulators summed at the end (A packed to contiguous rows when strided).
//!
//! Threads split the columns of C, and also K (private partial results, summed afterwards) when
//! there are too few column tiles to go round. AVX-512 / AVX2+FMA / portable, picked at run time
//! like the micro-kernels (`AIAAS_DISABLE_AVX512` honoured).

// Whole captures of Copy pointer wrappers are rebound on purpose (edition-2021 closures would
// capture the raw-pointer field alone, which is not Send).
#![allow(clippy::redundant_locals)]

use super::gemm_microkernel::{isa, Isa};
use super::gemm_packed::View;

/// Skinny side (rows of A, or columns of B for the transposed case) up to which this path runs.
pub const SKINNY_MAX: usize = 4;

/// Depth of the K chunks (each its own partial sum; fixed so results do not depend on threads).
const K_CHUNK: usize = 2048;

/// Multiply-adds below which a skinny product stays on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 17;

/// The few vector operations the tiles need, for one instruction set. Every method is
/// `inline(always)` so it lands inside the `target_feature` entry that instantiates the tiles.
trait Simd {
    type V: Copy;
    const L: usize;
    unsafe fn zero() -> Self::V;
    unsafe fn splat(x: f32) -> Self::V;
    unsafe fn load(p: *const f32) -> Self::V;
    /// The first `n` (< L) lanes from `p`, the rest zero; reads only those `n` floats.
    unsafe fn load_part(p: *const f32, n: usize) -> Self::V;
    /// a * b + c
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn store(p: *mut f32, v: Self::V);
    unsafe fn hsum(v: Self::V) -> f32;
}

#[cfg(target_arch = "x86_64")]
struct Avx512;
#[cfg(target_arch = "x86_64")]
impl Simd for Avx512 {
    type V = std::arch::x86_64::__m512;
    const L: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> Self::V {
        unsafe { std::arch::x86_64::_mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self::V {
        unsafe { std::arch::x86_64::_mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self::V {
        unsafe { std::arch::x86_64::_mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> Self::V {
        // Masked-off lanes are not read (no fault past the end of the buffer).
        unsafe { std::arch::x86_64::_mm512_maskz_loadu_ps(((1u32 << n) - 1) as u16, p) }
    }
    #[inline(always)]
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        unsafe { std::arch::x86_64::_mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self::V) {
        unsafe { std::arch::x86_64::_mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn hsum(v: Self::V) -> f32 {
        unsafe { std::arch::x86_64::_mm512_reduce_add_ps(v) }
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx2;
#[cfg(target_arch = "x86_64")]
impl Simd for Avx2 {
    type V = std::arch::x86_64::__m256;
    const L: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self::V {
        unsafe { std::arch::x86_64::_mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self::V {
        unsafe { std::arch::x86_64::_mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self::V {
        unsafe { std::arch::x86_64::_mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> Self::V {
        use std::arch::x86_64::*;
        // vmaskmov does not touch (or fault on) masked-off lanes.
        unsafe {
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            _mm256_maskload_ps(p, mask)
        }
    }
    #[inline(always)]
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        unsafe { std::arch::x86_64::_mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self::V) {
        unsafe { std::arch::x86_64::_mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn hsum(v: Self::V) -> f32 {
        use std::arch::x86_64::*;
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
            _mm_cvtss_f32(s)
        }
    }
}

/// Plain Rust, 8 lanes (the compiler vectorises it for the baseline ISA).
struct Portable;
impl Simd for Portable {
    type V = [f32; 8];
    const L: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self::V {
        [0.0; 8]
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self::V {
        [x; 8]
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self::V {
        unsafe { std::ptr::read_unaligned(p as *const [f32; 8]) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> Self::V {
        let mut v = [0.0; 8];
        for (l, x) in v.iter_mut().enumerate().take(n) {
            *x = unsafe { *p.add(l) };
        }
        v
    }
    #[inline(always)]
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        std::array::from_fn(|l| a[l] * b[l] + c[l])
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self::V) {
        unsafe { std::ptr::write_unaligned(p as *mut [f32; 8], v) }
    }
    #[inline(always)]
    unsafe fn hsum(v: Self::V) -> f32 {
        v.iter().sum()
    }
}

/// Where a block of C goes: element (i, j) at `ptr[i*rs + j*cs]`, overwritten or accumulated.
#[derive(Clone, Copy)]
struct Dst {
    ptr: *mut f32,
    rs: usize,
    cs: usize,
    accumulate: bool,
}
// SAFETY: tasks write disjoint column ranges (or their own partial buffers).
unsafe impl Send for Dst {}
unsafe impl Sync for Dst {}

impl Dst {
    /// Write the MS x cols tile `t` (row stride `tw`) at column `j0`.
    #[inline(always)]
    unsafe fn put(&self, t: &[f32], tw: usize, ms: usize, j0: usize, cols: usize) {
        unsafe {
            for i in 0..ms {
                let src = &t[i * tw..i * tw + cols];
                let base = self.ptr.add(i * self.rs + j0 * self.cs);
                if self.cs == 1 {
                    let d = std::slice::from_raw_parts_mut(base, cols);
                    if self.accumulate {
                        d.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                    } else {
                        d.copy_from_slice(src);
                    }
                } else {
                    for (j, &s) in src.iter().enumerate() {
                        let d = base.add(j * self.cs);
                        *d = if self.accumulate { *d + s } else { s };
                    }
                }
            }
        }
    }
}

/// Floats of C one axpy pass keeps in its L1 buffer (16 KiB): MS rows x PANEL_FLOATS/MS columns.
const PANEL_FLOATS: usize = 4096;

/// Axpy over columns [j0, j1) of C, K range [p0, p1): B rows contiguous (b.cs == 1). B is read
/// row after row (sequential streams the prefetchers follow); the C panel accumulates in an
/// L1-resident buffer, G rows of B per pass over it, with the G x MS scalars of A broadcast once
/// per pass.
#[inline(always)]
unsafe fn axpy_cols<S: Simd, const MS: usize, const G: usize>(
    a: View,
    b: View,
    p0: usize,
    p1: usize,
    j0: usize,
    j1: usize,
    dst: Dst,
) {
    let mut buf = [0.0f32; PANEL_FLOATS];
    let panel = PANEL_FLOATS / MS / S::L * S::L;
    let mut j = j0;
    unsafe {
        while j < j1 {
            let w = panel.min(j1 - j);
            buf[..MS * panel].fill(0.0);
            let mut p = p0;
            while p + G <= p1 {
                axpy_pass::<S, MS, G>(a, b, p, j, w, buf.as_mut_ptr(), panel);
                p += G;
            }
            while p < p1 {
                axpy_pass::<S, MS, 1>(a, b, p, j, w, buf.as_mut_ptr(), panel);
                p += 1;
            }
            dst.put(&buf, panel, MS, j - j0, w);
            j += w;
        }
    }
}

/// buf[i][0..w] += sum over g < G of A[i, p+g] * B[p+g, j..j+w].
#[inline(always)]
unsafe fn axpy_pass<S: Simd, const MS: usize, const G: usize>(
    a: View,
    b: View,
    p: usize,
    j: usize,
    w: usize,
    buf: *mut f32,
    panel: usize,
) {
    unsafe {
        let mut av = [[S::zero(); G]; MS];
        for (i, row) in av.iter_mut().enumerate() {
            for (g, x) in row.iter_mut().enumerate() {
                *x = S::splat(*a.ptr.add(i * a.rs + (p + g) * a.cs));
            }
        }
        let mut brow = [b.ptr; G];
        for (g, r) in brow.iter_mut().enumerate() {
            *r = b.ptr.add((p + g) * b.rs + j);
        }
        let full = w / S::L * S::L;
        let mut off = 0;
        while off < full {
            let mut acc = [S::zero(); MS];
            for (i, x) in acc.iter_mut().enumerate() {
                *x = S::load(buf.add(i * panel + off));
            }
            for (g, r) in brow.iter().enumerate() {
                let bv = S::load(r.add(off));
                for (i, x) in acc.iter_mut().enumerate() {
                    *x = S::fma(av[i][g], bv, *x);
                }
            }
            for (i, &x) in acc.iter().enumerate() {
                S::store(buf.add(i * panel + off), x);
            }
            off += S::L;
        }
        if off < w {
            // Tail: B lanes past w load as zero; the buffer has room for the whole vector.
            let n = w - off;
            let mut acc = [S::zero(); MS];
            for (i, x) in acc.iter_mut().enumerate() {
                *x = S::load(buf.add(i * panel + off));
            }
            for (g, r) in brow.iter().enumerate() {
                let bv = S::load_part(r.add(off), n);
                for (i, x) in acc.iter_mut().enumerate() {
                    *x = S::fma(av[i][g], bv, *x);
                }
            }
            for (i, &x) in acc.iter().enumerate() {
                S::store(buf.add(i * panel + off), x);
            }
        }
    }
}

/// Dot tiles over columns [j0, j1) of C, K range [p0, p1): B columns contiguous (b.rs == 1),
/// A rows contiguous (a.cs == 1). `J` columns per tile, MS rows.
#[inline(always)]
unsafe fn dot_cols<S: Simd, const MS: usize, const J: usize>(
    a: View,
    b: View,
    p0: usize,
    p1: usize,
    j0: usize,
    j1: usize,
    dst: Dst,
) {
    let mut tile = [0.0f32; 16];
    let mut j = j0;
    unsafe {
        while j + J <= j1 {
            dot_tile::<S, MS, J>(a, b, p0, p1, j, &mut tile);
            dst.put(&tile, J, MS, j - j0, J);
            j += J;
        }
        while j < j1 {
            dot_tile::<S, MS, 1>(a, b, p0, p1, j, &mut tile);
            dst.put(&tile, 1, MS, j - j0, 1);
            j += 1;
        }
    }
}

#[inline(always)]
unsafe fn dot_tile<S: Simd, const MS: usize, const J: usize>(
    a: View,
    b: View,
    p0: usize,
    p1: usize,
    j: usize,
    out: &mut [f32; 16],
) {
    unsafe {
        let mut acc = [[S::zero(); J]; MS];
        let mut p = p0;
        macro_rules! step {
            ($p:expr, $n:expr) => {{
                let (p, n) = ($p, $n);
                let mut bv = [S::zero(); J];
                for (jj, x) in bv.iter_mut().enumerate() {
                    let bp = b.ptr.add((j + jj) * b.cs + p);
                    *x = if n == S::L { S::load(bp) } else { S::load_part(bp, n) };
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let ap = a.ptr.add(i * a.rs + p);
                    let av = if n == S::L { S::load(ap) } else { S::load_part(ap, n) };
                    for (x, &bx) in row.iter_mut().zip(&bv) {
                        *x = S::fma(av, bx, *x);
                    }
                }
            }};
        }
        while p + S::L <= p1 {
            step!(p, S::L);
            p += S::L;
        }
        if p < p1 {
            step!(p, p1 - p);
        }
        for (i, row) in acc.iter().enumerate() {
            for (jj, &x) in row.iter().enumerate() {
                out[i * J + jj] = S::hsum(x);
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Axpy,
    Dot,
}

/// One task's share: C[:, j0..j1] (+)= A[:, p0..p1] @ B[p0..p1, j0..j1], into `dst` (whose
/// column 0 is column j0).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn block<S: Simd>(variant: Variant, ms: usize, a: View, b: View, p0: usize, p1: usize, j0: usize, j1: usize, dst: Dst) {
    // Register budget: axpy keeps MS x G broadcasts + MS accumulators + 1 B vector, dot MS x J
    // accumulators + J + MS loaded vectors: within 32 zmm (AVX-512) / 16 ymm (AVX2).
    let wide = S::L == 16;
    unsafe {
        match (variant, ms, wide) {
            (Variant::Axpy, 1, _) => axpy_cols::<S, 1, 8>(a, b, p0, p1, j0, j1, dst),
            (Variant::Axpy, 2, true) => axpy_cols::<S, 2, 8>(a, b, p0, p1, j0, j1, dst),
            (Variant::Axpy, 2, false) => axpy_cols::<S, 2, 4>(a, b, p0, p1, j0, j1, dst),
            (Variant::Axpy, 3, true) => axpy_cols::<S, 3, 4>(a, b, p0, p1, j0, j1, dst),
            (Variant::Axpy, 3, false) => axpy_cols::<S, 3, 2>(a, b, p0, p1, j0, j1, dst),
            (Variant::Axpy, _, true) => axpy_cols::<S, 4, 4>(a, b, p0, p1, j0, j1, dst),
            (Variant::Axpy, _, false) => axpy_cols::<S, 4, 2>(a, b, p0, p1, j0, j1, dst),
            (Variant::Dot, 1, true) => dot_cols::<S, 1, 8>(a, b, p0, p1, j0, j1, dst),
            (Variant::Dot, 1, false) => dot_cols::<S, 1, 4>(a, b, p0, p1, j0, j1, dst),
            (Variant::Dot, 2, _) => dot_cols::<S, 2, 4>(a, b, p0, p1, j0, j1, dst),
            (Variant::Dot, 3, true) => dot_cols::<S, 3, 4>(a, b, p0, p1, j0, j1, dst),
            (Variant::Dot, 3, false) => dot_cols::<S, 3, 2>(a, b, p0, p1, j0, j1, dst),
            (Variant::Dot, _, true) => dot_cols::<S, 4, 4>(a, b, p0, p1, j0, j1, dst),
            (Variant::Dot, _, false) => dot_cols::<S, 4, 2>(a, b, p0, p1, j0, j1, dst),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn block_avx512(variant: Variant, ms: usize, a: View, b: View, p0: usize, p1: usize, j0: usize, j1: usize, dst: Dst) {
    unsafe { block::<Avx512>(variant, ms, a, b, p0, p1, j0, j1, dst) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn block_avx2(variant: Variant, ms: usize, a: View, b: View, p0: usize, p1: usize, j0: usize, j1: usize, dst: Dst) {
    unsafe { block::<Avx2>(variant, ms, a, b, p0, p1, j0, j1, dst) }
}

#[allow(clippy::too_many_arguments)]
unsafe fn block_portable(variant: Variant, ms: usize, a: View, b: View, p0: usize, p1: usize, j0: usize, j1: usize, dst: Dst) {
    unsafe { block::<Portable>(variant, ms, a, b, p0, p1, j0, j1, dst) }
}

type BlockFn = unsafe fn(Variant, usize, View, View, usize, usize, usize, usize, Dst);

fn block_fn(isa: Isa) -> BlockFn {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => block_avx512,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => block_avx2,
        _ => block_portable,
    }
}

/// C (+)= A @ B for A [ms, k] (ms <= SKINNY_MAX), B [k, ns]; element (i, j) of C at
/// `c[i*crs + j*ccs]`. Returns false (nothing done) when B is neither row- nor column-contiguous.
///
/// # Safety
/// The views describe valid [ms,k] / [k,ns] operands and `c` a writable [ms,ns] block not
/// overlapping them; k >= 1.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_skinny(
    a: View,
    b: View,
    c: *mut f32,
    crs: usize,
    ccs: usize,
    ms: usize,
    k: usize,
    ns: usize,
    accumulate: bool,
    threads: usize,
) -> bool {
    // SAFETY: forwarded contract.
    unsafe { sgemm_skinny_isa(isa(), a, b, c, crs, ccs, ms, k, ns, accumulate, threads) }
}

/// `sgemm_skinny` on a chosen instruction set (tests run every one this CPU has).
///
/// # Safety
/// As `sgemm_skinny`, and the CPU supports `isa`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_skinny_isa(
    isa: Isa,
    a: View,
    b: View,
    c: *mut f32,
    crs: usize,
    ccs: usize,
    ms: usize,
    k: usize,
    ns: usize,
    accumulate: bool,
    threads: usize,
) -> bool {
    assert!((1..=SKINNY_MAX).contains(&ms) && k >= 1 && ns >= 1);
    // Dot products when B's columns are contiguous and its rows are not (or are too short to
    // fill a vector); axpy rows otherwise.
    let variant = if b.cs == 1 && (b.rs != 1 || ns >= 16) {
        Variant::Axpy
    } else if b.rs == 1 {
        Variant::Dot
    } else {
        return false;
    };
    // Dot tiles read A rows as vectors: pack a strided A into contiguous rows (ms*k floats, small
    // next to B's k*ns).
    let mut apack = Vec::new();
    let a = if variant == Variant::Dot && a.cs != 1 {
        apack.reserve_exact(ms * k);
        for i in 0..ms {
            // SAFETY: (i, p) is inside A.
            apack.extend((0..k).map(|p| unsafe { *a.ptr.add(i * a.rs + p * a.cs) }));
        }
        View { ptr: apack.as_ptr(), rs: k, cs: 1 }
    } else {
        a
    };
    let f = block_fn(isa);
    let work = ms * k * ns;
    let threads = if work >= PARALLEL_MIN_MACS { threads.max(1) } else { 1 };
    let direct = Dst { ptr: c, rs: crs, cs: ccs, accumulate };
    // K is cut into chunks that depend on k alone (never on the thread count), each summed into
    // its own partial result and the partials added in order: the same bits on any thread count.
    let k_splits = k.div_ceil(K_CHUNK);
    let per_k = k.div_ceil(k_splits);
    if threads == 1 && k_splits == 1 {
        // SAFETY: the whole product into C.
        unsafe { f(variant, ms, a, b, 0, k, 0, ns, direct) };
        return true;
    }
    // Axpy reads B by rows: the K chunks give each thread contiguous stretches of B. Dot reads
    // B^T by rows: splitting the columns does. Columns are split further only when the K
    // chunks run short.
    let unit = if variant == Variant::Axpy { 64 } else { 4 };
    let tiles = ns.div_ceil(unit);
    let col_tasks = if threads == 1 {
        1
    } else if variant == Variant::Axpy {
        threads.div_ceil(k_splits).clamp(1, tiles)
    } else {
        (4 * threads).div_ceil(k_splits).clamp(1, tiles)
    };
    let per_cols = tiles.div_ceil(col_tasks) * unit;
    let col_tasks = ns.div_ceil(per_cols);
    if k_splits == 1 {
        crate::parallel::run_tasks(col_tasks, threads, |t| {
            let direct = direct;
            let (j0, j1) = (t * per_cols, ((t + 1) * per_cols).min(ns));
            let d = Dst { ptr: unsafe { direct.ptr.add(j0 * direct.cs) }, ..direct };
            // SAFETY: task t owns columns [j0, j1) of C.
            unsafe { f(variant, ms, a, b, 0, k, j0, j1, d) };
        });
        return true;
    }
    // Partial products per K range into a private [k_splits][ms][ns] buffer, then summed.
    let mut part = vec![0.0f32; k_splits * ms * ns];
    let pp = Dst { ptr: part.as_mut_ptr(), rs: ns, cs: 1, accumulate: false };
    let task = |t: usize| {
        let pp = pp;
        let (ct, kt) = (t % col_tasks, t / col_tasks);
        let (j0, j1) = (ct * per_cols, ((ct + 1) * per_cols).min(ns));
        let (p0, p1) = (kt * per_k, ((kt + 1) * per_k).min(k));
        // SAFETY: task t owns columns [j0, j1) of partial buffer kt.
        let d = Dst { ptr: unsafe { pp.ptr.add(kt * ms * ns + j0) }, ..pp };
        unsafe { f(variant, ms, a, b, p0, p1, j0, j1, d) };
    };
    crate::parallel::run_tasks(col_tasks * k_splits, threads, task);
    let (first, rest) = part.split_at_mut(ms * ns);
    for r in rest.chunks_exact(ms * ns) {
        first.iter_mut().zip(r).for_each(|(x, y)| *x += y);
    }
    // SAFETY: all of C, written once from the summed partials.
    unsafe { direct.put(first, ns, ms, 0, ns) };
    true
}
