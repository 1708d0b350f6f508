//! Conv2D, channels-last (Keras layout): x[N,H,W,C] * w[KH,KW,C,F] (+ b[F]) -> y[N,OH,OW,F]
//! = act(conv + b), forward and backward, plus the "valid"/"same" padding rule pooling shares.
//!
//! Algorithms (chosen by measurement, see benches/README.md):
//! - im2col + sgemm (im2col.rs): the output rows (n, oy, ox) are cut into chunks of a few hundred
//!   rows; a chunk's patch matrix [rows, KH*KW*C] (each row = the receptive field, which in NHWC is
//!   KH contiguous runs of KW*C floats) times w viewed as [KH*KW*C, F] gives the chunk of y.
//!   Chunks keep the patch buffer in L2 and never allocate the whole [N*OH*OW, KH*KW*C] matrix.
//! - direct (direct.rs): each output row is a sum of KH*KW*C scaled rows of w, accumulated in
//!   registers straight from x; no patch matrix at all. The forward takes it whenever w fits in
//!   L2 and F >= 16 (faster than im2col + sgemm at every such shape measured, conv2's included);
//!   dW only for tiny fields (KH*KW*C <= DIRECT_MAX_TAPS, e.g. a 3x3 kernel on a grey image).
//! - The activation is fused: forward applies it to each chunk while the chunk is in cache;
//!   backward forms dz = dy * act'(y) chunk by chunk from the forward output y (no pre-activation
//!   kept, no full-size temporary). gelu, whose derivative needs its input, is refused.
//! - Parallelism: forward splits the output rows into chunks (a multiple of the thread count),
//!   each on one thread with single-threaded sgemm; backward splits the batch into a few contiguous
//!   ranges of images per thread, each accumulating a private dW/db, summed at the end in a fixed
//!   order (results do not depend on scheduling). When a single chunk or image is all there is,
//!   its sgemm gets all the threads instead.
//!
//! Backward: dW^T = dz^T @ patches (accumulated over chunks), db = column sums of dz,
//! dx = col2im(dz @ w^T) (skipped when the caller does not need it, e.g. the first layer).

mod direct;
mod im2col;

use crate::error::{ensure_len, KResult, KernelError};
use crate::kernels::activations::{activation_backward, bias_act_inplace, require_fusable, Act, PARALLEL_MIN_ELEMENTS};
use crate::kernels::gemm::sgemm;
use im2col::{col2im, im2col};
use crate::parallel;
use rayon::prelude::*;

