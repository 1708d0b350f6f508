//! Conv2D, channels-last (Keras layout): x[N,H,W,C] * w[KH,KW,C,F] (+ b[F]) -> y[N,OH,OW,F],
//! forward and backward, plus the "valid"/"same" padding rule pooling shares.
//!
//! Algorithms (chosen by measurement, see benches/README_conv.md):
//! - im2col + sgemm: the output rows (n, oy, ox) are cut into chunks of a few hundred rows; a
//!   chunk's patch matrix [rows, KH*KW*C] (each row = the receptive field, which in NHWC is KH
//!   contiguous runs of KW*C floats) times w viewed as [KH*KW*C, F] gives the chunk of y. Chunks
//!   keep the patch buffer in L2 and never allocate the whole [N*OH*OW, KH*KW*C] matrix.
//! - direct: when a receptive field is tiny (KH*KW*C <= DIRECT_MAX_TAPS, e.g. a 3x3 kernel on a
//!   grey image) each output row is a sum of KH*KW*C scaled rows of w; no patch matrix at all.
//! - Parallelism: the batch is split into one contiguous range of images per thread; each thread
//!   runs single-threaded sgemm on its chunks. Backward accumulates a private dW/db per thread
//!   and sums them at the end (in a fixed order, so results do not depend on scheduling). With a
//!   single image the one sgemm per chunk gets all the threads instead.
//!
//! Backward: dW = patches^T @ dy (accumulated over chunks), db = column sums of dy,
//! dx = col2im(dy @ w^T) (skipped when the caller does not need it, e.g. the first layer).

use crate::error::{ensure_len, KResult, KernelError};
use crate::kernels::gemm::sgemm;
use crate::parallel;
use rayon::prelude::*;

/// Receptive fields up to this many taps (KH*KW*C) take the direct kernel instead of im2col.
pub const DIRECT_MAX_TAPS: usize = 16;
/// Floats per im2col chunk (256 KiB): the patch chunk stays in L2 while sgemm reads it.
const PATCH_FLOATS: usize = 64 * 1024;
/// Rows per chunk are kept in this range (small receptive fields: bigger chunks, less overhead).
const MIN_CHUNK_ROWS: usize = 32;
const MAX_CHUNK_ROWS: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Valid,
    Same,
}

impl Padding {
    pub fn parse(s: &str) -> KResult<Padding> {
        match s.to_ascii_lowercase().as_str() {
            "valid" => Ok(Padding::Valid),
            "same" => Ok(Padding::Same),
            _ => Err(KernelError::Value(format!(
                "padding must be \"valid\" or \"same\", got {s:?}"
            ))),
        }
    }
}

/// Output length and padding before the first element along one axis (TensorFlow's rule):
/// valid: out = (in - k) / stride + 1, no padding (None when the window is longer than the input);
/// same: out = ceil(in / stride), pad_total = max((out-1)*stride + k - in, 0), half before
/// (rounded down), the rest after.
pub fn out_len_and_pad(input: usize, k: usize, stride: usize, padding: Padding) -> Option<(usize, usize)> {
    if input == 0 || k == 0 || stride == 0 {
        return None;
    }
    match padding {
        Padding::Valid => (k <= input).then(|| ((input - k) / stride + 1, 0)),
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out - 1) * stride + k).saturating_sub(input);
            Some((out, total / 2))
        }
    }
}

/// Check a (stride_h, stride_w) pair from Python (where it may be 0 or negative).
pub fn check_stride(what: &str, s: (i64, i64)) -> KResult<(usize, usize)> {
    if s.0 < 1 || s.1 < 1 {
        return Err(KernelError::Value(format!("{what} must be positive integers, got {s:?}")));
    }
    Ok((s.0 as usize, s.1 as usize))
}

/// The geometry of one convolution, checked once and shared by forward and backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub f: usize,
    pub sh: usize,
    pub sw: usize,
    pub oh: usize,
    pub ow: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

