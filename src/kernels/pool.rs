//! MaxPooling2D and AveragePooling2D, channels-last: x[N,H,W,C] -> y[N,OH,OW,C], forward and
//! backward. Padding follows TensorFlow's "valid"/"same" rule (shared with conv); padded cells
//! never win a max and are not counted in an average (as Keras does).
//! Max forward also returns, per output, the flat index into x of the first maximum of its
//! window; the backward scatters dy there. Images are independent: parallel over the batch.

use crate::error::{ensure_len, KResult, KernelError};
use crate::kernels::conv::{out_len_and_pad, Padding};
use crate::parallel;
use rayon::prelude::*;

/// Below this many window reads a pooling call stays on one thread.
const PARALLEL_MIN_WORK: usize = 1 << 16;

/// The geometry of one pooling, checked once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub ph: usize,
    pub pw: usize,
    pub sh: usize,
    pub sw: usize,
    pub oh: usize,
    pub ow: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

/// One output position's window, clipped to the image: rows iy0..iy1, columns ix0..ix1.
struct Window {
    iy0: usize,
    iy1: usize,
    ix0: usize,
    ix1: usize,
}

impl Pool2d {
    /// Check x[N,H,W,C] against pool_size and strides (both positive) for `padding`.
    pub fn new(x_shape: &[usize], pool: (usize, usize), strides: (usize, usize), padding: Padding) -> KResult<Pool2d> {
        if x_shape.len() != 4 {
            return Err(KernelError::Shape(format!(
                "pool2d: x must be 4-D [N,H,W,C], got shape {x_shape:?}"
            )));
        }
        if pool.0 == 0 || pool.1 == 0 {
            return Err(KernelError::Value(format!("pool2d: pool_size must be positive, got {pool:?}")));
        }
        if strides.0 == 0 || strides.1 == 0 {
            return Err(KernelError::Value(format!("pool2d: strides must be positive, got {strides:?}")));
        }
        let (n, h, w, c) = (x_shape[0], x_shape[1], x_shape[2], x_shape[3]);
        if h == 0 || w == 0 || c == 0 {
            return Err(KernelError::Shape(format!(
                "pool2d: x has an empty spatial or channel dimension: shape {x_shape:?}"
            )));
        }
        // argmax is found on 32-bit pixel indices (as wide as the f32 lanes they are blended with).
        if !matches!(h.checked_mul(w), Some(pixels) if pixels <= u32::MAX as usize) {
            return Err(KernelError::Shape(format!(
                "pool2d: an image of {h} x {w} pixels is over the 2^32 pixels supported: shape {x_shape:?}"
            )));
        }
        let rows = out_len_and_pad(h, pool.0, strides.0, padding);
        let cols = out_len_and_pad(w, pool.1, strides.1, padding);
        let (Some((oh, pad_top)), Some((ow, pad_left))) = (rows, cols) else {
            return Err(KernelError::Shape(format!(
                "pool2d: pool_size {pool:?} is larger than the input x {x_shape:?} with padding \"valid\""
            )));
        };
        Ok(Pool2d { n, h, w, c, ph: pool.0, pw: pool.1, sh: strides.0, sw: strides.1, oh, ow, pad_top, pad_left })
    }

    pub fn y_shape(&self) -> [usize; 4] {
        [self.n, self.oh, self.ow, self.c]
    }
    fn x_per_image(&self) -> usize {
        self.h * self.w * self.c
    }
    fn y_per_image(&self) -> usize {
        self.oh * self.ow * self.c
    }
    /// The window of output (oy, ox), clipped to the image. Never empty: "same" pads less than
    /// a window on each side, "valid" does not pad.
    fn window(&self, oy: usize, ox: usize) -> Window {
        let y0 = (oy * self.sh) as isize - self.pad_top as isize;
        let x0 = (ox * self.sw) as isize - self.pad_left as isize;
        Window {
            iy0: y0.max(0) as usize,
            iy1: ((y0 + self.ph as isize) as usize).min(self.h),
            ix0: x0.max(0) as usize,
            ix1: ((x0 + self.pw as isize) as usize).min(self.w),
        }
    }
    fn parallel(&self) -> bool {
        self.n > 1 && self.n * self.y_per_image() * self.ph * self.pw >= PARALLEL_MIN_WORK
    }
    /// The gradient handed to backward must have the forward output's shape.
    fn check_dy(&self, what: &str, dy_shape: &[usize]) -> KResult<()> {
        if dy_shape != self.y_shape() {
            return Err(KernelError::Shape(format!(
                "{what}: dy has shape {dy_shape:?}, expected the output shape {:?} for x_shape {:?}",
                self.y_shape(),
                [self.n, self.h, self.w, self.c]
            )));
        }
        Ok(())
    }
}

