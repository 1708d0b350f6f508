//! Direct kernels: no patch matrix, an output pixel is the sum of its taps' scalars times rows of
//! w. For tiny receptive fields (a 3x3 kernel on a grey image: an im2col row of 9 floats against
//! 32+ filters, a product that is all overhead) forward and dW; for larger ones the forward only
//! (it reads x in place where im2col + sgemm copy every field twice, into the patches and the
//! packed panels).
//!
//! Forward: PIX pixels x FB filters of accumulators stay in registers across all the taps
//! (4 x 16 = 8 ymm; 4 x 32 = 8 zmm with AVX-512): per tap, one w row load shared by the PIX
//! pixels and one broadcast per pixel.
//! dW: for a group of TG taps of one kernel row, TG x FB accumulators sum x_tap * dy over a run
//! of pixels in registers (each dy load serves the TG taps) and are added into dw once per run,
//! not once per pixel.
//! Work is cut into runs of pixels of one output row; pixels whose field crosses the left/right
//! padding (and rows crossing the top/bottom, by their tap range) are handled apart, so the inner
//! loops have no bounds tests.

use super::Conv2d;

/// Output pixels the forward computes together: 4 pixels x 16 filters = 8 ymm accumulators.
/// (6 pixels, the gemm micro-kernel's 12, ran 2x slower at conv2's shape: spills.)
const PIX: usize = 4;
/// Filters per accumulator block (2 ymm; the AVX-512 forward uses 32, 2 zmm).
const FB: usize = 16;

/// a * b + c: one FMA instruction in the AVX2+FMA copies, a multiply and an add in the portable
/// one (where `mul_add` would be a libm call per element).
trait Madd {
    fn madd(a: f32, b: f32, c: f32) -> f32;
}
struct Fused;
struct Plain;
impl Madd for Fused {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}
impl Madd for Plain {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// Call `$body::<Fused>` through a copy compiled for AVX2+FMA when the CPU has them (the crate is
/// built for baseline x86-64, so these loops would otherwise be SSE2 only), else `$body::<Plain>`.
macro_rules! dispatch_avx2 {
    ($body:ident($($arg:ident: $ty:ty),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                $body::<Fused>($($arg),*)
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports the features `avx2` was compiled for.
                return unsafe { avx2($($arg),*) };
            }
        }
        $body::<Plain>($($arg),*)
    }};
}

/// The runs of the output rows `row0..row0+nrows` (rows counted from x's first image) that lie
/// in one output row of one image, as (img, oy, ox0, ox1, i0) with `i0` the run's first row
/// counted from `row0`. An iterator, not a callback: a closure body is compiled apart from the
/// AVX2 copy of its caller when LLVM does not inline it, and `mul_add` there is a libm call
/// (that cost 50x once).
fn runs(g: &Conv2d, row0: usize, nrows: usize) -> impl Iterator<Item = (usize, usize, usize, usize, usize)> + '_ {
    let (rpi, ow, end) = (g.rows_per_image(), g.ow, row0 + nrows);
    let mut r = row0;
    std::iter::from_fn(move || {
        if r >= end {
            return None;
        }
        let (img, rem) = (r / rpi, r % rpi);
        let (oy, ox0) = (rem / ow, rem % ow);
        let ox1 = ow.min(ox0 + (end - r));
        let run = (img, oy, ox0, ox1, r - row0);
        r += ox1 - ox0;
        Some(run)
    })
}

/// The output columns [lo, hi) of `ox0..ox1` whose receptive field lies inside the image
/// horizontally (no left/right padding tap).
fn interior_cols(g: &Conv2d, ox0: usize, ox1: usize) -> (usize, usize) {
    let lo = g.pad_left.div_ceil(g.sw);
    // ox*sw - pad_left + kw <= w
    let hi = if g.w + g.pad_left >= g.kw { (g.w + g.pad_left - g.kw) / g.sw + 1 } else { 0 };
    let lo = lo.clamp(ox0, ox1);
    (lo, hi.clamp(lo, ox1))
}

/// The kernel rows [ky_lo, ky_hi) of output row `oy` that fall inside the image, and the input
/// row of kernel row 0 (iy0 + ky is in range for those ky).
fn tap_rows(g: &Conv2d, oy: usize) -> (usize, usize, usize) {
    let iy0 = (oy * g.sh) as isize - g.pad_top as isize;
    let lo = (-iy0).max(0) as usize;
    let hi = (g.h as isize - iy0).clamp(0, g.kh as isize) as usize;
    // iy0 may be negative (top padding): kept as a wrapped usize, iy0 + ky wraps back in range.
    (lo, hi.max(lo), iy0 as usize)
}