/// Receptive fields up to this many taps (KH*KW*C) take the direct kernels (forward and dW)
/// instead of im2col.
pub const DIRECT_MAX_TAPS: usize = 16;
/// Larger fields still take the direct forward when the kernel (taps x F floats, 512 KiB) stays in
/// L2, which the forward reads once per 4 output pixels, and there are enough filters to fill its
/// 16-wide register blocks. Measured, 1 thread, batch 32, direct vs im2col + sgemm: 3x3x32x64
/// 7.9 vs 8.7 ms, 3x3x64x128 8.0 vs 8.1, 5x5x64x64 4.5 vs 5.6, 3x3x3x16 0.26 vs 0.86. dW keeps
/// the sgemm above DIRECT_MAX_TAPS (conv2's dW: 8.8 ms vs 9.5 direct).
const DIRECT_FWD_MAX_W_FLOATS: usize = 128 * 1024;
const DIRECT_FWD_MIN_FILTERS: usize = 16;
/// Image ranges per thread in the backward (see conv2d_backward).
const BACKWARD_TASKS_PER_THREAD: usize = 4;
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
    pub(crate) fn rows_per_image(&self) -> usize {
        self.oh * self.ow
    }
    pub(crate) fn x_per_image(&self) -> usize {
        self.h * self.w * self.c
    }
    /// Tiny receptive field: direct forward and direct dW.
    fn direct(&self) -> bool {
        self.taps() <= DIRECT_MAX_TAPS
    }
    /// The forward takes the direct kernel (see DIRECT_FWD_MAX_W_FLOATS).
    fn direct_forward(&self) -> bool {
        self.direct() || (self.f >= DIRECT_FWD_MIN_FILTERS && self.taps() * self.f <= DIRECT_FWD_MAX_W_FLOATS)
    }
    /// Output rows per im2col chunk.
    fn chunk_rows(&self) -> usize {
        (PATCH_FLOATS / self.taps()).clamp(MIN_CHUNK_ROWS, MAX_CHUNK_ROWS)
    }
    /// Output rows per forward chunk when `threads` share `total` rows: about `chunk_rows`, with
    /// a chunk count that is a multiple of `threads` so no thread idles through the last round
    /// (one image of conv2: 3 chunks of 227 rows on 2 threads -> 4 of 144).
    fn forward_chunk_rows(&self, total: usize, threads: usize) -> usize {
        let chunk = self.chunk_rows();
        if threads <= 1 || total <= chunk {
            return chunk;
        }
        total.div_ceil(total.div_ceil(chunk).next_multiple_of(threads))
    }
    /// Input row and column of the top-left tap of output row `oy`, column `ox` (may be negative).
    pub(crate) fn origin(&self, oy: usize, ox: usize) -> (isize, isize) {
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

/// Elements per activation pass: under the activation kernels' threading threshold, so a pass
/// made inside a conv task stays on that task's thread (the conv has split the work already), and
/// a whole number of rows of `f` (softmax runs over the filters).
fn act_piece(f: usize) -> usize {
    ((PARALLEL_MIN_ELEMENTS - 1) / f).max(1) * f
}

/// y = act(y) in place, rows of `f` (bias already added).
fn act_inplace(act: Act, y: &mut [f32], f: usize) {
    if act == Act::Linear {
        return;
    }
    for piece in y.chunks_mut(act_piece(f)) {
        bias_act_inplace(act, piece, None, f);
    }
}

/// dz = dy * act'(y), taken from the output y (rows of `f`).
fn act_grad(act: Act, y: &[f32], dy: &[f32], dz: &mut [f32], f: usize) {
    let n = act_piece(f);
    for ((d, yp), gp) in dz.chunks_mut(n).zip(y.chunks(n)).zip(dy.chunks(n)) {
        // x is read by gelu only, which `require_fusable` refuses: y stands in for it.
        activation_backward(act, yp, yp, gp, d, f).expect("conv2d: y, dy and dz pieces have equal lengths");
    }
}

/// y = act(conv(x, w) + b) for output rows `row0..row0+nrows` of `x` (rows from x's first image)
/// into `y` (exactly those rows), one thread per call unless `gemm_threads` > 1.
#[allow(clippy::too_many_arguments)]
fn forward_rows(
    g: &Conv2d,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    act: Act,
    row0: usize,
    y: &mut [f32],
    patches: &mut Vec<f32>,
    gemm_threads: usize,
) {
    let nrows = y.len() / g.f;
    if g.direct_forward() {
        direct::forward_rows(g, x, w, b, row0, y);
    } else {
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
    // The chunk is still in cache: the activation costs one pass over L2, not over memory.
    act_inplace(act, y, g.f);
}

/// x[N,H,W,C], w[KH,KW,C,F], b[F] | None -> y[N,OH,OW,F] = act(conv(x, w) + b)
pub fn conv2d_forward(g: &Conv2d, x: &[f32], w: &[f32], b: Option<&[f32]>, act: Act, y: &mut [f32]) -> KResult<()> {
    require_fusable(act, "conv2d")?;
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
    let total_rows = g.n * g.rows_per_image();
    let chunk = g.forward_chunk_rows(total_rows, threads);
    if threads == 1 || total_rows <= chunk {
        // One chunk or one thread: the product itself gets the threads (the direct kernel does
        // not thread within a chunk: one chunk is little work, cheaper than waking the pool).
        let mut patches = Vec::new();
        let run = |patches: &mut Vec<f32>, y: &mut [f32]| {
            for (ci, yc) in y.chunks_mut(chunk * g.f).enumerate() {
                forward_rows(g, x, w, b, act, ci * chunk, yc, patches, threads);
            }
        };
        if threads > 1 && !g.direct_forward() {
            parallel::install(|| run(&mut patches, y));
        } else {
            run(&mut patches, y);
        }
        return Ok(());
    }
    parallel::install(|| {
        y.par_chunks_mut(chunk * g.f).enumerate().for_each_init(Vec::new, |patches, (ci, yc)| {
            forward_rows(g, x, w, b, act, ci * chunk, yc, patches, 1)
        });
    });
    Ok(())
}

/// dst[j, i] (+)= src[i, j] for src [rows, cols] (once per call on kernel-sized matrices).
fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], add: bool) {
    for (i, row) in src.chunks_exact(cols).take(rows).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let d = &mut dst[j * rows + i];
            *d = if add { *d + v } else { v };
        }
    }
}