/// Run `body(image, x_image_out_or_in, y_image)` for every image, in parallel when it pays.
fn per_image<A: Sync, B: Send>(
    g: &Pool2d,
    a: &[A],
    a_per: usize,
    b: &mut [B],
    b_per: usize,
    body: impl Fn(usize, &[A], &mut [B]) + Sync + Send,
) {
    if g.n == 0 || b_per == 0 {
        return;
    }
    if g.parallel() {
        parallel::install(|| {
            b.par_chunks_mut(b_per)
                .enumerate()
                .for_each(|(i, bi)| body(i, &a[i * a_per..(i + 1) * a_per], bi))
        });
    } else {
        for (i, bi) in b.chunks_mut(b_per).enumerate() {
            body(i, &a[i * a_per..(i + 1) * a_per], bi);
        }
    }
}

/// x[N,H,W,C] -> y[N,OH,OW,C], argmax[N,OH,OW,C] (flat index into x of the first maximum)
pub fn maxpool2d_forward(g: &Pool2d, x: &[f32], y: &mut [f32], argmax: &mut [i64]) -> KResult<()> {
    ensure_len("maxpool2d x", x.len(), g.n * g.x_per_image())?;
    ensure_len("maxpool2d y", y.len(), g.n * g.y_per_image())?;
    ensure_len("maxpool2d argmax", argmax.len(), g.n * g.y_per_image())?;
    let (xpi, ypi) = (g.x_per_image(), g.y_per_image());
    // Pair each image's y with its argmax so both are written by the same task.
    let mut outs: Vec<(&mut [f32], &mut [i64])> =
        y.chunks_mut(ypi.max(1)).zip(argmax.chunks_mut(ypi.max(1))).collect();
    per_image(g, x, xpi, &mut outs, 1, |i, ximg, out| {
        let (yi, ai) = &mut out[0];
        max_image_dispatch(g, (i * xpi) as i64, ximg, yi, ai);
    });
    Ok(())
}

avx2_dispatch!(
    /// `max_image` compiled for AVX2 when the CPU has it: the select loop then runs 8 lanes wide.
    fn max_image_dispatch(g: &Pool2d, base: i64, x: &[f32], y: &mut [f32], argmax: &mut [i64]) => max_image
);

/// One image's max pooling: x[H,W,C] -> y[OH,OW,C], argmax (flat indices into x, from `base`).
#[inline(always)]
fn max_image(g: &Pool2d, base: i64, x: &[f32], y: &mut [f32], argmax: &mut [i64]) {
    let c = g.c;
    let mut winner = vec![0u32; c]; // per channel: the pixel (iy * W + ix) holding the max so far
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let win = g.window(oy, ox);
            let o = (oy * g.ow + ox) * c;
            let best = &mut y[o..o + c];
            // Start from the window's first cell; later cells replace it only when strictly
            // greater, so ties keep the first maximum (row-major window order) and a NaN never
            // wins unless it came first.
            let first = win.iy0 * g.w + win.ix0;
            best.copy_from_slice(&x[first * c..(first + 1) * c]);
            winner.fill(first as u32);
            for iy in win.iy0..win.iy1 {
                for ix in win.ix0..win.ix1 {
                    let pixel = iy * g.w + ix;
                    // Selects on 32-bit lanes, not a branch per channel: the branch mispredicted
                    // about every other channel on real data (1 GB/s); this compiles to compare
                    // and blend vectors.
                    for ((b, at), &v) in best.iter_mut().zip(winner.iter_mut()).zip(&x[pixel * c..][..c]) {
                        let greater = v > *b;
                        *b = if greater { v } else { *b };
                        *at = if greater { pixel as u32 } else { *at };
                    }
                }
            }
            for (k, (a, &at)) in argmax[o..o + c].iter_mut().zip(&winner).enumerate() {
                *a = base + (at as usize * c + k) as i64;
            }
        }
    }
}