impl Conv2d {
    /// Check x[N,H,W,C] against w[KH,KW,C,F] for `stride` and `padding`.
    pub fn new(x_shape: &[usize], w_shape: &[usize], stride: (usize, usize), padding: Padding) -> KResult<Conv2d> {
        if x_shape.len() != 4 {
            return Err(KernelError::Shape(format!(
                "conv2d: x must be 4-D [N,H,W,C], got shape {x_shape:?}"
            )));
        }
        if w_shape.len() != 4 {
            return Err(KernelError::Shape(format!(
                "conv2d: kernel must be 4-D [KH,KW,C,F], got shape {w_shape:?}"
            )));
        }
        let (n, h, w, c) = (x_shape[0], x_shape[1], x_shape[2], x_shape[3]);
        let (kh, kw, kc, f) = (w_shape[0], w_shape[1], w_shape[2], w_shape[3]);
        if kc != c {
            return Err(KernelError::Shape(format!(
                "conv2d: kernel {w_shape:?} expects {kc} input channels but x {x_shape:?} has {c}"
            )));
        }
        if h == 0 || w == 0 || c == 0 || kh == 0 || kw == 0 || f == 0 {
            return Err(KernelError::Shape(format!(
                "conv2d: empty spatial, channel or filter dimension: x {x_shape:?}, kernel {w_shape:?}"
            )));
        }
        if stride.0 == 0 || stride.1 == 0 {
            return Err(KernelError::Value(format!("conv2d: strides must be positive, got {stride:?}")));
        }
        let rows = out_len_and_pad(h, kh, stride.0, padding);
        let cols = out_len_and_pad(w, kw, stride.1, padding);
        let (Some((oh, pad_top)), Some((ow, pad_left))) = (rows, cols) else {
            return Err(KernelError::Shape(format!(
                "conv2d: kernel {w_shape:?} is larger than the input x {x_shape:?} with padding \"valid\""
            )));
        };
        Ok(Conv2d { n, h, w, c, kh, kw, f, sh: stride.0, sw: stride.1, oh, ow, pad_top, pad_left })
    }

    pub fn y_shape(&self) -> [usize; 4] {
        [self.n, self.oh, self.ow, self.f]
    }
    /// The gradient handed to backward must have the forward output's shape.
    pub fn check_dy_shape(&self, dy_shape: &[usize]) -> KResult<()> {
        if dy_shape != self.y_shape() {
            return Err(KernelError::Shape(format!(
                "conv2d: dy has shape {dy_shape:?}, expected the output shape {:?} of x {:?} and kernel {:?}",
                self.y_shape(),
                [self.n, self.h, self.w, self.c],
                [self.kh, self.kw, self.c, self.f]
            )));
        }
        Ok(())
    }
    /// Taps per receptive field: the K of the im2col product.
    pub fn taps(&self) -> usize {
        self.kh * self.kw * self.c
    }
    fn rows_per_image(&self) -> usize {
        self.oh * self.ow
    }
    fn x_per_image(&self) -> usize {
        self.h * self.w * self.c
    }
    fn direct(&self) -> bool {
        self.taps() <= DIRECT_MAX_TAPS
    }
    /// Output rows per im2col chunk.
    fn chunk_rows(&self) -> usize {
        (PATCH_FLOATS / self.taps()).clamp(MIN_CHUNK_ROWS, MAX_CHUNK_ROWS)
    }
    /// Input row and column of the top-left tap of output row `oy`, column `ox` (may be negative).
    fn origin(&self, oy: usize, ox: usize) -> (isize, isize) {
        (
            (oy * self.sh) as isize - self.pad_top as isize,
            (ox * self.sw) as isize - self.pad_left as isize,
        )
    }
}

/// Split `n` images into at most `parts` contiguous ranges of near-equal size.
fn image_ranges(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let parts = parts.clamp(1, n.max(1));
    let (base, extra) = (n / parts, n % parts);
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for p in 0..parts {
        let len = base + usize::from(p < extra);
        out.push((start, len));
        start += len;
    }
    out
}

