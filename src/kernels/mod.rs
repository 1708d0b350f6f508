//! Plain-Rust kernels: f32, row-major (channels-last), shapes passed explicitly.
//! Each forward has its backward beside it.

/// (Defined before the modules below, so each of them can use it by name.)
/// `$vis fn $name(args) -> ret` that runs `$body(args)` compiled for AVX2+FMA when the CPU has
/// them, else as is. `$body` must be an `#[inline(always)]` fn: it is then compiled inside the
/// `#[target_feature]` wrapper and its loops vectorize 8 wide. (A closure handed to
/// `activations::simd` may stay out of line, compiled for the SSE2 baseline; measured on maxpool,
/// batchnorm, dropout and the losses, each 2-6x slower that way.)
macro_rules! avx2_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:path) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                if $crate::kernels::activations::has_avx2_fma() {
                    // SAFETY: the CPU has the features `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

pub mod activations;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod gemm;
pub mod losses;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod rnn;

/// Test inputs for the kernels' unit tests: `len` values in [-0.5, 0.5) from a small LCG seeded by
/// `seed` (deterministic, no extra crates).
#[cfg(test)]
pub(crate) mod test_data {
    pub fn data(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect()
    }
}
