//! Activation functions: the scalar definitions every kernel shares (dense, conv, rnn), and
//! the array forward/backward kernels.
//! Derivatives are taken from the *output* y where the function allows it (so a layer need not keep
//! its pre-activation); `gelu` needs the input and says so via `needs_input`.

use crate::error::{KResult, KernelError};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    /// leaky_relu(x) = x if x > 0 else alpha * x  (Keras default alpha 0.3 is set by the caller)
    LeakyRelu(f32),
    /// elu(x) = x if x > 0 else alpha * (exp(x) - 1)
    Elu(f32),
    /// gelu, tanh approximation off: 0.5 x (1 + erf(x / sqrt 2))  (Keras default approximate=False)
    Gelu,
    /// softmax over the last axis; not a scalar function, handled by the array kernels
    Softmax,
}

impl Act {
    /// Parse a Keras activation name. `alpha` is used by leaky_relu and elu.
    pub fn parse(name: &str, alpha: f32) -> KResult<Act> {
        Ok(match name {
            "linear" | "" | "none" => Act::Linear,
            "relu" => Act::Relu,
            "sigmoid" => Act::Sigmoid,
            "tanh" => Act::Tanh,
            "leaky_relu" => Act::LeakyRelu(alpha),
            "elu" => Act::Elu(alpha),
            "gelu" => Act::Gelu,
            "softmax" => Act::Softmax,
            other => {
                return Err(KernelError::Value(format!(
                    "unknown activation '{other}'; expected one of linear, relu, sigmoid, tanh, \
                     leaky_relu, elu, gelu, softmax"
                )))
            }
        })
    }

    /// Whether the derivative needs the pre-activation input (true only for gelu).
    pub fn needs_input(self) -> bool {
        matches!(self, Act::Gelu)
    }

    /// f(x) for the scalar activations (Softmax is the identity here: use the array kernel).
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Act::Linear | Act::Softmax => x,
            Act::Relu => x.max(0.0),
            Act::Sigmoid => sigmoid(x),
            Act::Tanh => x.tanh(),
            Act::LeakyRelu(a) => if x > 0.0 { x } else { a * x },
            Act::Elu(a) => if x > 0.0 { x } else { a * x.exp_m1() },
            Act::Gelu => 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)),
        }
    }

    /// f'(x) expressed through y = f(x) (and x, used only by gelu).
    #[inline(always)]
    pub fn grad(self, x: f32, y: f32) -> f32 {
        match self {
            Act::Linear | Act::Softmax => 1.0,
            Act::Relu => if y > 0.0 { 1.0 } else { 0.0 },
            Act::Sigmoid => y * (1.0 - y),
            Act::Tanh => 1.0 - y * y,
            Act::LeakyRelu(a) => if y > 0.0 { 1.0 } else { a },
            Act::Elu(a) => if y > 0.0 { 1.0 } else { y + a },
            Act::Gelu => {
                let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
                let pdf = (-0.5 * x * x).exp() * 0.398_942_3;
                cdf + x * pdf
            }
        }
    }
}

/// Overflow-free logistic function.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit), in f64 for accuracy.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x as f64;
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * (-z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
        .exp();
    (if x >= 0.0 { 1.0 - r } else { r - 1.0 }) as f32
}

// ---- vector math ----------------------------------------------------------------------------
// The crate is built for baseline x86-64 (SSE2). `simd` re-compiles a closure for AVX2+FMA when the
// CPU has them: the closure is inlined into a `#[target_feature]` wrapper, so the loops inside it are
// vectorized 8 wide. The math below is branch-free (selects, no libm calls) so those loops vectorize.

/// Run `f` compiled for AVX2+FMA when available (else as is). Put whole loops inside `f`.
#[inline(always)]
pub fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the wrapper is compiled for.
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// exp(x) within ~2 ulp, branch-free (Cephes expf): x is clamped to [-87.3, 88.3], so the result is
/// never inf (exp(-87.3) ~ 1.2e-38 stands in for anything smaller, which no caller can tell from 0).
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to the nearest integer
    let x = x.clamp(-87.3, 88.3);
    let t = x * LOG2E + ROUND;
    let n_int = t.to_bits() as i32 - 0x4B40_0000; // the integer n, read from t's mantissa
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n_int + 127) << 23) as u32)
}

