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
    fn unknown_name_is_an_error() {
        assert!(Act::parse("swishy", 0.0).is_err());
    }
}
