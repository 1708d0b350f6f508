//! Activation functions: the scalar definitions every kernel shares (dense, conv, rnn), and
//! the array forward/backward kernels.
//! Derivatives are taken from the *output* y where the function allows it (so a layer need not keep
//! its pre-activation); `gelu` needs the input and says so via `needs_input`.

use crate::error::{KResult, KernelError};
use crate::parallel::par_chunks_mut;

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

/// Err unless `act` can be fused into `owner`'s kernel (dense, conv2d): the fused backward takes
/// the derivative from the output y, which gelu does not allow.
pub fn require_fusable(act: Act, owner: &str) -> KResult<()> {
    if act.needs_input() {
        return Err(KernelError::Value(format!(
            "{owner}: activation gelu needs the pre-activation; apply it separately \
             (fused activations: linear, relu, sigmoid, tanh, softmax, leaky_relu, elu)"
        )));
    }
    Ok(())
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
// The crate is built for baseline x86-64 (SSE2). Three ways to reach AVX2+FMA at run time:
// - `avx2_dispatch!` (kernels/mod.rs): an `#[inline(always)]` fn compiled inside a
//   `#[target_feature]` wrapper. The way for any loop of more than a line or two: it is always
//   inlined there.
// - `simd` re-compiles a closure for AVX2+FMA when LLVM inlines the closure into its
//   `#[target_feature]` wrapper. It does for one-line loops (the few callers left, checked in
//   perf); a larger closure body stayed out of line, compiled for SSE2 (maxpool, batchnorm, dropout,
//   the losses and optimizers were, 2-6x slower). LLVM never fuses a*b+c into an FMA by itself in
//   either.
// - the `avx2` module below: the exp-based activations and softmax written with intrinsics, so
//   every polynomial step is one FMA and the code is the same whatever LLVM decides to inline.
//   `exp_fast` (scalar) and `avx2::exp` share the constants below; both are within 1.2e-7 of exp.

/// Whether this CPU runs the `avx2` module (std caches the answer: one load per call).
#[inline(always)]
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Run `f` compiled for AVX2+FMA when available (else as is), if LLVM inlines it: keep `f` to a
/// one-line loop, else use `avx2_dispatch!` (see above).
#[inline(always)]
pub fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if has_avx2_fma() {
            // SAFETY: the CPU supports the features the wrapper is compiled for.
            return unsafe { avx2(f) };
        }
    }
    f()
}

// exp: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 in two parts), exp(x) = 2^n (1 + r + r^2 P(r)).
// P has degree 4, fitted for least maximum relative error on [-ln2/2, ln2/2] (Lawson's iteration,
// float64): 3e-9 from the fit itself, so in f32 the result is within 1.2e-7 relative of exp over
// [-87, 88], with or without FMA, as Cephes expf's degree-5 P (one FMA more per element).
// x is clamped to [EXP_LO, EXP_HI], so the result is never inf or a denormal: exp(-87.3) ~ 1.2e-38
// stands in for anything smaller, which no caller can tell from 0.
const EXP_LO: f32 = -87.3;
const EXP_HI: f32 = 88.3;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 * 2^23: adding it rounds to the nearest integer, which then sits in the low mantissa bits.
const ROUND: f32 = 12_582_912.0;
/// P(r), highest power first.
const EXP_P: [f32; 5] = [1.381_453_9e-3, 8.368_745e-3, 4.166_839e-2, 0.166_665_21, 0.499_999_94];
/// tanh(x) = x + x z Q(z), z = x^2, for |x| < TANH_SMALL (Cephes tanhf); highest power first.
const TANH_Q: [f32; 5] = [-5.704_988_7e-3, 2.063_909e-2, -5.373_971_6e-2, 0.133_314_42, -0.333_332_8];
const TANH_SMALL: f32 = 0.625;

/// exp(x) within ~2 ulp, branch-free (see the constants above).
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    let x = x.clamp(EXP_LO, EXP_HI);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n_int = t.to_bits() as i32 - 0x4B40_0000; // the integer n, read from t's mantissa
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = EXP_P[0];
    for c in &EXP_P[1..] {
        p = p * r + c;
    }
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n_int + 127) << 23) as u32)
}