/// Branch-free logistic: 1 / (1 + exp(-x)); exp_fast never overflows, so neither does this.
#[inline(always)]
pub fn sigmoid_fast(x: f32) -> f32 {
    1.0 / (1.0 + exp_fast(-x))
}

/// Branch-free tanh: an odd polynomial near 0 (Cephes tanhf, no cancellation), else 1 - 2/(e^2|x|+1).
#[inline(always)]
pub fn tanh_fast(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small = ((((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z
        + 0.133_314_42)
        * z
        - 0.333_332_82)
        * z
        * x
        + x;
    let big = 1.0 - 2.0 / (exp_fast(2.0 * a) + 1.0);
    let big = if x < 0.0 { -big } else { big };
    if a < 0.625 { small } else { big }
}

/// Below this many elements an elementwise kernel runs on the calling thread: waking the pool
/// costs ~10 us, which is what a 64K-element pass costs on one core.
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;
/// Elements per parallel task: large enough to amortise scheduling, small enough to balance.
const PAR_CHUNK: usize = 1 << 15;

/// y[i] = f(x[i]), vectorized, threaded above PARALLEL_MIN_ELEMENTS.
#[inline(always)]
fn map1(x: &[f32], y: &mut [f32], f: impl Fn(f32) -> f32 + Sync + Copy) {
    let run = |x: &[f32], y: &mut [f32]| {
        simd(|| {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = f(v);
            }
        })
    };
    if x.len() >= PARALLEL_MIN_ELEMENTS && crate::parallel::num_threads() > 1 {
        use rayon::prelude::*;
        crate::parallel::install(|| {
            y.par_chunks_mut(PAR_CHUNK).zip(x.par_chunks(PAR_CHUNK)).for_each(|(y, x)| run(x, y))
        });
    } else {
        run(x, y);
    }
}

/// dx[i] = f(x[i], y[i], dy[i]), vectorized, threaded above PARALLEL_MIN_ELEMENTS.
#[inline(always)]
fn map3(x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32], f: impl Fn(f32, f32, f32) -> f32 + Sync + Copy) {
    let run = |x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]| {
        simd(|| {
            for (((o, &a), &b), &g) in dx.iter_mut().zip(x).zip(y).zip(dy) {
                *o = f(a, b, g);
            }
        })
    };
    if x.len() >= PARALLEL_MIN_ELEMENTS && crate::parallel::num_threads() > 1 {
        use rayon::prelude::*;
        crate::parallel::install(|| {
            dx.par_chunks_mut(PAR_CHUNK)
                .zip(x.par_chunks(PAR_CHUNK))
                .zip(y.par_chunks(PAR_CHUNK))
                .zip(dy.par_chunks(PAR_CHUNK))
                .for_each(|(((dx, x), y), dy)| run(x, y, dy, dx))
        });
    } else {
        run(x, y, dy, dx);
    }
}

// ---- row reductions --------------------------------------------------------------------------
// Rust never reassociates float additions, so `s += v` over a row is one serial dependency chain
// (scalar exp_fast, ~8 ns per element). LANES independent partial results give LLVM separate chains
// it turns into one vector register: softmax over 1000 classes runs ~5x faster.

const LANES: usize = 8;

/// max over the row (NaNs ignored, as f32::max; -inf for an empty row).
#[inline(always)]
pub fn row_max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        let c: &[f32; LANES] = c.try_into().expect("exact chunk");
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter().chain(rest).fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

/// sum of exp(x - m) over the row.
#[inline(always)]
pub fn row_sum_exp(x: &[f32], m: f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        let c: &[f32; LANES] = c.try_into().expect("exact chunk");
        for i in 0..LANES {
            acc[i] += exp_fast(c[i] - m);
        }
    }
    acc.iter().sum::<f32>() + rest.iter().map(|&v| exp_fast(v - m)).sum::<f32>()
}