/// Fill `patches` [nrows, taps] with the receptive fields of output rows `row0..row0+nrows`,
/// rows counted from the first image of `x` (zeros where the field hangs over the padding).
fn im2col(g: &Conv2d, x: &[f32], row0: usize, nrows: usize, patches: &mut [f32]) {
    let (taps, run) = (g.taps(), g.kw * g.c);
    let rpi = g.rows_per_image();
    for (i, dst) in patches[..nrows * taps].chunks_exact_mut(taps).enumerate() {
        let r = row0 + i;
        let (img, oy, ox) = (r / rpi, (r % rpi) / g.ow, r % g.ow);
        let (iy0, ix0) = g.origin(oy, ox);
        let ximg = &x[img * g.x_per_image()..][..g.x_per_image()];
        for (ky, d) in dst.chunks_exact_mut(run).enumerate() {
            let iy = iy0 + ky as isize;
            if iy < 0 || iy >= g.h as isize {
                d.fill(0.0);
                continue;
            }
            let xrow = &ximg[iy as usize * g.w * g.c..][..g.w * g.c];
            if ix0 >= 0 && ix0 as usize + g.kw <= g.w {
                // The whole run of KW pixels is inside the image: one contiguous copy in NHWC.
                d.copy_from_slice(&xrow[ix0 as usize * g.c..][..run]);
            } else {
                for (kx, dc) in d.chunks_exact_mut(g.c).enumerate() {
                    let ix = ix0 + kx as isize;
                    if ix < 0 || ix >= g.w as isize {
                        dc.fill(0.0);
                    } else {
                        dc.copy_from_slice(&xrow[ix as usize * g.c..][..g.c]);
                    }
                }
            }
        }
    }
}

/// The adjoint of `im2col`: add each row of `dpatches` [nrows, taps] back onto the input
/// pixels it was read from (padding taps are dropped). `dx` starts at the first image of the rows.
fn col2im(g: &Conv2d, dpatches: &[f32], row0: usize, nrows: usize, dx: &mut [f32]) {
    let (taps, run) = (g.taps(), g.kw * g.c);
    let rpi = g.rows_per_image();
    let xpi = g.x_per_image();
    for (i, src) in dpatches[..nrows * taps].chunks_exact(taps).enumerate() {
        let r = row0 + i;
        let (img, oy, ox) = (r / rpi, (r % rpi) / g.ow, r % g.ow);
        let (iy0, ix0) = g.origin(oy, ox);
        let dimg = &mut dx[img * xpi..][..xpi];
        for (ky, s) in src.chunks_exact(run).enumerate() {
            let iy = iy0 + ky as isize;
            if iy < 0 || iy >= g.h as isize {
                continue;
            }
            let drow = &mut dimg[iy as usize * g.w * g.c..][..g.w * g.c];
            for (kx, sc) in s.chunks_exact(g.c).enumerate() {
                let ix = ix0 + kx as isize;
                if ix < 0 || ix >= g.w as isize {
                    continue;
                }
                for (d, v) in drow[ix as usize * g.c..][..g.c].iter_mut().zip(sc) {
                    *d += v;
                }
            }
        }
    }
}

/// Call `body` through a copy compiled for AVX2+FMA when the CPU has them (the crate itself is
/// built for baseline x86-64, so the direct kernels would otherwise be SSE2 only).
macro_rules! dispatch_avx2 {
    ($avx:ident, $generic:ident, ($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports the features `$avx` was compiled for.
                return unsafe { $avx($($arg),*) };
            }
        }
        $generic($($arg),*)
    }};
}