// ln: x = 2^e m with m in [sqrt(1/2), sqrt(2)), ln x = e ln2 + ln(1 + f), f = m - 1, with Cephes
// logf's polynomial (f + f^3 P(f) - f^2 / 2): within 1.5e-7 relative of ln over positive normal x.
const LN_P: [f32; 9] = [
    7.037_683_6e-2, -1.151_461e-1, 1.167_699_84e-1, -1.242_014_1e-1, 1.424_932_3e-1, -1.666_805_7e-1,
    2.000_071_4e-1, -2.499_999_4e-1, 3.333_333e-1,
];

/// ln(x) for a positive normal x (callers clamp), branch-free so loops over it vectorize.
#[inline(always)]
pub fn ln_fast(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 126; // x = 2^e m, m in [1/2, 1)
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let low = m < std::f32::consts::FRAC_1_SQRT_2; // move m to [sqrt(1/2), sqrt(2))
    let e = (e - low as i32) as f32;
    let f = if low { m + m - 1.0 } else { m - 1.0 };
    let z = f * f;
    let mut p = LN_P[0];
    for c in &LN_P[1..] {
        p = p * f + c;
    }
    let y = p * f * z + e * LN2_LO - 0.5 * z;
    f + y + e * LN2_HI
}

/// Branch-free logistic: 1 / (1 + exp(-x)); exp_fast never overflows, so neither does this.
#[inline(always)]
pub fn sigmoid_fast(x: f32) -> f32 {
    1.0 / (1.0 + exp_fast(-x))
}

/// Branch-free tanh: an odd polynomial near 0 (no cancellation), else 1 - 2/(e^2|x|+1).
#[inline(always)]
pub fn tanh_fast(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let mut q = TANH_Q[0];
    for c in &TANH_Q[1..] {
        q = q * z + c;
    }
    let small = q * z * x + x;
    let big = 1.0 - 2.0 / (exp_fast(2.0 * a) + 1.0);
    let big = if x < 0.0 { -big } else { big };
    if a < TANH_SMALL { small } else { big }
}