/// row[i] <- exp(row[i] - m); returns their sum.
#[inline(always)]
fn row_exp_inplace(row: &mut [f32], m: f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for c in &mut chunks {
        let c: &mut [f32; LANES] = c.try_into().expect("exact chunk");
        for i in 0..LANES {
            c[i] = exp_fast(c[i] - m);
            acc[i] += c[i];
        }
    }
    let mut s = 0.0f32;
    for v in chunks.into_remainder() {
        *v = exp_fast(*v - m);
        s += *v;
    }
    acc.iter().sum::<f32>() + s
}

/// sum of a[i] * b[i].
#[inline(always)]
pub fn row_dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        let (x, y): (&[f32; LANES], &[f32; LANES]) = (x.try_into().expect("exact chunk"), y.try_into().expect("exact chunk"));
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(&x, &y)| x * y).sum::<f32>()
}

/// Softmax of one row, in place: max-subtracted, so no overflow for any finite input.
#[inline(always)]
pub fn softmax_row_inplace(row: &mut [f32]) {
    let m = row_max(row);
    let s = row_exp_inplace(row, m);
    let inv = 1.0 / s;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Softmax over each row of `y` (rows of `c`), in place, compiled for AVX2+FMA when the CPU has
/// them. A dedicated function: passed through `rows_mut`'s generic `Fn`, the row code stayed out of
/// line and was compiled for SSE2 only (half the vector width).
fn softmax_rows(y: &mut [f32], c: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(y: &mut [f32], c: usize) {
            for row in y.chunks_exact_mut(c) {
                softmax_row_inplace(row)
            }
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features `avx2` is compiled for.
            return unsafe { avx2(y, c) };
        }
    }
    for row in y.chunks_exact_mut(c) {
        softmax_row_inplace(row)
    }
}

/// Softmax over rows of `c`, threaded by blocks of rows when the array is large.
fn softmax_rows_par(y: &mut [f32], c: usize) {
    if c == 0 {
        return;
    }
    if y.len() >= PARALLEL_MIN_ELEMENTS && crate::parallel::num_threads() > 1 {
        use rayon::prelude::*;
        let rows_per_task = (PAR_CHUNK / c).max(1);
        crate::parallel::install(|| y.par_chunks_mut(rows_per_task * c).for_each(|blk| softmax_rows(blk, c)));
    } else {
        softmax_rows(y, c);
    }
}

/// dz = y * (dy - sum(dy * y)) for one softmax row (the Jacobian-vector product).
#[inline(always)]
pub fn softmax_row_backward(y: &[f32], dy: &[f32], dz: &mut [f32]) {
    let dot = row_dot(y, dy);
    for ((o, &a), &b) in dz.iter_mut().zip(y).zip(dy) {
        *o = a * (b - dot);
    }
}

/// Apply `f` to each row of length `c` (threaded over rows when the array is large).
fn rows_mut(y: &mut [f32], c: usize, f: impl Fn(&mut [f32]) + Sync) {
    if c == 0 {
        return;
    }
    if y.len() >= PARALLEL_MIN_ELEMENTS && crate::parallel::num_threads() > 1 {
        use rayon::prelude::*;
        let rows_per_task = (PAR_CHUNK / c).max(1);
        crate::parallel::install(|| {
            y.par_chunks_mut(rows_per_task * c).for_each(|blk| {
                simd(|| {
                    for row in blk.chunks_exact_mut(c) {
                        f(row)
                    }
                })
            })
        });
    } else {
        // A plain `for` (not `for_each`, whose `fold` LLVM kept out of line, compiled for SSE2
        // only) so the row function is inlined into simd's AVX2 body.
        simd(|| {
            for row in y.chunks_exact_mut(c) {
                f(row)
            }
        });
    }
}