/// Direct forward for output rows `row0..row0+nrows` of `x` (rows from x's first image):
/// y_row = b + sum over in-bounds taps t of x_t * w[t, :]. For tiny receptive fields.
fn direct_forward_rows(g: &Conv2d, x: &[f32], w: &[f32], b: Option<&[f32]>, row0: usize, y: &mut [f32]) {
    dispatch_avx2!(direct_forward_avx2, direct_forward_body, (g, x, w, b, row0, y))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn direct_forward_avx2(g: &Conv2d, x: &[f32], w: &[f32], b: Option<&[f32]>, row0: usize, y: &mut [f32]) {
    direct_forward_body(g, x, w, b, row0, y)
}

#[inline(always)]
fn direct_forward_body(g: &Conv2d, x: &[f32], w: &[f32], b: Option<&[f32]>, row0: usize, y: &mut [f32]) {
    let (f, rpi, xpi) = (g.f, g.rows_per_image(), g.x_per_image());
    for (i, yrow) in y.chunks_exact_mut(f).enumerate() {
        let r = row0 + i;
        let (img, oy, ox) = (r / rpi, (r % rpi) / g.ow, r % g.ow);
        let (iy0, ix0) = g.origin(oy, ox);
        let ximg = &x[img * xpi..][..xpi];
        match b {
            Some(b) => yrow.copy_from_slice(b),
            None => yrow.fill(0.0),
        }
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
                    for (yv, &wv) in yrow.iter_mut().zip(wrow) {
                        *yv += xv * wv;
                    }
                }
            }
        }
    }
}

/// Direct dW/db for tiny receptive fields: dw[t, :] += x_t * dy_row, db += dy_row, over the
/// output rows `row0..row0+nrows` (rows from x's first image); dy holds exactly those rows.
fn direct_dw_rows(g: &Conv2d, x: &[f32], dy: &[f32], row0: usize, dw: &mut [f32], db: &mut [f32]) {
    dispatch_avx2!(direct_dw_avx2, direct_dw_body, (g, x, dy, row0, dw, db))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn direct_dw_avx2(g: &Conv2d, x: &[f32], dy: &[f32], row0: usize, dw: &mut [f32], db: &mut [f32]) {
    direct_dw_body(g, x, dy, row0, dw, db)
}

#[inline(always)]
fn direct_dw_body(g: &Conv2d, x: &[f32], dy: &[f32], row0: usize, dw: &mut [f32], db: &mut [f32]) {
    let (f, rpi, xpi) = (g.f, g.rows_per_image(), g.x_per_image());
    for (i, dyrow) in dy.chunks_exact(f).enumerate() {
        let r = row0 + i;
        let (img, oy, ox) = (r / rpi, (r % rpi) / g.ow, r % g.ow);
        let (iy0, ix0) = g.origin(oy, ox);
        let ximg = &x[img * xpi..][..xpi];
        for (d, &v) in db.iter_mut().zip(dyrow) {
            *d += v;
        }
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
                        *d += xv * v;
                    }
                }
            }
        }
    }
}

/// y = conv(x, w) + b for output rows `row0..row0+nrows` of `x` (rows from x's first image)
/// into `y` (exactly those rows), one thread per call unless `gemm_threads` > 1.
#[allow(clippy::too_many_arguments)]
fn forward_rows(
    g: &Conv2d,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    row0: usize,
    y: &mut [f32],
    patches: &mut Vec<f32>,
    gemm_threads: usize,
) {
    let nrows = y.len() / g.f;
    if g.direct() {
        direct_forward_rows(g, x, w, b, row0, y);
        return;
    }
    let taps = g.taps();
    patches.resize(nrows * taps, 0.0);
    im2col(g, x, row0, nrows, patches);
    // Start y at the bias and let sgemm accumulate onto it: one pass over y instead of two.
    if let Some(b) = b {
        for yrow in y.chunks_exact_mut(g.f) {
            yrow.copy_from_slice(b);
        }
    }
    sgemm(patches, w, y, nrows, taps, g.f, false, false, b.is_some(), gemm_threads);
}