/// The scalar form each array kernel computes (the `avx2` module computes the same, 8 lanes at a time).
#[inline(always)]
fn act_fast(act: Act, v: f32) -> f32 {
    match act {
        Act::Linear | Act::Softmax => v,
        Act::Relu => v.max(0.0),
        Act::Sigmoid => sigmoid_fast(v),
        Act::Tanh => tanh_fast(v),
        Act::LeakyRelu(a) => if v > 0.0 { v } else { a * v },
        Act::Elu(a) => if v > 0.0 { v } else { a * (exp_fast(v) - 1.0) },
        Act::Gelu => Act::Gelu.apply(v),
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! 8-lane forms of the activations and of a softmax row. Every function needs AVX2+FMA: call
    //! them only when `has_avx2_fma()`. Tails (n % 8) go through masked loads/stores, so every
    //! element of an array is computed by the same instructions.
    use super::{Act, EXP_HI, EXP_LO, EXP_P, LN2_HI, LN2_LO, ROUND, TANH_Q, TANH_SMALL};
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn splat(v: f32) -> __m256 {
        _mm256_set1_ps(v)
    }

    /// exp_fast on 8 lanes. NaN stays NaN (max/min return their second operand for a NaN).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn exp(x: __m256) -> __m256 {
        let x = _mm256_min_ps(splat(EXP_HI), _mm256_max_ps(splat(EXP_LO), x));
        let t = _mm256_fmadd_ps(x, splat(std::f32::consts::LOG2_E), splat(ROUND));
        let n = _mm256_sub_ps(t, splat(ROUND));
        let r = _mm256_fnmadd_ps(n, splat(LN2_HI), x);
        let r = _mm256_fnmadd_ps(n, splat(LN2_LO), r);
        let mut p = splat(EXP_P[0]);
        for &c in &EXP_P[1..] {
            p = _mm256_fmadd_ps(p, r, splat(c));
        }
        let y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, splat(1.0)));
        // 2^n: n + 127 into the exponent field (t's low mantissa bits hold n + 0x4B40_0000).
        let e = _mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127 - 0x4B40_0000));
        _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32::<23>(e)))
    }

    /// 1/d: the 12-bit estimate refined by one Newton step to ~1.5e-7 relative (vdivps costs
    /// as much as the whole exp: its unit is not pipelined). 1/d of d >= 2^126 reads 0.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn recip(d: __m256) -> __m256 {
        let r = _mm256_rcp_ps(d);
        _mm256_fmadd_ps(r, _mm256_fnmadd_ps(d, r, splat(1.0)), r)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sigmoid(x: __m256) -> __m256 {
        recip(_mm256_add_ps(splat(1.0), exp(_mm256_sub_ps(_mm256_setzero_ps(), x))))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn tanh(x: __m256) -> __m256 {
        let sign = _mm256_and_ps(x, splat(-0.0));
        let a = _mm256_andnot_ps(splat(-0.0), x);
        let z = _mm256_mul_ps(x, x);
        let mut q = splat(TANH_Q[0]);
        for &c in &TANH_Q[1..] {
            q = _mm256_fmadd_ps(q, z, splat(c));
        }
        let small = _mm256_fmadd_ps(_mm256_mul_ps(q, z), x, x);
        let e = exp(_mm256_add_ps(a, a));
        let big = _mm256_fnmadd_ps(splat(2.0), recip(_mm256_add_ps(e, splat(1.0))), splat(1.0));
        let big = _mm256_or_ps(big, sign); // big >= 0: copy x's sign onto it
        _mm256_blendv_ps(big, small, _mm256_cmp_ps::<_CMP_LT_OQ>(a, splat(TANH_SMALL)))
    }

    /// Lanes [0, n) set, for n < 8.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn tail_mask(n: usize) -> __m256i {
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }

    /// dst[i] = f(src[i]) for i < n. `src` and `dst` may be the same buffer (in place).
    /// Four vectors per iteration: an exp is one ~60-cycle dependency chain, and independent
    /// chains side by side keep both FMA pipes fed (sigmoid ~10% faster than one at a time).
    /// SAFETY: src and dst valid for n floats; AVX2+FMA present.
    #[inline(always)]
    unsafe fn map(src: *const f32, dst: *mut f32, n: usize, f: impl Fn(__m256) -> __m256) {
        unsafe {
            let mut i = 0;
            while i + 32 <= n {
                let a = f(_mm256_loadu_ps(src.add(i)));
                let b = f(_mm256_loadu_ps(src.add(i + 8)));
                let c = f(_mm256_loadu_ps(src.add(i + 16)));
                let d = f(_mm256_loadu_ps(src.add(i + 24)));
                _mm256_storeu_ps(dst.add(i), a);
                _mm256_storeu_ps(dst.add(i + 8), b);
                _mm256_storeu_ps(dst.add(i + 16), c);
                _mm256_storeu_ps(dst.add(i + 24), d);
                i += 32;
            }
            while i + 8 <= n {
                _mm256_storeu_ps(dst.add(i), f(_mm256_loadu_ps(src.add(i))));
                i += 8;
            }
            if i < n {
                let m = tail_mask(n - i);
                _mm256_maskstore_ps(dst.add(i), m, f(_mm256_maskload_ps(src.add(i), m)));
            }
        }
    }

    /// dst[i] = act(src[i]) for i < n (Softmax: identity; Gelu is not here: scalar erf).
    /// SAFETY: src and dst valid for n floats (they may be equal); AVX2+FMA present.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn act_map(act: Act, src: *const f32, dst: *mut f32, n: usize) {
        let zero = _mm256_setzero_ps();
        unsafe {
            match act {
                Act::Linear | Act::Softmax | Act::Gelu => map(src, dst, n, |v| v),
                Act::Relu => map(src, dst, n, |v| _mm256_max_ps(v, zero)),
                Act::Sigmoid => map(src, dst, n, |v| sigmoid(v)),
                Act::Tanh => map(src, dst, n, |v| tanh(v)),
                Act::LeakyRelu(a) => map(src, dst, n, |v| {
                    _mm256_blendv_ps(_mm256_mul_ps(splat(a), v), v, _mm256_cmp_ps::<_CMP_GT_OQ>(v, zero))
                }),
                Act::Elu(a) => map(src, dst, n, |v| {
                    let neg = _mm256_mul_ps(splat(a), _mm256_sub_ps(exp(v), splat(1.0)));
                    _mm256_blendv_ps(neg, v, _mm256_cmp_ps::<_CMP_GT_OQ>(v, zero))
                }),
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hmax(v: __m256) -> f32 {
        let h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)))
    }

    /// max of x (-inf when empty; NaNs are skipped as f32::max does, unless all are NaN).
    #[target_feature(enable = "avx2,fma")]
    pub fn row_max(x: &[f32]) -> f32 {
        let (n, p) = (x.len(), x.as_ptr());
        // Two accumulators: vmaxps has 2+ cycles of latency.
        let (mut m0, mut m1) = (splat(f32::NEG_INFINITY), splat(f32::NEG_INFINITY));
        let mut i = 0;
        // SAFETY: every load is within x (full vectors below n, then a masked tail).
        unsafe {
            while i + 16 <= n {
                m0 = _mm256_max_ps(_mm256_loadu_ps(p.add(i)), m0);
                m1 = _mm256_max_ps(_mm256_loadu_ps(p.add(i + 8)), m1);
                i += 16;
            }
            if i + 8 <= n {
                m0 = _mm256_max_ps(_mm256_loadu_ps(p.add(i)), m0);
                i += 8;
            }
            if i < n {
                let m = tail_mask(n - i);
                let v = _mm256_blendv_ps(splat(f32::NEG_INFINITY), _mm256_maskload_ps(p.add(i), m), _mm256_castsi256_ps(m));
                m1 = _mm256_max_ps(v, m1);
            }
        }
        hmax(_mm256_max_ps(m0, m1))
    }

    /// sum of exp(x[i] - m) for i < n and, when `y` is not null, y[i] = exp(x[i] - m).
    /// SAFETY: x valid for n floats, y null or valid for n floats (y == x is fine: in place).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn sum_exp(p: *const f32, n: usize, m: f32, y: *mut f32) -> f32 {
        let mv = splat(m);
        // Two accumulators so consecutive exps do not wait on one add chain.
        let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        unsafe {
            while i + 16 <= n {
                let e0 = exp(_mm256_sub_ps(_mm256_loadu_ps(p.add(i)), mv));
                let e1 = exp(_mm256_sub_ps(_mm256_loadu_ps(p.add(i + 8)), mv));
                if !y.is_null() {
                    _mm256_storeu_ps(y.add(i), e0);
                    _mm256_storeu_ps(y.add(i + 8), e1);
                }
                s0 = _mm256_add_ps(s0, e0);
                s1 = _mm256_add_ps(s1, e1);
                i += 16;
            }
            if i + 8 <= n {
                let e = exp(_mm256_sub_ps(_mm256_loadu_ps(p.add(i)), mv));
                if !y.is_null() {
                    _mm256_storeu_ps(y.add(i), e);
                }
                s0 = _mm256_add_ps(s0, e);
                i += 8;
            }
            if i < n {
                let mask = tail_mask(n - i);
                let e = exp(_mm256_sub_ps(_mm256_maskload_ps(p.add(i), mask), mv));
                let e = _mm256_and_ps(e, _mm256_castsi256_ps(mask)); // masked-off lanes add 0
                if !y.is_null() {
                    _mm256_maskstore_ps(y.add(i), mask, e);
                }
                s1 = _mm256_add_ps(s1, e);
            }
        }
        hsum(_mm256_add_ps(s0, s1))
    }

    /// y *= k.
    #[target_feature(enable = "avx2,fma")]
    pub fn scale(y: &mut [f32], k: f32) {
        let (n, p) = (y.len(), y.as_mut_ptr());
        // SAFETY: p valid for n floats.
        unsafe { map(p, p, n, |v| _mm256_mul_ps(v, splat(k))) }
    }
}

