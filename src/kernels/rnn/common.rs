//! What the three cells share: shape checks, a row-strided sgemm (to read/write one timestep of a
//! batch-first [N,T,*] buffer in place), the thread decision, and slice-wide activations whose
//! sigmoid/tanh are branch-free so the compiler vectorizes them (the gate math is exp-bound).

use crate::error::{ensure_len, KResult, KernelError};
use crate::kernels::activations::{sigmoid_fast, tanh_fast, Act};
use crate::parallel;
use gemm::Parallelism;

/// Sizes of one recurrent call: batch N, timesteps T, input features D, units H.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RnnDims {
    pub n: usize,
    pub t: usize,
    pub d: usize,
    pub h: usize,
}

impl RnnDims {
    /// Check x[N,T,D], kernel[D,G*H], recurrent[H,G*H] and bias (`bias_shape`, e.g. [G*H] or
    /// [2,G*H]) for a cell with `gates` gates; every error names the expected and actual shapes.
    pub fn check(
        layer: &str,
        gates: usize,
        x: &[usize],
        kernel: &[usize],
        recurrent: &[usize],
        bias: Option<&[usize]>,
        bias_expected: &dyn Fn(usize) -> Vec<usize>,
    ) -> KResult<RnnDims> {
        let shape_err = |what: &str, want: String, got: &[usize]| {
            KernelError::Shape(format!("{layer}: {what} must have shape {want}, got {got:?}"))
        };
        if x.len() != 3 {
            return Err(shape_err("x", "[batch, timesteps, features]".into(), x));
        }
        if recurrent.len() != 2 || recurrent[0] == 0 || recurrent[1] != gates * recurrent[0] {
            return Err(shape_err("recurrent_kernel", format!("[units, {gates}*units]"), recurrent));
        }
        let (n, t, d, h) = (x[0], x[1], x[2], recurrent[0]);
        if kernel != [d, gates * h] {
            return Err(KernelError::Shape(format!(
                "{layer}: kernel must have shape [{d}, {}] for x of shape {x:?} and recurrent_kernel \
                 of shape {recurrent:?}, got {kernel:?}",
                gates * h
            )));
        }
        if let Some(b) = bias {
            let want = bias_expected(h);
            if b != want.as_slice() {
                return Err(KernelError::Shape(format!(
                    "{layer}: bias must have shape {want:?} for recurrent_kernel of shape \
                     {recurrent:?}, got {b:?}"
                )));
            }
        }
        Ok(RnnDims { n, t, d, h })
    }

    /// The [N,T,H] shape check for hs / dhs / per-unit cache arrays in the backward.
    pub fn check_seq(&self, layer: &str, name: &str, shape: &[usize], width: usize) -> KResult<()> {
        if shape != [self.n, self.t, width] {
            return Err(KernelError::Shape(format!(
                "{layer}: {name} must have shape [{}, {}, {width}], got {shape:?}",
                self.n, self.t
            )));
        }
        Ok(())
    }
}

/// The activations a recurrent cell accepts: elementwise ones whose derivative is a function of
/// the output (the cache keeps outputs, not pre-activations). Keras 3 defaults for the slopes.
pub fn parse_rnn_activation(name: &str) -> KResult<Act> {
    let alpha = match name {
        "leaky_relu" => 0.2,
        "elu" => 1.0,
        _ => 0.0,
    };
    let act = Act::parse(name, alpha)?;
    if act.needs_input() || act == Act::Softmax {
        return Err(KernelError::Value(format!(
            "recurrent layers support the activations linear, relu, sigmoid, tanh, leaky_relu, elu; \
             got '{name}'"
        )));
    }
    Ok(act)
}

/// Below this many multiply-adds per step the recurrent loop stays on the calling thread: the
/// per-step sgemm is too small for the pool's wake-up to pay.
const PARALLEL_MIN_STEP_FLOPS: usize = 64 * 64 * 64;

/// Run `f(threads)` either on the calling thread (threads = 1) for small problems, or inside the
/// pool with all its threads when one step's recurrent sgemm (`step_macs`) is big enough.
pub fn run_sized<R: Send>(step_macs: usize, f: impl FnOnce(usize) -> R + Send) -> R {
    let threads = parallel::num_threads();
    if threads > 1 && step_macs >= PARALLEL_MIN_STEP_FLOPS {
        parallel::install(|| f(threads))
    } else {
        f(1)
    }
}

/// A float buffer borrowed from a small process-wide pool and returned on drop, so the
/// backward's multi-megabyte gate-gradient buffers are not mmapped, page-faulted, zeroed and
/// unmapped again on every training step. Its contents on arrival are unspecified: callers
/// overwrite every element they read.
pub struct Scratch(Vec<f32>);