/// Direct forward of output rows `row0..row0+nrows` of `x` (rows from x's first image) into `y`
/// (exactly those rows): y_row = b + sum over in-bounds taps t of x_t * w[t, :].
pub(super) fn forward_rows(g: &Conv2d, x: &[f32], w: &[f32], b: Option<&[f32]>, row0: usize, y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        // 32-filter blocks (2 zmm per pixel, 8 accumulators): 1 thread, batch 32, conv2 7.0 ms vs
        // 7.9-10 with AVX2's 16-filter blocks, conv1 0.21 vs 0.26-0.5, 3x3x64x128 6.6 vs 8-9.5.
        // 6 pixels x 32 filters was no better; 8 x 16 in zmm was 2x slower.
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn avx512(g: &Conv2d, x: &[f32], w: &[f32], b: Option<&[f32]>, row0: usize, y: &mut [f32]) {
            forward_body::<Fused, 32, PIX>(g, x, w, b, row0, y)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(g: &Conv2d, x: &[f32], w: &[f32], b: Option<&[f32]>, row0: usize, y: &mut [f32]) {
            forward_body::<Fused, FB, PIX>(g, x, w, b, row0, y)
        }
        // The gemm's switch (AIAAS_DISABLE_AVX512 is honoured, so tests can run the AVX2 copy).
        if crate::kernels::gemm::gemm_microkernel::has_avx512() {
            // SAFETY: the CPU supports the features `avx512` was compiled for.
            return unsafe { avx512(g, x, w, b, row0, y) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features `avx2` was compiled for.
            return unsafe { avx2(g, x, w, b, row0, y) };
        }
    }
    forward_body::<Plain, FB, PIX>(g, x, w, b, row0, y)
}

#[inline(always)]
fn forward_body<M: Madd, const WB: usize, const NP: usize>(
    g: &Conv2d,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    row0: usize,
    y: &mut [f32],
) {
    let (f, xpi) = (g.f, g.x_per_image());
    for (img, oy, ox0, ox1, i0) in runs(g, row0, y.len() / f) {
        let ximg = &x[img * xpi..][..xpi];
        let yrun = &mut y[i0 * f..][..(ox1 - ox0) * f];
        let (lo, hi) = interior_cols(g, ox0, ox1);
        for ox in (ox0..lo).chain(hi..ox1) {
            pixel_forward::<M>(g, ximg, w, b, oy, ox, &mut yrun[(ox - ox0) * f..][..f]);
        }
        let mut ox = lo;
        while ox + NP <= hi {
            pixels_forward::<M, WB, NP>(g, ximg, w, b, oy, ox, &mut yrun[(ox - ox0) * f..][..NP * f]);
            ox += NP;
        }
        while ox + 2 <= hi {
            pixels_forward::<M, WB, 2>(g, ximg, w, b, oy, ox, &mut yrun[(ox - ox0) * f..][..2 * f]);
            ox += 2;
        }
        while ox < hi {
            pixels_forward::<M, WB, 1>(g, ximg, w, b, oy, ox, &mut yrun[(ox - ox0) * f..][..f]);
            ox += 1;
        }
    }
}

/// P horizontally interior pixels starting at column `ox` of output row `oy`: y[P, F], in
/// blocks of WB filters, then 16, 8 and 1.
#[inline(always)]
fn pixels_forward<M: Madd, const WB: usize, const P: usize>(
    g: &Conv2d,
    ximg: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    oy: usize,
    ox: usize,
    y: &mut [f32],
) {
    // Plain loops, not `std::array::from_fn`: LLVM left that out of line in one build, and the
    // inner loop lost the slices' lengths (bounds tests, 2x slower).
    let mut cols = [0usize; P];
    for (p, col) in cols.iter_mut().enumerate() {
        *col = ((ox + p) * g.sw - g.pad_left) * g.c;
    }
    let mut fb = 0;
    while fb + WB <= g.f {
        block_forward::<M, P, WB>(g, ximg, w, b, oy, &cols, fb, y);
        fb += WB;
    }
    while WB > 16 && fb + 16 <= g.f {
        block_forward::<M, P, 16>(g, ximg, w, b, oy, &cols, fb, y);
        fb += 16;
    }
    while fb + 8 <= g.f {
        block_forward::<M, P, 8>(g, ximg, w, b, oy, &cols, fb, y);
        fb += 8;
    }
    while fb < g.f {
        block_forward::<M, P, 1>(g, ximg, w, b, oy, &cols, fb, y);
        fb += 1;
    }
}

/// Filters fb..fb+B of P pixels whose fields start at row offsets `cols`: acc[P][B] in registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_forward<M: Madd, const P: usize, const B: usize>(
    g: &Conv2d,
    ximg: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    oy: usize,
    cols: &[usize; P],
    fb: usize,
    y: &mut [f32],
) {
    let (f, run, rowlen) = (g.f, g.kw * g.c, g.w * g.c);
    let (ky_lo, ky_hi, iy0) = tap_rows(g, oy);
    let mut acc = [[0.0f32; B]; P];
    if let Some(b) = b {
        let bb: &[f32; B] = b[fb..fb + B].try_into().expect("B floats");
        acc = [*bb; P];
    }
    for ky in ky_lo..ky_hi {
        let xrow = &ximg[iy0.wrapping_add(ky) * rowlen..][..rowlen];
        // In NHWC a pixel's kernel row is one contiguous run of KW*C floats.
        let mut xs: [&[f32]; P] = [&[]; P];
        for (xp, &col) in xs.iter_mut().zip(cols) {
            *xp = &xrow[col..][..run];
        }
        let wk = &w[ky * run * f..][..run * f];
        for j in 0..run {
            let wr: &[f32; B] = wk[j * f + fb..][..B].try_into().expect("B floats");
            for p in 0..P {
                let xv = xs[p][j];
                for i in 0..B {
                    acc[p][i] = M::madd(xv, wr[i], acc[p][i]);
                }
            }
        }
    }
    for (p, a) in acc.iter().enumerate() {
        y[p * f + fb..][..B].copy_from_slice(a);
    }
}