/// Below this many elements an elementwise kernel runs on the calling thread: even with the
/// caller working (`parallel::run_tasks`), waking a helper costs a few us, what a 64K-element
/// pass costs on one core.
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;
/// Elements per parallel task: large enough to amortise handing it out (one atomic add) and for
/// the hardware prefetcher to get going, small enough that a thread the machine's other load
/// slows down holds few of them.
const PAR_CHUNK: usize = 1 << 15;

/// Threads for an array of `len` elements: 1 below PARALLEL_MIN_ELEMENTS.
#[inline]
pub(crate) fn threads_for(len: usize) -> usize {
    if len >= PARALLEL_MIN_ELEMENTS { crate::parallel::num_threads() } else { 1 }
}

/// y = act(x) over one block, on this thread (same lengths).
fn act_block(act: Act, x: &[f32], y: &mut [f32]) {
    if has_avx2_fma() && act != Act::Gelu {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2+FMA; x and y hold y.len() floats each.
        return unsafe { avx2::act_map(act, x.as_ptr(), y.as_mut_ptr(), y.len()) };
    }
    simd(|| {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = act_fast(act, v);
        }
    })
}

/// y = act(y) in place over one block, on this thread.
fn act_block_inplace(act: Act, y: &mut [f32]) {
    if has_avx2_fma() && act != Act::Gelu {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2+FMA; y holds y.len() floats (read and written in place).
        return unsafe { avx2::act_map(act, y.as_ptr(), y.as_mut_ptr(), y.len()) };
    }
    simd(|| {
        for v in y.iter_mut() {
            *v = act_fast(act, *v);
        }
    })
}