/// dy[N,OH,OW,C], argmax[N,OH,OW,C] -> dx[N,H,W,C] (dy added at each argmax; overlapping
/// windows that share a maximum add up). Each index must point into its own image of x.
pub fn maxpool2d_backward(
    x_shape: &[usize],
    dy_shape: &[usize],
    dy: &[f32],
    argmax_shape: &[usize],
    argmax: &[i64],
    dx: &mut [f32],
) -> KResult<()> {
    if x_shape.len() != 4 || dy_shape.len() != 4 || dy_shape[0] != x_shape[0] || dy_shape[3] != x_shape[3] {
        return Err(KernelError::Shape(format!(
            "maxpool2d_backward: dy shape {dy_shape:?} does not match x_shape {x_shape:?} \
             (both must be 4-D [N,H,W,C] with the same N and C)"
        )));
    }
    if argmax_shape != dy_shape {
        return Err(KernelError::Shape(format!(
            "maxpool2d_backward: argmax has shape {argmax_shape:?}, expected dy's shape {dy_shape:?}"
        )));
    }
    let n = x_shape[0];
    let xpi: usize = x_shape[1..].iter().product();
    let ypi: usize = dy_shape[1..].iter().product();
    ensure_len("maxpool2d_backward dy", dy.len(), n * ypi)?;
    ensure_len("maxpool2d_backward argmax", argmax.len(), n * ypi)?;
    ensure_len("maxpool2d_backward dx", dx.len(), n * xpi)?;
    if n == 0 || xpi == 0 {
        return Ok(()); // dx is empty
    }
    // Each index is checked where it is used (one compare beside the add); dx is not returned on
    // an error, so the adds done before it do not matter.
    let scatter = |i: usize, dxi: &mut [f32]| -> Result<(), ()> {
        dxi.fill(0.0); // here, not in a pass of its own: the image is then in cache for the adds
        let base = (i * xpi) as i64;
        for (&g, &a) in dy[i * ypi..(i + 1) * ypi].iter().zip(&argmax[i * ypi..(i + 1) * ypi]) {
            *dxi.get_mut(a.wrapping_sub(base) as usize).ok_or(())? += g;
        }
        Ok(())
    };
    let scattered = if n > 1 && n * ypi >= PARALLEL_MIN_WORK {
        parallel::install(|| dx.par_chunks_mut(xpi).enumerate().try_for_each(|(i, d)| scatter(i, d)))
    } else {
        dx.chunks_mut(xpi).enumerate().try_for_each(|(i, d)| scatter(i, d))
    };
    if scattered.is_err() {
        // Name the first index outside its image (the scatter may have stopped at a later one).
        let image_start = |j: usize| (j / ypi * xpi) as i64;
        let j = (0..argmax.len())
            .find(|&j| !(image_start(j)..image_start(j) + xpi as i64).contains(&argmax[j]))
            .expect("the scatter found an index outside its image");
        let (img, lo) = (j / ypi, image_start(j));
        return Err(KernelError::Value(format!(
            "maxpool2d_backward: argmax[{j}] = {} is outside image {img} of x (indices {lo}..{}) \
             for x_shape {x_shape:?}",
            argmax[j],
            lo + xpi as i64
        )));
    }
    Ok(())
}

/// x[N,H,W,C] -> y[N,OH,OW,C]: the mean of each window's cells inside the image.
pub fn avgpool2d_forward(g: &Pool2d, x: &[f32], y: &mut [f32]) -> KResult<()> {
    ensure_len("avgpool2d x", x.len(), g.n * g.x_per_image())?;
    ensure_len("avgpool2d y", y.len(), g.n * g.y_per_image())?;
    per_image(g, x, g.x_per_image(), y, g.y_per_image(), |_, ximg, yi| avg_image_dispatch(g, ximg, yi));
    Ok(())
}

/// dy[N,OH,OW,C] -> dx[N,H,W,C]: each dy spread evenly over its window's cells inside the image.
pub fn avgpool2d_backward(g: &Pool2d, dy_shape: &[usize], dy: &[f32], dx: &mut [f32]) -> KResult<()> {
    g.check_dy("avgpool2d_backward", dy_shape)?;
    ensure_len("avgpool2d_backward dy", dy.len(), g.n * g.y_per_image())?;
    ensure_len("avgpool2d_backward dx", dx.len(), g.n * g.x_per_image())?;
    per_image(g, dy, g.y_per_image(), dx, g.x_per_image(), |_, dyi, dxi| avg_image_backward_dispatch(g, dyi, dxi));
    Ok(())
}