/// x[..., C] -> y = act(x), same shape; softmax over the last axis (length `last`).
pub fn activation_forward(act: Act, x: &[f32], y: &mut [f32], last: usize) -> KResult<()> {
    crate::error::ensure_len("y", y.len(), x.len())?;
    match act {
        Act::Linear => y.copy_from_slice(x),
        Act::Relu => map1(x, y, |v| v.max(0.0)),
        Act::Sigmoid => map1(x, y, sigmoid_fast),
        Act::Tanh => map1(x, y, tanh_fast),
        Act::LeakyRelu(a) => map1(x, y, move |v| if v > 0.0 { v } else { a * v }),
        Act::Elu(a) => map1(x, y, move |v| if v > 0.0 { v } else { a * (exp_fast(v) - 1.0) }),
        Act::Gelu => map1(x, y, |v| Act::Gelu.apply(v)),
        Act::Softmax => {
            if x.len() % last.max(1) != 0 {
                return Err(KernelError::Shape(format!(
                    "softmax: {} elements do not split into rows of {last}",
                    x.len()
                )));
            }
            y.copy_from_slice(x);
            softmax_rows_par(y, last);
        }
    }
    Ok(())
}

/// Apply bias (per last-axis column, optional) and `act` in place on rows of length `c`:
/// the output pass Dense fuses after its matmul.
pub fn bias_act_inplace(act: Act, y: &mut [f32], bias: Option<&[f32]>, c: usize) {
    macro_rules! each_row {
        ($f:expr) => {{
            let f = $f;
            match bias {
                Some(b) => rows_mut(y, c, |row| {
                    for (v, &bb) in row.iter_mut().zip(b) {
                        *v = f(*v + bb);
                    }
                }),
                None => rows_mut(y, c, |row| {
                    for v in row.iter_mut() {
                        *v = f(*v);
                    }
                }),
            }
        }};
    }
    match act {
        Act::Linear => {
            if bias.is_some() {
                each_row!(|v: f32| v)
            }
        }
        Act::Relu => each_row!(|v: f32| v.max(0.0)),
        Act::Sigmoid => each_row!(sigmoid_fast),
        Act::Tanh => each_row!(tanh_fast),
        Act::LeakyRelu(a) => each_row!(move |v: f32| if v > 0.0 { v } else { a * v }),
        Act::Elu(a) => each_row!(move |v: f32| if v > 0.0 { v } else { a * (exp_fast(v) - 1.0) }),
        Act::Gelu => each_row!(|v: f32| Act::Gelu.apply(v)),
        Act::Softmax => {
            if bias.is_some() {
                each_row!(|v: f32| v)
            }
            softmax_rows_par(y, c)
        }
    }
}

/// dx = dy * f'(x) given x, y = f(x), dy (all the same length; softmax rows of length `last`).
/// `x` is read only by gelu (callers of the y-only form may pass y for x otherwise).
pub fn activation_backward(
    act: Act,
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    last: usize,
) -> KResult<()> {
    for (name, len) in [("y", y.len()), ("dy", dy.len()), ("dx", dx.len())] {
        crate::error::ensure_len(name, len, x.len())?;
    }
    match act {
        Act::Linear => dx.copy_from_slice(dy),
        Act::Relu => map3(x, y, dy, dx, |_, y, g| if y > 0.0 { g } else { 0.0 }),
        Act::Sigmoid => map3(x, y, dy, dx, |_, y, g| g * y * (1.0 - y)),
        Act::Tanh => map3(x, y, dy, dx, |_, y, g| g * (1.0 - y * y)),
        Act::LeakyRelu(a) => map3(x, y, dy, dx, move |_, y, g| if y > 0.0 { g } else { a * g }),
        Act::Elu(a) => map3(x, y, dy, dx, move |_, y, g| if y > 0.0 { g } else { g * (y + a) }),
        Act::Gelu => map3(x, y, dy, dx, |x, y, g| g * Act::Gelu.grad(x, y)),
        Act::Softmax => {
            let c = last.max(1);
            if x.len() % c != 0 {
                return Err(KernelError::Shape(format!(
                    "softmax: {} elements do not split into rows of {last}",
                    x.len()
                )));
            }
            // Rows are independent; reuse dx as the row buffer.
            dx.copy_from_slice(dy);
            let ys = y;
            if dx.len() >= PARALLEL_MIN_ELEMENTS && crate::parallel::num_threads() > 1 {
                use rayon::prelude::*;
                let rows = (PAR_CHUNK / c).max(1) * c;
                crate::parallel::install(|| {
                    dx.par_chunks_mut(rows).zip(ys.par_chunks(rows)).for_each(|(d, yb)| {
                        simd(|| {
                            for (d, yr) in d.chunks_exact_mut(c).zip(yb.chunks_exact(c)) {
                                softmax_row_backward_inplace(yr, d)
                            }
                        })
                    })
                });
            } else {
                simd(|| {
                    for (d, yr) in dx.chunks_exact_mut(c).zip(ys.chunks_exact(c)) {
                        softmax_row_backward_inplace(yr, d)
                    }
                });
            }
        }
    }
    Ok(())
}