/// One pixel whose field may cross any padding: every tap tested.
#[inline(always)]
fn pixel_forward<M: Madd>(g: &Conv2d, ximg: &[f32], w: &[f32], b: Option<&[f32]>, oy: usize, ox: usize, y: &mut [f32]) {
    let f = g.f;
    match b {
        Some(b) => y.copy_from_slice(b),
        None => y.fill(0.0),
    }
    let (iy0, ix0) = g.origin(oy, ox);
    for ky in 0..g.kh {
        let iy = iy0 + ky as isize;
        if iy < 0 || iy >= g.h as isize {
            continue;
        }
        for kx in 0..g.kw {
            let ix = ix0 + kx as isize;
            if ix < 0 || ix >= g.w as isize {
                continue;
            }
            let xs = &ximg[(iy as usize * g.w + ix as usize) * g.c..][..g.c];
            let wt = &w[(ky * g.kw + kx) * g.c * f..][..g.c * f];
            for (&xv, wrow) in xs.iter().zip(wt.chunks_exact(f)) {
                for (yv, &wv) in y.iter_mut().zip(wrow) {
                    *yv = M::madd(xv, wv, *yv);
                }
            }
        }
    }
}

/// Direct dW/db: dw[t, :] += x_t * dy_row, db += dy_row over the output rows `row0..row0+nrows`
/// (rows from x's first image); dy holds exactly those rows.
pub(super) fn dw_rows(g: &Conv2d, x: &[f32], dy: &[f32], row0: usize, dw: &mut [f32], db: &mut [f32]) {
    dispatch_avx2!(dw_body(g: &Conv2d, x: &[f32], dy: &[f32], row0: usize, dw: &mut [f32], db: &mut [f32]))
}