/// The backward of images `x` (a contiguous range of the batch) with their y (when the
/// activation needs it) and dy: adds into the task's private dw/db and, when given, writes dx for
/// these images. `w_t` is w transposed, [F, taps], when dx is wanted.
#[allow(clippy::too_many_arguments)]
fn backward_images(
    g: &Conv2d,
    x: &[f32],
    w_t: &[f32],
    y: &[f32],
    act: Act,
    dy: &[f32],
    mut dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
    gemm_threads: usize,
) {
    let (taps, f) = (g.taps(), g.f);
    let nrows = dy.len() / f;
    let chunk = g.chunk_rows();
    let (mut patches, mut dpatches, mut dz_buf) = (Vec::new(), Vec::new(), Vec::new());
    // dW^T [F, taps] for the im2col path, transposed into dw at the end.
    let mut dw_t = if g.direct() { Vec::new() } else { vec![0.0f32; f * taps] };
    if let Some(dx) = dx.as_deref_mut() {
        dx.fill(0.0);
    }
    for row0 in (0..nrows).step_by(chunk) {
        let rows = chunk.min(nrows - row0);
        let dyc = &dy[row0 * f..(row0 + rows) * f];
        // dz = dy * act'(y) for this chunk only: no full-size temporary.
        let dz: &[f32] = if act == Act::Linear {
            dyc
        } else {
            dz_buf.resize(rows * f, 0.0);
            act_grad(act, &y[row0 * f..(row0 + rows) * f], dyc, &mut dz_buf, f);
            &dz_buf
        };
        if g.direct() {
            direct::dw_rows(g, x, dz, row0, dw, db);
        } else {
            for dzrow in dz.chunks_exact(f) {
                for (d, &v) in db.iter_mut().zip(dzrow) {
                    *d += v;
                }
            }
            patches.resize(rows * taps, 0.0);
            im2col(g, x, row0, rows, &mut patches);
            // dW^T [F, taps] += dz^T [F, rows] @ patches [rows, taps]: both operands pack from
            // contiguous rows (dz rows into the A panels, patch rows into the B panels), 11%
            // faster at conv2's shape than dW = patches^T @ dz.
            sgemm(dz, &patches, &mut dw_t, f, rows, taps, true, false, true, gemm_threads);
        }
        if let Some(dx) = dx.as_deref_mut() {
            // dpatches[rows, taps] = dz [rows, F] @ w^T [F, taps], then scattered back (w^T made
            // contiguous once per call: packing it beats packing w transposed at every chunk).
            dpatches.resize(rows * taps, 0.0);
            sgemm(dz, w_t, &mut dpatches, rows, f, taps, false, false, false, gemm_threads);
            col2im(g, &dpatches, row0, rows, dx);
        }
    }
    if !dw_t.is_empty() {
        transpose(&dw_t, f, taps, dw, true);
    }
}