/// dx[i] = f(x[i], y[i], dy[i]), vectorized, threaded above PARALLEL_MIN_ELEMENTS.
#[inline(always)]
fn map3(x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32], f: impl Fn(f32, f32, f32) -> f32 + Sync + Copy) {
    par_chunks_mut(dx, PAR_CHUNK, threads_for(dx.len()), |k, dx| {
        let s = k * PAR_CHUNK;
        let (x, y, dy) = (&x[s..s + dx.len()], &y[s..s + dx.len()], &dy[s..s + dx.len()]);
        simd(|| {
            for (((o, &a), &b), &g) in dx.iter_mut().zip(x).zip(y).zip(dy) {
                *o = f(a, b, g);
            }
        })
    });
}

// ---- row reductions --------------------------------------------------------------------------
// Portable forms (the `avx2` module has its own). Rust never reassociates float additions, so
// `s += v` over a row is one serial dependency chain; LANES independent partial results give LLVM
// separate chains it turns into one vector register.

const LANES: usize = 8;

/// max over the row (NaNs ignored, as f32::max; -inf for an empty row).
#[inline(always)]
pub fn row_max(x: &[f32]) -> f32 {
    if has_avx2_fma() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2+FMA.
        return unsafe { avx2::row_max(x) };
    }
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

/// sum of exp(x - m) over the row; y = exp(x - m) too when given (same length as x).
#[inline(always)]
fn row_sum_exp(x: &[f32], m: f32, y: Option<&mut [f32]>) -> f32 {
    if has_avx2_fma() {
        #[cfg(target_arch = "x86_64")]
        {
            let y = y.map_or(std::ptr::null_mut(), |y| {
                assert_eq!(y.len(), x.len());
                y.as_mut_ptr()
            });
            // SAFETY: the CPU has AVX2+FMA; y is null or an x.len() slice we borrow mutably.
            return unsafe { avx2::sum_exp(x.as_ptr(), x.len(), m, y) };
        }
    }
    let mut acc = [0.0f32; LANES];
    let mut s = 0.0f32;
    match y {
        None => {
            let chunks = x.chunks_exact(LANES);
            let rest = chunks.remainder();
            for c in chunks {
                let c: &[f32; LANES] = c.try_into().expect("exact chunk");
                for i in 0..LANES {
                    acc[i] += exp_fast(c[i] - m);
                }
            }
            s += rest.iter().map(|&v| exp_fast(v - m)).sum::<f32>();
        }
        Some(y) => {
            let (cx, mut cy) = (x.chunks_exact(LANES), y.chunks_exact_mut(LANES));
            let rest = cx.remainder();
            for (a, b) in cx.zip(&mut cy) {
                let (a, b): (&[f32; LANES], &mut [f32; LANES]) =
                    (a.try_into().expect("exact chunk"), b.try_into().expect("exact chunk"));
                for i in 0..LANES {
                    b[i] = exp_fast(a[i] - m);
                    acc[i] += b[i];
                }
            }
            for (o, &v) in cy.into_remainder().iter_mut().zip(rest) {
                *o = exp_fast(v - m);
                s += *o;
            }
        }
    }
    acc.iter().sum::<f32>() + s
}

/// y *= k.
#[inline(always)]
fn row_scale(y: &mut [f32], k: f32) {
    if has_avx2_fma() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2+FMA.
        return unsafe { avx2::scale(y, k) };
    }
    for v in y.iter_mut() {
        *v *= k;
    }
}

/// sum of a[i] * b[i].
#[inline(always)]
pub fn row_dot(a: &[f32], b: &[f32]) -> f32 {
    // 4 x LANES partial sums: one vector of them would wait on each add's latency in turn.
    const DOT_LANES: usize = 4 * LANES;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; DOT_LANES];
    let (ca, cb) = (a.chunks_exact(DOT_LANES), b.chunks_exact(DOT_LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        let (x, y): (&[f32; DOT_LANES], &[f32; DOT_LANES]) =
            (x.try_into().expect("exact chunk"), y.try_into().expect("exact chunk"));
        for i in 0..DOT_LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(&x, &y)| x * y).sum::<f32>()
}