/// x[N,H,W,C], w[KH,KW,C,F], b[F] | None -> y[N,OH,OW,F]
pub fn conv2d_forward(g: &Conv2d, x: &[f32], w: &[f32], b: Option<&[f32]>, y: &mut [f32]) -> KResult<()> {
    ensure_len("conv2d x", x.len(), g.n * g.x_per_image())?;
    ensure_len("conv2d kernel", w.len(), g.taps() * g.f)?;
    if let Some(b) = b {
        if b.len() != g.f {
            return Err(KernelError::Shape(format!(
                "conv2d: bias has {} elements, expected {} (one per filter of kernel {:?})",
                b.len(),
                g.f,
                [g.kh, g.kw, g.c, g.f]
            )));
        }
    }
    ensure_len("conv2d y", y.len(), g.n * g.rows_per_image() * g.f)?;
    if y.is_empty() {
        return Ok(());
    }
    let threads = parallel::num_threads();
    let chunk = g.chunk_rows();
    let total_rows = g.n * g.rows_per_image();
    parallel::install(|| {
        if threads == 1 || total_rows <= chunk {
            // One chunk or one thread: the product itself gets the threads.
            let mut patches = Vec::new();
            for (ci, yc) in y.chunks_mut(chunk * g.f).enumerate() {
                forward_rows(g, x, w, b, ci * chunk, yc, &mut patches, threads);
            }
        } else {
            y.par_chunks_mut(chunk * g.f).enumerate().for_each_init(Vec::new, |patches, (ci, yc)| {
                forward_rows(g, x, w, b, ci * chunk, yc, patches, 1)
            });
        }
    });
    Ok(())
}

/// The backward of images `x` (a contiguous range of the batch) with their dy: adds into the
/// task's private dw/db and, when given, writes dx for these images.
#[allow(clippy::too_many_arguments)]
fn backward_images(
    g: &Conv2d,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    mut dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
    gemm_threads: usize,
) {
    let (taps, f) = (g.taps(), g.f);
    let nrows = dy.len() / f;
    let chunk = g.chunk_rows();
    let mut patches = Vec::new();
    let mut dpatches = Vec::new();
    if let Some(dx) = dx.as_deref_mut() {
        dx.fill(0.0);
    }
    for row0 in (0..nrows).step_by(chunk) {
        let rows = chunk.min(nrows - row0);
        let dyc = &dy[row0 * f..(row0 + rows) * f];
        if g.direct() {
            direct_dw_rows(g, x, dyc, row0, dw, db);
        } else {
            for dyrow in dyc.chunks_exact(f) {
                for (d, &v) in db.iter_mut().zip(dyrow) {
                    *d += v;
                }
            }
            patches.resize(rows * taps, 0.0);
            im2col(g, x, row0, rows, &mut patches);
            // dw[taps, F] += patches^T [taps, rows] @ dy [rows, F]
            sgemm(&patches, dyc, dw, taps, rows, f, true, false, true, gemm_threads);
        }
        if let Some(dx) = dx.as_deref_mut() {
            // dpatches[rows, taps] = dy [rows, F] @ w^T [F, taps], then scattered back.
            dpatches.resize(rows * taps, 0.0);
            sgemm(dyc, w, &mut dpatches, rows, f, taps, false, true, false, gemm_threads);
            col2im(g, &dpatches, row0, rows, dx);
        }
    }
}