/// x[N,H,W,C], w[KH,KW,C,F], y[N,OH,OW,F] (the forward output; read only when `act` is not
/// linear), dy[N,OH,OW,F] -> dx[N,H,W,C] (when given), dw[KH,KW,C,F], db[F], through
/// dz = dy * act'(y).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward(
    g: &Conv2d,
    x: &[f32],
    w: &[f32],
    y: &[f32],
    act: Act,
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
) -> KResult<()> {
    require_fusable(act, "conv2d")?;
    let (xpi, rpi, f) = (g.x_per_image(), g.rows_per_image(), g.f);
    ensure_len("conv2d x", x.len(), g.n * xpi)?;
    ensure_len("conv2d kernel", w.len(), g.taps() * f)?;
    ensure_len("conv2d dy", dy.len(), g.n * rpi * f)?;
    if act != Act::Linear {
        ensure_len("conv2d y", y.len(), g.n * rpi * f)?;
    }
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
    let ys = |start: usize, len: usize| if act == Act::Linear { &y[..0] } else { &y[start * rpi * f..(start + len) * rpi * f] };
    let mut w_t = Vec::new();
    if dx.is_some() {
        w_t.resize(w.len(), 0.0);
        transpose(w, g.taps(), f, &mut w_t, false);
    }
    let w_t = &w_t[..];
    let threads = parallel::num_threads();
    // BACKWARD_TASKS_PER_THREAD ranges per thread, taken dynamically: on a shared machine a
    // thread that loses its core for a while leaves its remaining ranges to the others (with one
    // fixed half-batch each, conv2's b32 backward ran 17 -> 13 ms from 1 to 2 threads, the
    // forward's chunks 6.5 -> 3.5). Partials are still summed in range order: deterministic.
    let parts = if threads == 1 { 1 } else { threads * BACKWARD_TASKS_PER_THREAD };
    let ranges = image_ranges(g.n, parts);
    let dw_len = dw.len();
    parallel::install(|| {
        if ranges.len() == 1 {
            backward_images(g, x, w_t, ys(0, g.n), act, dy, dx, dw, db, threads);
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
                backward_images(g, xs, w_t, ys(start, len), act, dys, dxp, &mut pdw, &mut pdb, 1);
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
    use crate::kernels::test_data::data;

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
            // direct path: the seed ConvNet's conv1, filter counts that leave 8- and 1-wide
            // blocks, strides and padding on both sides, C > 1
            ([3, 28, 28, 1], [3, 3, 1, 32], (1, 1), Padding::Valid),
            ([2, 11, 13, 1], [3, 3, 1, 21], (2, 1), Padding::Same),
            ([2, 9, 10, 2], [3, 2, 2, 24], (1, 3), Padding::Same),
            ([1, 3, 2, 1], [3, 3, 1, 9], (1, 1), Padding::Same),
            // direct forward with a large field (F >= 16), im2col for dW
            ([2, 9, 8, 5], [3, 3, 5, 20], (2, 1), Padding::Same),
            ([2, 7, 9, 6], [5, 3, 6, 17], (1, 2), Padding::Same),
        ];
        for (i, (xs, ws, st, pad)) in cases.iter().enumerate() {
            let g = Conv2d::new(xs, ws, *st, *pad).unwrap();
            let x = data(xs.iter().product(), i as u64);
            let w = data(ws.iter().product(), 100 + i as u64);
            let b = data(g.f, 200 + i as u64);
            let mut y = vec![f32::NAN; g.n * g.oh * g.ow * g.f];
            conv2d_forward(&g, &x, &w, Some(&b), Act::Linear, &mut y).unwrap();
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
            ([3, 12, 11, 1], [3, 3, 1, 21], (1, 2), Padding::Same),
            ([2, 10, 9, 1], [3, 3, 1, 40], (2, 1), Padding::Valid),
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
            conv2d_backward(&g, &x, &w, &[], Act::Linear, &dy, Some(&mut dx), &mut dw, &mut db).unwrap();
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
    fn fused_activation_matches_the_composition() {
        // forward: act(conv + b); backward with y: the linear backward of dz = dy * act'(y).
        for (i, (xs, ws, act)) in [
            ([2, 9, 8, 1], [3, 3, 1, 20], Act::Relu),
            ([2, 8, 7, 3], [3, 3, 3, 6], Act::Tanh),
            ([3, 7, 7, 1], [2, 2, 1, 5], Act::Softmax),
            ([2, 6, 6, 4], [3, 3, 4, 8], Act::Elu(1.0)),
        ]
        .iter()
        .enumerate()
        {
            let g = Conv2d::new(xs, ws, (1, 1), Padding::Same).unwrap();
            let x = data(xs.iter().product(), 40 + i as u64);
            let w = data(ws.iter().product(), 50 + i as u64);
            let b = data(g.f, 60 + i as u64);
            let ny = g.n * g.oh * g.ow * g.f;
            let (mut z, mut y) = (vec![0.0; ny], vec![0.0; ny]);
            conv2d_forward(&g, &x, &w, Some(&b), Act::Linear, &mut z).unwrap();
            conv2d_forward(&g, &x, &w, Some(&b), *act, &mut y).unwrap();
            let mut want = z.clone();
            bias_act_inplace(*act, &mut want, None, g.f);
            close(&y, &want, 1e-6);
            let dy = data(ny, 70 + i as u64);
            let mut dz = vec![0.0; ny];
            activation_backward(*act, &z, &y, &dy, &mut dz, g.f).unwrap();
            let grads = |yy: &[f32], a: Act, d: &[f32]| {
                let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; g.f]);
                conv2d_backward(&g, &x, &w, yy, a, d, Some(&mut dx), &mut dw, &mut db).unwrap();
                (dx, dw, db)
            };
            let (fused, split) = (grads(&y, *act, &dy), grads(&[], Act::Linear, &dz));
            close(&fused.0, &split.0, 1e-6);
            close(&fused.1, &split.1, 1e-6);
            close(&fused.2, &split.2, 1e-6);
        }
        let g = Conv2d::new(&[1, 4, 4, 1], &[3, 3, 1, 2], (1, 1), Padding::Valid).unwrap();
        let mut y = vec![0.0; 8];
        let e = conv2d_forward(&g, &[0.0; 16], &[0.0; 18], None, Act::Gelu, &mut y).unwrap_err();
        assert!(e.to_string().contains("gelu"), "{e}");
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