/// log(sum(exp(x))) of one row, as (m, s) with lse = m + ln(s): max-subtracted, so no overflow.
#[inline(always)]
pub fn row_log_sum_exp(x: &[f32]) -> (f32, f32) {
    let m = row_max(x);
    (m, row_sum_exp(x, m, None))
}

/// y = k * softmax(x) for one row, in three passes over it (max; exp and sum; scale), exp once
/// per element. Returns (m, s) of `row_log_sum_exp`, so a loss gets log-softmax for free.
#[inline(always)]
pub fn softmax_row_scaled(x: &[f32], y: &mut [f32], k: f32) -> (f32, f32) {
    let m = row_max(x);
    let s = row_sum_exp(x, m, Some(y));
    row_scale(y, k / s);
    (m, s)
}

/// row <- exp(row - m); returns their sum.
#[inline(always)]
fn row_exp_inplace(row: &mut [f32], m: f32) -> f32 {
    if has_avx2_fma() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2+FMA; the row is read and written in place.
        return unsafe { avx2::sum_exp(row.as_ptr(), row.len(), m, row.as_mut_ptr()) };
    }
    let mut acc = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for c in &mut chunks {
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

/// Softmax of one row, in place: max-subtracted, so no overflow for any finite input.
#[inline(always)]
pub fn softmax_row_inplace(row: &mut [f32]) {
    let m = row_max(row);
    let s = row_exp_inplace(row, m);
    row_scale(row, 1.0 / s);
}

/// Softmax over rows of `c` from x into y, threaded by blocks of rows when the array is large.
fn softmax_rows(x: &[f32], y: &mut [f32], c: usize) {
    if c == 0 {
        return;
    }
    let rows_per_task = (PAR_CHUNK / c).max(1);
    par_chunks_mut(y, rows_per_task * c, threads_for(y.len()), |k, yb| {
        let xb = &x[k * rows_per_task * c..][..yb.len()];
        for (xr, yr) in xb.chunks_exact(c).zip(yb.chunks_exact_mut(c)) {
            softmax_row_scaled(xr, yr, 1.0);
        }
    });
}

/// dz = y * (dy - sum(dy * y)) for one softmax row (the Jacobian-vector product).
#[inline(always)]
pub fn softmax_row_backward(y: &[f32], dy: &[f32], dz: &mut [f32]) {
    let dot = row_dot(y, dy);
    for ((o, &a), &b) in dz.iter_mut().zip(y).zip(dy) {
        *o = a * (b - dot);
    }
}

/// softmax_row_backward over rows of `c`, compiled for AVX2+FMA when the CPU has them. A
/// dedicated function: through `simd`'s closure inside the threading closure, LLVM kept the row
/// loop out of line, compiled for SSE2 only (half the vector width).
fn softmax_backward_rows(y: &[f32], dy: &[f32], dz: &mut [f32], c: usize) {
    #[inline(always)]
    fn rows(y: &[f32], dy: &[f32], dz: &mut [f32], c: usize) {
        for ((dr, yr), gr) in dz.chunks_exact_mut(c).zip(y.chunks_exact(c)).zip(dy.chunks_exact(c)) {
            softmax_row_backward(yr, gr, dr)
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2(y: &[f32], dy: &[f32], dz: &mut [f32], c: usize) {
            rows(y, dy, dz, c)
        }
        if has_avx2_fma() {
            // SAFETY: the CPU supports the features `avx2` is compiled for.
            return unsafe { avx2(y, dy, dz, c) };
        }
    }
    rows(y, dy, dz, c)
}

/// x[..., C] -> y = act(x), same shape; softmax over the last axis (length `last`).
pub fn activation_forward(act: Act, x: &[f32], y: &mut [f32], last: usize) -> KResult<()> {
    crate::error::ensure_len("y", y.len(), x.len())?;
    match act {
        Act::Linear => y.copy_from_slice(x),
        Act::Softmax => {
            if x.len() % last.max(1) != 0 {
                return Err(KernelError::Shape(format!(
                    "softmax: {} elements do not split into rows of {last}",
                    x.len()
                )));
            }
            softmax_rows(x, y, last);
        }
        _ => par_chunks_mut(y, PAR_CHUNK, threads_for(x.len()), |k, yb| {
            act_block(act, &x[k * PAR_CHUNK..][..yb.len()], yb)
        }),
    }
    Ok(())
}

/// Apply bias (per last-axis column, optional) and `act` in place on rows of length `c`:
/// the output pass Dense fuses after its matmul.
pub fn bias_act_inplace(act: Act, y: &mut [f32], bias: Option<&[f32]>, c: usize) {
    if c == 0 || (act == Act::Linear && bias.is_none()) {
        return;
    }
    let rows_per_task = (PAR_CHUNK / c).max(1);
    par_chunks_mut(y, rows_per_task * c, threads_for(y.len()), |_, blk| {
        if let Some(b) = bias {
            simd(|| {
                for row in blk.chunks_exact_mut(c) {
                    for (v, &bb) in row.iter_mut().zip(b) {
                        *v += bb;
                    }
                }
            })
        }
        match act {
            Act::Linear => {}
            Act::Softmax => {
                for row in blk.chunks_exact_mut(c) {
                    softmax_row_inplace(row)
                }
            }
            _ => act_block_inplace(act, blk),
        }
    });
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
            let rows_per_task = (PAR_CHUNK / c).max(1);
            par_chunks_mut(dx, rows_per_task * c, threads_for(dx.len()), |k, d| {
                let s = k * rows_per_task * c;
                softmax_backward_rows(&y[s..s + d.len()], &dy[s..s + d.len()], d, c)
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;


    #[test]
    fn ln_fast_is_within_2e7_relative_of_ln() {
        // Every 97th float from the smallest normal to f32::MAX, and around 1 where ln is near 0.
        let mut worst = 0.0f64;
        let mut check = |x: f32| {
            let (got, want) = (ln_fast(x) as f64, (x as f64).ln());
            let err = (got - want).abs() / want.abs().max(1e-30);
            let near_one = (x as f64 - 1.0).abs() < 1e-3;
            // near x = 1, ln x ~ x - 1 is tiny: measure against x - 1's own float spacing instead
            let err = if near_one { (got - want).abs() / (x as f64 - 1.0).abs().max(1e-12) } else { err };
            worst = worst.max(err);
        };
        let mut bits = f32::MIN_POSITIVE.to_bits();
        while bits < f32::MAX.to_bits() {
            check(f32::from_bits(bits));
            bits += 97;
        }
        for k in -5000..5000 {
            check(1.0 + k as f32 * 1e-7);
        }
        assert!(worst < 2e-7, "worst relative error {worst:e}");
    }

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

    /// f64 reference of the array kernels' scalar functions.
    fn reference(act: Act, x: f64) -> f64 {
        match act {
            Act::Relu => x.max(0.0),
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Act::Tanh => x.tanh(),
            Act::LeakyRelu(a) => if x > 0.0 { x } else { a as f64 * x },
            Act::Elu(a) => if x > 0.0 { x } else { a as f64 * x.exp_m1() },
            _ => unreachable!(),
        }
    }

    #[test]
    fn array_kernels_match_f64_at_every_tail_length() {
        // every length 0..40 exercises the 8-lane body and each masked-tail size; also in place
        for n in 0..40usize {
            let x: Vec<f32> = (0..n).map(|i| (i as f32 - 20.0) * 0.731).collect();
            for act in [Act::Relu, Act::Sigmoid, Act::Tanh, Act::LeakyRelu(0.2), Act::Elu(1.3)] {
                let mut y = vec![f32::NAN; n];
                activation_forward(act, &x, &mut y, n.max(1)).unwrap();
                for (&v, &got) in x.iter().zip(&y) {
                    let want = reference(act, v as f64);
                    assert!((got as f64 - want).abs() <= 3e-7 * want.abs() + 1e-7, "{act:?}({v}) = {got} vs {want}");
                }
                let mut z = x.clone();
                bias_act_inplace(act, &mut z, None, n.max(1));
                assert_eq!(y, z, "{act:?} in place, n = {n}");
            }
            if n > 0 {
                let mut y = vec![f32::NAN; n];
                activation_forward(Act::Softmax, &x, &mut y, n).unwrap();
                let m = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                let s: f64 = x.iter().map(|&v| (v as f64 - m).exp()).sum();
                for (&v, &got) in x.iter().zip(&y) {
                    let want = (v as f64 - m).exp() / s;
                    assert!((got as f64 - want).abs() <= 2e-6 * want + 1e-30, "softmax n = {n}: {got} vs {want}");
                }
            }
        }
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
