//! The patch matrix of the im2col path and its adjoint: a row per output pixel holding its
//! receptive field (KH contiguous runs of KW*C floats in NHWC), zeros over the padding.

use super::Conv2d;

/// Fill `patches` [nrows, taps] with the receptive fields of output rows `row0..row0+nrows`,
/// rows counted from the first image of `x` (zeros where the field hangs over the padding).
pub(super) fn im2col(g: &Conv2d, x: &[f32], row0: usize, nrows: usize, patches: &mut [f32]) {
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
pub(super) fn col2im(g: &Conv2d, dpatches: &[f32], row0: usize, nrows: usize, dx: &mut [f32]) {
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