#[inline(always)]
fn dw_body<M: Madd>(g: &Conv2d, x: &[f32], dy: &[f32], row0: usize, dw: &mut [f32], db: &mut [f32]) {
    let (f, xpi, run, rowlen) = (g.f, g.x_per_image(), g.kw * g.c, g.w * g.c);
    for row in dy.chunks_exact(f) {
        for (d, &v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
    for (img, oy, ox0, ox1, i0) in runs(g, row0, dy.len() / f) {
        let ximg = &x[img * xpi..][..xpi];
        let dyrun = &dy[i0 * f..][..(ox1 - ox0) * f];
        let (lo, hi) = interior_cols(g, ox0, ox1);
        for ox in (ox0..lo).chain(hi..ox1) {
            pixel_dw::<M>(g, ximg, &dyrun[(ox - ox0) * f..][..f], oy, ox, dw);
        }
        if lo == hi {
            continue;
        }
        let dyi = &dyrun[(lo - ox0) * f..(hi - ox0) * f];
        let (ky_lo, ky_hi, iy0) = tap_rows(g, oy);
        let (col0, step) = ((lo * g.sw - g.pad_left) * g.c, g.sw * g.c);
        for ky in ky_lo..ky_hi {
            let xrow = &ximg[iy0.wrapping_add(ky) * rowlen..][..rowlen];
            let mut j = 0;
            while j < run {
                // Up to TG taps of this kernel row at a time: each dy load serves them all.
                let x0 = col0 + j;
                let dwr = &mut dw[(ky * run + j) * f..];
                j += match run - j {
                    1 => taps_dw::<M, 1>(xrow, x0, step, dyi, f, dwr),
                    2 => taps_dw::<M, 2>(xrow, x0, step, dyi, f, dwr),
                    _ => taps_dw::<M, TG>(xrow, x0, step, dyi, f, dwr),
                };
            }
        }
    }
}

/// Taps per dW group: TG taps x FB filters = 6 ymm accumulators (+ 2 dy, 1 broadcast).
const TG: usize = 3;

/// dw[t, :] += sum over the run's pixels k of xrow[x0 + k*step + t] * dy[k, :] for the J taps
/// t < J (J consecutive taps of one kernel row: consecutive floats of x). Returns J.
#[inline(always)]
fn taps_dw<M: Madd, const J: usize>(xrow: &[f32], x0: usize, step: usize, dy: &[f32], f: usize, dw: &mut [f32]) -> usize {
    let mut fb = 0;
    while fb + FB <= f {
        block_dw::<M, J, FB>(xrow, x0, step, dy, f, fb, dw);
        fb += FB;
    }
    while fb + 8 <= f {
        block_dw::<M, J, 8>(xrow, x0, step, dy, f, fb, dw);
        fb += 8;
    }
    while fb < f {
        block_dw::<M, J, 1>(xrow, x0, step, dy, f, fb, dw);
        fb += 1;
    }
    J
}

/// Filters fb..fb+B of `taps_dw`: acc[J][B] in registers over the whole run.
#[inline(always)]
fn block_dw<M: Madd, const J: usize, const B: usize>(
    xrow: &[f32],
    x0: usize,
    step: usize,
    dy: &[f32],
    f: usize,
    fb: usize,
    dw: &mut [f32],
) {
    let mut acc = [[0.0f32; B]; J];
    for (k, d) in dy.chunks_exact(f).enumerate() {
        let d: &[f32; B] = d[fb..fb + B].try_into().expect("B floats");
        let xk: &[f32; J] = xrow[x0 + k * step..][..J].try_into().expect("J floats");
        for t in 0..J {
            for i in 0..B {
                acc[t][i] = M::madd(xk[t], d[i], acc[t][i]);
            }
        }
    }
    for (t, a) in acc.iter().enumerate() {
        for (o, v) in dw[t * f + fb..][..B].iter_mut().zip(a) {
            *o += v;
        }
    }
}

/// dW of one pixel whose field may cross any padding: every tap tested.
#[inline(always)]
fn pixel_dw<M: Madd>(g: &Conv2d, ximg: &[f32], dyrow: &[f32], oy: usize, ox: usize, dw: &mut [f32]) {
    let f = g.f;
    let (iy0, ix0) = g.origin(oy, ox);
    for ky in 0..g.kh {
        let iy = iy0 + ky as isize;
        if iy < 0 || iy >= g.h as isize {
            continue;
        }
        for kx in 0..g.kw {
            let ix = ix0 + kx as isize;
            if ix < 0 || ix >= g.w as isize {
                continue;
            }
            let xs = &ximg[(iy as usize * g.w + ix as usize) * g.c..][..g.c];
            let dwt = &mut dw[(ky * g.kw + kx) * g.c * f..][..g.c * f];
            for (&xv, dwrow) in xs.iter().zip(dwt.chunks_exact_mut(f)) {
                for (d, &v) in dwrow.iter_mut().zip(dyrow) {
                    *d = M::madd(xv, v, *d);
                }
            }
        }
    }
}