/// d (holding dy on entry) <- y * (dy - sum(dy * y)), one softmax row.
#[inline(always)]
pub fn softmax_row_backward_inplace(y: &[f32], d: &mut [f32]) {
    let dot = row_dot(y, d);
    for (o, &a) in d.iter_mut().zip(y) {
        *o = a * (*o - dot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable_for_large_inputs() {
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
    }

    #[test]
    fn grads_match_finite_differences() {
        let acts = [Act::Relu, Act::Sigmoid, Act::Tanh, Act::LeakyRelu(0.2), Act::Elu(1.0), Act::Gelu, Act::Linear];
        for act in acts {
            for &x in &[-2.1f32, -0.3, 0.4, 1.7] {
                let h = 1e-3f64;
                let f = |v: f64| act.apply(v as f32) as f64;
                let fd = (f(x as f64 + h) - f(x as f64 - h)) / (2.0 * h);
                let g = act.grad(x, act.apply(x)) as f64;
                assert!((fd - g).abs() < 2e-3, "{act:?} at {x}: fd {fd} vs {g}");
            }
        }
    }

    #[test]
    fn fast_math_matches_libm() {
        let mut x = -90.0f32;
        while x < 90.0 {
            let (e, want) = (exp_fast(x) as f64, (x as f64).exp());
            if x > -87.0 && x < 88.0 {
                assert!(((e - want) / want).abs() < 3e-7, "exp({x}) = {e} vs {want}");
            }
            let t = tanh_fast(x) as f64;
            assert!((t - (x as f64).tanh()).abs() < 2e-7 * (1.0 + (x as f64).tanh().abs()), "tanh({x}) = {t}");
            let s = sigmoid_fast(x) as f64;
            let sw = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((s - sw).abs() <= 3e-7 * sw + 1e-38, "sigmoid({x}) = {s} vs {sw}");
            x += 0.0137;
        }
        assert_eq!(sigmoid_fast(1e4), 1.0);
        assert!(sigmoid_fast(-1e4) < 1e-37);
        assert_eq!(tanh_fast(-1e4), -1.0);
        assert!((tanh_fast(1e-6) - 1e-6).abs() < 1e-12);
    }

    #[test]
    fn softmax_rows_sum_to_one_for_huge_logits() {
        let x = [1e4f32, -1e4, 0.0, 3.0, 3.0, 3.0];
        let mut y = [0.0f32; 6];
        activation_forward(Act::Softmax, &x, &mut y, 3).unwrap();
        assert_eq!(y[0], 1.0);
        assert!(y[1] < 1e-37 && y[2] < 1e-37);
        for v in &y[3..] {
            assert!((v - 1.0 / 3.0).abs() < 1e-7);
        }
    }

    #[test]
    fn unknown_name_is_an_error() {
        assert!(Act::parse("swishy", 0.0).is_err());
    }
}