static SCRATCH_POOL: std::sync::Mutex<Vec<Vec<f32>>> = std::sync::Mutex::new(Vec::new());
/// Buffers kept at most (a backward takes up to three at once), and the largest one kept.
const SCRATCH_KEEP: usize = 6;
const SCRATCH_MAX_FLOATS: usize = 1 << 24;

impl Scratch {
    /// A buffer of exactly `len` floats (unspecified contents).
    pub fn take(len: usize) -> Scratch {
        let mut v = {
            let mut pool = SCRATCH_POOL.lock().unwrap_or_else(|e| e.into_inner());
            // Prefer the smallest pooled buffer that already holds `len`.
            let best = pool
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= len)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            match best {
                Some(i) => pool.swap_remove(i),
                None => pool.pop().unwrap_or_default(),
            }
        };
        if v.len() > len {
            v.truncate(len);
        } else {
            v.resize(len, 0.0);
        }
        Scratch(v)
    }

    pub fn vec(&mut self) -> &mut Vec<f32> {
        &mut self.0
    }
}

impl std::ops::Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        if v.capacity() == 0 || v.capacity() > SCRATCH_MAX_FLOATS {
            return;
        }
        let mut pool = SCRATCH_POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < SCRATCH_KEEP {
            pool.push(v);
        }
    }
}

/// Rows of the batch per thread block when the time loop is split over `threads` (at least 1).
pub fn batch_block(n: usize, threads: usize) -> usize {
    n.div_ceil(threads.max(1)).max(1)
}

/// Run `f` on every block: in order on this thread when `threads` is 1, otherwise one task per
/// block in the current pool (the caller is inside `parallel::install`).
pub fn for_each_block<I, F>(blocks: I, threads: usize, f: F)
where
    I: Iterator,
    I::Item: Send,
    F: Fn(I::Item) + Sync,
{
    if threads <= 1 {
        blocks.for_each(f);
    } else {
        let f = &f;
        let blocks: Vec<I::Item> = blocks.collect();
        rayon::scope(|s| {
            for b in blocks {
                s.spawn(move |_| f(b));
            }
        });
    }
}