avx2_dispatch!(fn avg_image_dispatch(g: &Pool2d, x: &[f32], y: &mut [f32]) => avg_image);
avx2_dispatch!(fn avg_image_backward_dispatch(g: &Pool2d, dy: &[f32], dx: &mut [f32]) => avg_image_backward);

/// One image: y[OH,OW,C] = the mean of each window's cells of x[H,W,C].
#[inline(always)]
fn avg_image(g: &Pool2d, x: &[f32], y: &mut [f32]) {
    let c = g.c;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let win = g.window(oy, ox);
            let yv = &mut y[(oy * g.ow + ox) * c..][..c];
            yv.fill(0.0);
            for iy in win.iy0..win.iy1 {
                for ix in win.ix0..win.ix1 {
                    for (s, &v) in yv.iter_mut().zip(&x[(iy * g.w + ix) * c..][..c]) {
                        *s += v;
                    }
                }
            }
            let inv = 1.0 / ((win.iy1 - win.iy0) * (win.ix1 - win.ix0)) as f32;
            yv.iter_mut().for_each(|s| *s *= inv);
        }
    }
}

/// One image: dx[H,W,C] = each dy[OH,OW,C] spread evenly over its window's cells.
#[inline(always)]
fn avg_image_backward(g: &Pool2d, dy: &[f32], dx: &mut [f32]) {
    let c = g.c;
    dx.fill(0.0);
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let win = g.window(oy, ox);
            let inv = 1.0 / ((win.iy1 - win.iy0) * (win.ix1 - win.ix0)) as f32;
            let gv = &dy[(oy * g.ow + ox) * c..][..c];
            for iy in win.iy0..win.iy1 {
                for ix in win.ix0..win.ix1 {
                    for (d, &v) in dx[(iy * g.w + ix) * c..][..c].iter_mut().zip(gv) {
                        *d += v * inv;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxpool_ties_pick_first_and_backward_scatters() {
        // One 4x4 single-channel image of ones, 2x2 windows: every argmax is the window's top-left.
        let g = Pool2d::new(&[1, 4, 4, 1], (2, 2), (2, 2), Padding::Valid).unwrap();
        let x = vec![1.0f32; 16];
        let (mut y, mut a) = (vec![0.0; 4], vec![0i64; 4]);
        maxpool2d_forward(&g, &x, &mut y, &mut a).unwrap();
        assert_eq!(y, vec![1.0; 4]);
        assert_eq!(a, vec![0, 2, 8, 10]);
        let mut dx = vec![9.0; 16];
        maxpool2d_backward(&[1, 4, 4, 1], &[1, 2, 2, 1], &[1.0, 2.0, 3.0, 4.0], &[1, 2, 2, 1], &a, &mut dx).unwrap();
        assert_eq!(dx[0], 1.0);
        assert_eq!(dx[10], 4.0);
        assert_eq!(dx.iter().sum::<f32>(), 10.0);
        let bad = [0, 2, 8, 16];
        assert!(maxpool2d_backward(&[1, 4, 4, 1], &[1, 2, 2, 1], &[0.0; 4], &[1, 2, 2, 1], &bad, &mut dx).is_err());
    }

    #[test]
    fn avgpool_same_excludes_padding() {
        // 3x3 image 1..9, 2x2 pool stride 2 "same": out 2x2, padding only after (bottom/right).
        let g = Pool2d::new(&[1, 3, 3, 1], (2, 2), (2, 2), Padding::Same).unwrap();
        assert_eq!((g.oh, g.ow, g.pad_top, g.pad_left), (2, 2, 0, 0));
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut y = vec![0.0; 4];
        avgpool2d_forward(&g, &x, &mut y).unwrap();
        assert_eq!(y, vec![3.0, 4.5, 7.5, 9.0]);
        let mut dx = vec![0.0; 9];
        avgpool2d_backward(&g, &[1, 2, 2, 1], &[1.0; 4], &mut dx).unwrap();
        assert_eq!(dx, vec![0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.5, 0.5, 1.0]);
    }

    #[test]
    fn valid_pool_larger_than_input_is_an_error() {
        let e = Pool2d::new(&[2, 3, 3, 4], (4, 4), (1, 1), Padding::Valid).unwrap_err();
        assert!(e.to_string().contains("[2, 3, 3, 4]") && e.to_string().contains("(4, 4)"), "{e}");
    }
}