/// x[N,H,W,C], w[KH,KW,C,F], dy[N,OH,OW,F] -> dx[N,H,W,C] (when given), dw[KH,KW,C,F], db[F]
pub fn conv2d_backward(
    g: &Conv2d,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
) -> KResult<()> {
    let (xpi, rpi, f) = (g.x_per_image(), g.rows_per_image(), g.f);
    ensure_len("conv2d x", x.len(), g.n * xpi)?;
    ensure_len("conv2d kernel", w.len(), g.taps() * f)?;
    ensure_len("conv2d dy", dy.len(), g.n * rpi * f)?;
    ensure_len("conv2d dw", dw.len(), g.taps() * f)?;
    ensure_len("conv2d db", db.len(), f)?;
    if let Some(dx) = dx.as_deref() {
        ensure_len("conv2d dx", dx.len(), g.n * xpi)?;
    }
    dw.fill(0.0);
    db.fill(0.0);
    if g.n == 0 {
        return Ok(());
    }
    let threads = parallel::num_threads();
    let ranges = image_ranges(g.n, threads);
    let dw_len = dw.len();
    parallel::install(|| {
        if ranges.len() == 1 {
            backward_images(g, x, w, dy, dx, dw, db, threads);
            return;
        }
        // One task per range of images, each with a private dw/db; dx ranges are disjoint.
        let mut dx_parts: Vec<Option<&mut [f32]>> = Vec::with_capacity(ranges.len());
        match dx {
            Some(dx) => {
                let mut rest = dx;
                for &(_, len) in &ranges {
                    let (head, tail) = rest.split_at_mut(len * xpi);
                    dx_parts.push(Some(head));
                    rest = tail;
                }
            }
            None => dx_parts.resize_with(ranges.len(), || None),
        }
        let partials: Vec<(Vec<f32>, Vec<f32>)> = ranges
            .par_iter()
            .zip(dx_parts.into_par_iter())
            .map(|(&(start, len), dxp)| {
                let mut pdw = vec![0.0f32; dw_len];
                let mut pdb = vec![0.0f32; f];
                let xs = &x[start * xpi..(start + len) * xpi];
                let dys = &dy[start * rpi * f..(start + len) * rpi * f];
                backward_images(g, xs, w, dys, dxp, &mut pdw, &mut pdb, 1);
                (pdw, pdb)
            })
            .collect();
        for (pdw, pdb) in &partials {
            for (d, v) in dw.iter_mut().zip(pdw) {
                *d += v;
            }
            for (d, v) in db.iter_mut().zip(pdb) {
                *d += v;
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect()
    }

    /// The definition, in f64: y[n,oy,ox,f] = b[f] + sum x[n, oy*sh+ky-pt, ox*sw+kx-pl, c] w[ky,kx,c,f].
    fn naive(g: &Conv2d, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let mut y = vec![0.0f32; g.n * g.oh * g.ow * g.f];
        for n in 0..g.n {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    for f in 0..g.f {
                        let mut acc = b[f] as f64;
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
                                let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
                                if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                    continue;
                                }
                                for c in 0..g.c {
                                    let xv = x[((n * g.h + iy as usize) * g.w + ix as usize) * g.c + c];
                                    let wv = w[((ky * g.kw + kx) * g.c + c) * g.f + f];
                                    acc += xv as f64 * wv as f64;
                                }
                            }
                        }
                        y[((n * g.oh + oy) * g.ow + ox) * g.f + f] = acc as f32;
                    }
                }
            }
        }
        y
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "element {i}: {x} vs {y}");
        }
    }

    #[test]
    fn same_padding_rule_matches_tensorflow() {
        // in 28, k 3, stride 1: out 28, pad 1 before (and 1 after)
        assert_eq!(out_len_and_pad(28, 3, 1, Padding::Same), Some((28, 1)));
        // in 5, k 2, stride 2: out 3, total (2*2+2-5)=1 -> 0 before, 1 after
        assert_eq!(out_len_and_pad(5, 2, 2, Padding::Same), Some((3, 0)));
        // in 4, k 4, stride 1: out 4, total 3 -> 1 before, 2 after
        assert_eq!(out_len_and_pad(4, 4, 1, Padding::Same), Some((4, 1)));
        assert_eq!(out_len_and_pad(28, 3, 1, Padding::Valid), Some((26, 0)));
        assert_eq!(out_len_and_pad(7, 3, 2, Padding::Valid), Some((3, 0)));
        assert_eq!(out_len_and_pad(2, 3, 1, Padding::Valid), None);
    }

    #[test]
    fn forward_matches_naive_both_paths() {
        // (x shape, kernel shape, stride, padding): tiny fields take the direct path, big ones im2col.
        let cases = [
            ([2, 9, 7, 1], [3, 3, 1, 5], (1, 1), Padding::Valid),
            ([3, 8, 9, 2], [3, 2, 2, 3], (2, 1), Padding::Same),
            ([2, 10, 11, 6], [3, 3, 6, 7], (1, 2), Padding::Same),
            ([5, 12, 12, 8], [5, 5, 8, 4], (3, 3), Padding::Valid),
            ([1, 4, 4, 3], [4, 4, 3, 2], (1, 1), Padding::Same),
            ([9, 30, 30, 4], [3, 3, 4, 8], (1, 1), Padding::Same),
        ];
        for (i, (xs, ws, st, pad)) in cases.iter().enumerate() {
            let g = Conv2d::new(xs, ws, *st, *pad).unwrap();
            let x = data(xs.iter().product(), i as u64);
            let w = data(ws.iter().product(), 100 + i as u64);
            let b = data(g.f, 200 + i as u64);
            let mut y = vec![f32::NAN; g.n * g.oh * g.ow * g.f];
            conv2d_forward(&g, &x, &w, Some(&b), &mut y).unwrap();
            close(&y, &naive(&g, &x, &w, &b), 1e-5);
        }
    }

    #[test]
    fn backward_is_the_adjoint_of_forward() {
        // <dy, conv(x, w)> = <dx, x> + <dw, w> + <db, b> (conv is bilinear), a cheap exact check.
        for (i, (xs, ws, st, pad)) in [
            ([3, 7, 6, 1], [3, 3, 1, 4], (1, 1), Padding::Same),
            ([5, 9, 8, 5], [3, 2, 5, 3], (2, 2), Padding::Same),
            ([4, 6, 6, 3], [2, 2, 3, 2], (1, 1), Padding::Valid),
        ]
        .iter()
        .enumerate()
        {
            let g = Conv2d::new(xs, ws, *st, *pad).unwrap();
            let x = data(xs.iter().product(), i as u64);
            let w = data(ws.iter().product(), 10 + i as u64);
            let zero_b = vec![0.0; g.f];
            let dy = data(g.n * g.oh * g.ow * g.f, 20 + i as u64);
            let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; g.f]);
            conv2d_backward(&g, &x, &w, &dy, Some(&mut dx), &mut dw, &mut db).unwrap();
            let y = naive(&g, &x, &w, &zero_b);
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| *p as f64 * *q as f64).sum::<f64>();
            let lhs = dot(&dy, &y);
            assert!((lhs - dot(&dx, &x)).abs() < 1e-4 * (1.0 + lhs.abs()), "dx");
            assert!((lhs - dot(&dw, &w)).abs() < 1e-4 * (1.0 + lhs.abs()), "dw");
            let ones = vec![1.0f32; g.n * g.oh * g.ow];
            let sums: Vec<f32> = (0..g.f).map(|j| dy.iter().skip(j).step_by(g.f).sum()).collect();
            close(&db, &sums, 1e-5);
            assert_eq!(ones.len() * g.f, dy.len());
        }
    }

    #[test]
    fn shape_errors_name_shapes() {
        let e = Conv2d::new(&[1, 5, 5, 3], &[3, 3, 2, 4], (1, 1), Padding::Valid).unwrap_err();
        assert!(e.to_string().contains("[3, 3, 2, 4]") && e.to_string().contains("[1, 5, 5, 3]"), "{e}");
        let e = Conv2d::new(&[1, 2, 5, 3], &[3, 3, 3, 4], (1, 1), Padding::Valid).unwrap_err();
        assert!(e.to_string().contains("larger"), "{e}");
        assert!(Conv2d::new(&[1, 2, 5, 3], &[3, 3, 3, 4], (1, 1), Padding::Same).is_ok());
        assert!(Conv2d::new(&[5, 5, 3], &[3, 3, 3, 4], (1, 1), Padding::Same).is_err());
        assert!(Padding::parse("full").is_err());
    }
}