/// c (m rows of n, row stride ldc) = [c +] a (m rows of k, row stride lda) @ op(b), where b is a
/// contiguous [k,n] matrix, or [n,k] when `trans_b`. The strides let one timestep of a batch-first
/// [N,T,W] buffer (row stride T*W) be read or written without a copy.
#[allow(clippy::too_many_arguments)]
pub fn gemm_rows(
    a: &[f32],
    lda: usize,
    b: &[f32],
    trans_b: bool,
    c: &mut [f32],
    ldc: usize,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // Internal invariants (callers checked the shapes): every row the product touches is in bounds.
    assert!(lda >= k && ldc >= n, "gemm_rows: stride smaller than a row");
    assert!(a.len() >= (m - 1) * lda + k, "gemm_rows: a too small");
    assert!(c.len() >= (m - 1) * ldc + n, "gemm_rows: c too small");
    assert!(b.len() >= k * n, "gemm_rows: b too small");
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                c[row * ldc..row * ldc + n].fill(0.0);
            }
        }
        return;
    }
    let (b_rs, b_cs) = if trans_b { (1isize, k as isize) } else { (n as isize, 1isize) };
    let par = if threads > 1 && m * n * k >= PARALLEL_MIN_STEP_FLOPS {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above bound every element: a[r*lda + j] for r < m, j < k; c[r*ldc + j]
    // for r < m, j < n; b[k*n] contiguous. gemm computes dst = alpha*dst + beta*lhs@rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.as_ptr(),
            1,
            lda as isize,
            b.as_ptr(),
            b_cs,
            b_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// out[j] = sum over rows of g[row*width + j] (a bias gradient), added into `out`.
pub fn col_sum_add(g: &[f32], width: usize, out: &mut [f32]) {
    if width == 0 {
        return;
    }
    for row in g.chunks_exact(width) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// [N,T,W] -> [N,T,W] shifted one step later in time, zeros at t = 0: row (n,t) holds hs[n,t-1].
/// The weight gradient of the recurrent kernel is then one sgemm shifted^T @ dG.
pub fn shift_in_time(hs: &[f32], d: &RnnDims, out: &mut Vec<f32>) {
    let (t, h) = (d.t, d.h);
    out.clear();
    out.resize(d.n * t * h, 0.0);
    if t == 0 || h == 0 {
        return;
    }
    for (src, dst) in hs.chunks_exact(t * h).zip(out.chunks_exact_mut(t * h)) {
        dst[h..].copy_from_slice(&src[..(t - 1) * h]);
    }
}

pub fn ensure(name: &str, got: usize, expected: usize) -> KResult<()> {
    ensure_len(name, got, expected)
}

// ---- vectorizable activations --------------------------------------------------------------

// exp_fast / sigmoid_fast / tanh_fast: the branch-free scalar forms activations.rs defines for every
// kernel (they vectorize inside an AVX2/FMA caller).

/// y = act(y) in place, over a slice: one match, then a tight loop the compiler vectorizes.
/// Always inlined, so inside an AVX2/FMA-enabled caller it is compiled with those features.
#[inline(always)]
pub fn act_inplace(act: Act, y: &mut [f32]) {
    match act {
        Act::Sigmoid => y.iter_mut().for_each(|v| *v = sigmoid_fast(*v)),
        Act::Tanh => y.iter_mut().for_each(|v| *v = tanh_fast(*v)),
        Act::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
        Act::Linear => {}
        other => y.iter_mut().for_each(|v| *v = other.apply(*v)),
    }
}

/// act'(x) written through y = act(x) (the recurrent activations never need x).
#[inline(always)]
pub fn grad_from_output(act: Act, y: f32) -> f32 {
    match act {
        Act::Sigmoid => y * (1.0 - y),
        Act::Tanh => 1.0 - y * y,
        Act::Relu => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Act::Linear => 1.0,
        other => other.grad(0.0, y),
    }
}

/// d *= act'(x), with the derivative written through y = act(x): one match, then a tight loop.
#[inline(always)]
pub fn mul_grad(act: Act, y: &[f32], d: &mut [f32]) {
    match act {
        Act::Sigmoid => d.iter_mut().zip(y).for_each(|(d, &y)| *d *= y * (1.0 - y)),
        Act::Tanh => d.iter_mut().zip(y).for_each(|(d, &y)| *d *= 1.0 - y * y),
        Act::Relu => d.iter_mut().zip(y).for_each(|(d, &y)| *d = if y > 0.0 { *d } else { 0.0 }),
        Act::Linear => {}
        other => d.iter_mut().zip(y).for_each(|(d, &y)| *d *= grad_from_output(other, y)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::activations::exp_fast;

    #[test]
    fn fast_exp_sigmoid_tanh_are_accurate() {
        let mut x = -90.0f32;
        while x < 90.0 {
            let e = exp_fast(x) as f64;
            let want = (x as f64).exp();
            if x > -87.0 && x < 88.0 {
                assert!((e - want).abs() <= 1e-6 * want, "exp({x}) = {e}, want {want}");
            }
            let s = sigmoid_fast(x) as f64;
            assert!((s - 1.0 / (1.0 + (-x as f64).exp())).abs() < 1e-7, "sigmoid({x}) = {s}");
            let t = tanh_fast(x) as f64;
            assert!((t - (x as f64).tanh()).abs() < 2e-7, "tanh({x}) = {t}");
            x += 0.0137;
        }
        assert_eq!(tanh_fast(0.0), 0.0);
        assert!(exp_fast(1000.0).is_finite() && exp_fast(-1000.0) >= 0.0);
    }

    #[test]
    fn shift_in_time_moves_rows_one_step_later() {
        let d = RnnDims { n: 2, t: 3, d: 1, h: 2 };
        let hs: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut out = Vec::new();
        shift_in_time(&hs, &d, &mut out);
        assert_eq!(out, vec![0., 0., 0., 1., 2., 3., 0., 0., 6., 7., 8., 9.]);
    }

    #[test]
    fn strided_gemm_matches_naive() {
        // a: 3 rows of k=2 with stride 5; c: rows of n=4 with stride 6, accumulating.
        let a: Vec<f32> = (0..15).map(|v| v as f32 * 0.5).collect();
        let b: Vec<f32> = (0..8).map(|v| v as f32 - 3.0).collect();
        let mut c = vec![1.0f32; 18];
        gemm_rows(&a, 5, &b, false, &mut c, 6, 3, 2, 4, true, 1);
        for r in 0..3 {
            for j in 0..4 {
                let want = 1.0 + a[r * 5] * b[j] + a[r * 5 + 1] * b[4 + j];
                assert!((c[r * 6 + j] - want).abs() < 1e-5);
            }
            assert_eq!(&c[r * 6 + 4..r * 6 + 6], &[1.0, 1.0]);
        }
    }

    #[test]
    fn check_names_shapes() {
        let e = RnnDims::check("lstm", 4, &[2, 3, 5], &[5, 16], &[4, 12], None, &|h| vec![4 * h])
            .unwrap_err();
        assert!(e.to_string().contains("[4, 12]"), "{e}");
        let e = RnnDims::check("lstm", 4, &[2, 3, 5], &[6, 16], &[4, 16], None, &|h| vec![4 * h])
            .unwrap_err();
        assert!(e.to_string().contains("[6, 16]") && e.to_string().contains("[5, 16]"), "{e}");
        let ok = RnnDims::check("lstm", 4, &[2, 3, 5], &[5, 16], &[4, 16], Some(&[16]), &|h| {
            vec![4 * h]
        })
        .unwrap();
        assert_eq!(ok, RnnDims { n: 2, t: 3, d: 5, h: 4 });
    }
}
