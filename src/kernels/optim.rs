//! Optimizer updates with Keras 3's formulas, in place, over a list of (param, grad, state...)
//! tensors in one call. Every update is one fused pass over memory per tensor (Adam reads p, g, m, v
//! and writes p, m, v once), split into chunks spread over the pool when the total is large.
//!
//! Keras 3 (keras/src/optimizers/*.py), with lr the learning rate:
//! - weight decay (base optimizer, before the step): p -= p * wd * lr
//! - SGD: no momentum: p -= lr g; momentum: v = momentum v - lr g; p += v;
//!   nesterov: v as above, p += momentum v - lr g
//! - Adam: alpha = lr sqrt(1 - b2^t) / (1 - b1^t); m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
//!   p -= alpha m / (sqrt(v) + eps)
//! - RMSprop: ms = rho ms + (1 - rho) g^2; centered: mg = rho mg + (1 - rho) g, denom = ms - mg^2 + eps,
//!   else denom = ms + eps (Keras 3 puts eps INSIDE the square root, unlike Keras 2 and torch);
//!   inc = lr g / sqrt(denom); momentum > 0: mom = momentum mom + inc, p -= mom; else p -= inc

use crate::error::{ensure_len, KResult, KernelError};
use crate::kernels::activations::{row_dot, simd};
use rayon::prelude::*;

/// Elements per task; tensors are cut into chunks this size so one big tensor still spreads.
const CHUNK: usize = 1 << 15;
/// Total elements below which the update runs on the calling thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// Run `f` on each task: on the pool when the total work is large, else inline. Each `f` calls an
/// `avx2_dispatch!` function for its loop (through a closure the loop stayed SSE2, 4 lanes).
fn run<T: Send>(tasks: Vec<T>, total: usize, f: impl Fn(T) + Sync) {
    if total >= PARALLEL_MIN_ELEMENTS && crate::parallel::num_threads() > 1 {
        crate::parallel::install(|| tasks.into_par_iter().for_each(&f));
    } else {
        tasks.into_iter().for_each(&f);
    }
}

/// The per-call constants of each update (Keras 3 formulas, see the module comment).
struct SgdStep {
    lr: f32,
    momentum: f32,
    nesterov: bool,
    wd: f32,
}
struct AdamStep {
    alpha: f32,
    a1: f32,
    a2: f32,
    epsilon: f32,
    wd: f32,
}
struct RmspropStep {
    lr: f32,
    rho: f32,
    momentum: f32,
    epsilon: f32,
    centered: bool,
}

avx2_dispatch!(fn sgd_chunk(p: &mut [f32], g: &[f32], v: &mut [f32], s: &SgdStep) => sgd_chunk_body);
avx2_dispatch!(fn adam_chunk(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: &AdamStep) => adam_chunk_body);
avx2_dispatch!(fn rmsprop_chunk(p: &mut [f32], g: &[f32], ms: &mut [f32], mg: &mut [f32], mo: &mut [f32], s: &RmspropStep) => rmsprop_chunk_body);
avx2_dispatch!(fn scale_chunk(x: &mut [f32], k: f32) => scale_chunk_body);
avx2_dispatch!(fn clamp_chunk(x: &mut [f32], c: f32) => clamp_chunk_body);

#[inline(always)]
fn sgd_chunk_body(p: &mut [f32], g: &[f32], v: &mut [f32], s: &SgdStep) {
    let SgdStep { lr, momentum, nesterov, wd } = *s;
    if momentum == 0.0 {
        for (p, &g) in p.iter_mut().zip(g) {
            let q = *p - *p * wd;
            *p = q - g * lr;
        }
    } else {
        for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
            let q = *p - *p * wd;
            *v = -g * lr + *v * momentum;
            *p = if nesterov { q + (-g * lr + *v * momentum) } else { q + *v };
        }
    }
}

#[inline(always)]
fn adam_chunk_body(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: &AdamStep) {
    let AdamStep { alpha, a1, a2, epsilon, wd } = *s;
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let q = *p - *p * wd;
        *m += (g - *m) * a1;
        *v += (g * g - *v) * a2;
        *p = q - *m * alpha / (v.sqrt() + epsilon);
    }
}

#[inline(always)]
fn rmsprop_chunk_body(p: &mut [f32], g: &[f32], ms: &mut [f32], mg: &mut [f32], mo: &mut [f32], s: &RmspropStep) {
    let RmspropStep { lr, rho, momentum, epsilon, centered } = *s;
    let a = 1.0 - rho;
    // Four loop variants so each one is a straight vectorizable pass.
    match (centered, momentum > 0.0) {
        (false, false) => {
            for ((p, &g), s) in p.iter_mut().zip(g).zip(ms.iter_mut()) {
                *s = rho * *s + a * (g * g);
                *p -= lr * g / (*s + epsilon).sqrt();
            }
        }
        (false, true) => {
            for (((p, &g), s), mo) in p.iter_mut().zip(g).zip(ms.iter_mut()).zip(mo.iter_mut()) {
                *s = rho * *s + a * (g * g);
                *mo = momentum * *mo + lr * g / (*s + epsilon).sqrt();
                *p -= *mo;
            }
        }
        (true, false) => {
            for (((p, &g), s), mg) in p.iter_mut().zip(g).zip(ms.iter_mut()).zip(mg.iter_mut()) {
                *s = rho * *s + a * (g * g);
                *mg = rho * *mg + a * g;
                *p -= lr * g / (*s - *mg * *mg + epsilon).sqrt();
            }
        }
        (true, true) => {
            for ((((p, &g), s), mg), mo) in p.iter_mut().zip(g).zip(ms.iter_mut()).zip(mg.iter_mut()).zip(mo.iter_mut()) {
                *s = rho * *s + a * (g * g);
                *mg = rho * *mg + a * g;
                *mo = momentum * *mo + lr * g / (*s - *mg * *mg + epsilon).sqrt();
                *p -= *mo;
            }
        }
    }
}

#[inline(always)]
fn scale_chunk_body(x: &mut [f32], k: f32) {
    x.iter_mut().for_each(|v| *v *= k);
}

#[inline(always)]
fn clamp_chunk_body(x: &mut [f32], c: f32) {
    x.iter_mut().for_each(|v| *v = v.clamp(-c, c));
}

fn check_hyper(name: &str, value: f64, lo: f64, hi: f64, hi_inclusive: bool) -> KResult<()> {
    let ok = value.is_finite() && value >= lo && if hi_inclusive { value <= hi } else { value < hi };
    if ok {
        Ok(())
    } else {
        let close = if hi_inclusive { "]" } else { ")" };
        Err(KernelError::Value(format!("{name} must be finite and in [{lo}, {hi}{close}, got {value}")))
    }
}

/// Every state list matches params in count and each tensor in length.
fn check_lists(what: &str, params: &[&mut [f32]], others: &[(&str, Vec<usize>)]) -> KResult<()> {
    for (name, lens) in others {
        if lens.len() != params.len() {
            return Err(KernelError::Shape(format!(
                "{what}: {name} has {} arrays but params has {}",
                lens.len(),
                params.len()
            )));
        }
        for (i, (p, &l)) in params.iter().zip(lens).enumerate() {
            ensure_len(&format!("{what}: {name}[{i}]"), l, p.len())?;
        }
    }
    Ok(())
}

fn lens<T: AsRef<[f32]>>(v: &[T]) -> Vec<usize> {
    v.iter().map(|a| a.as_ref().len()).collect()
}

/// Keras SGD (+ momentum, nesterov, decoupled weight decay) over params[i] -= ..., in place.
pub fn sgd_update(
    params: &mut [&mut [f32]],
    grads: &[&[f32]],
    velocities: &mut [&mut [f32]],
    lr: f32,
    momentum: f32,
    nesterov: bool,
    weight_decay: f32,
) -> KResult<()> {
    check_hyper("learning_rate", lr as f64, 0.0, f64::INFINITY, false)?;
    check_hyper("momentum", momentum as f64, 0.0, 1.0, true)?;
    check_hyper("weight_decay", weight_decay as f64, 0.0, f64::INFINITY, false)?;
    check_lists("sgd_update", params, &[("grads", lens(grads)), ("velocities", lens(velocities))])?;
    let total = params.iter().map(|p| p.len()).sum();
    let wd = weight_decay * lr;
    let mut tasks = Vec::new();
    for ((p, g), v) in params.iter_mut().zip(grads).zip(velocities.iter_mut()) {
        for ((p, g), v) in p.chunks_mut(CHUNK).zip(g.chunks(CHUNK)).zip(v.chunks_mut(CHUNK)) {
            tasks.push((p, g, v));
        }
    }
    let step = SgdStep { lr, momentum, nesterov, wd };
    run(tasks, total, |(p, g, v)| sgd_chunk(p, g, v, &step));
    Ok(())
}

/// Keras Adam / AdamW (weight_decay > 0), `step` 1-based, in place.
#[allow(clippy::too_many_arguments)]
pub fn adam_update(
    params: &mut [&mut [f32]],
    grads: &[&[f32]],
    ms: &mut [&mut [f32]],
    vs: &mut [&mut [f32]],
    lr: f32,
    step: u64,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
) -> KResult<()> {
    check_hyper("learning_rate", lr as f64, 0.0, f64::INFINITY, false)?;
    check_hyper("beta_1", beta_1 as f64, 0.0, 1.0, false)?;
    check_hyper("beta_2", beta_2 as f64, 0.0, 1.0, false)?;
    check_hyper("epsilon", epsilon as f64, 0.0, f64::INFINITY, false)?;
    check_hyper("weight_decay", weight_decay as f64, 0.0, f64::INFINITY, false)?;
    if step == 0 {
        return Err(KernelError::Value("step must be >= 1 (1-based iteration count), got 0".into()));
    }
    check_lists("adam_update", params, &[("grads", lens(grads)), ("ms", lens(ms)), ("vs", lens(vs))])?;
    // Bias correction in f64 (Keras computes it in f32; the difference is < 1 ulp of alpha).
    let t = step.min(i32::MAX as u64) as i32;
    let alpha = (lr as f64 * (1.0 - (beta_2 as f64).powi(t)).sqrt() / (1.0 - (beta_1 as f64).powi(t))) as f32;
    let (a1, a2) = (1.0 - beta_1, 1.0 - beta_2);
    let wd = weight_decay * lr;
    let total = params.iter().map(|p| p.len()).sum();
    let mut tasks = Vec::new();
    for (((p, g), m), v) in params.iter_mut().zip(grads).zip(ms.iter_mut()).zip(vs.iter_mut()) {
        for (((p, g), m), v) in
            p.chunks_mut(CHUNK).zip(g.chunks(CHUNK)).zip(m.chunks_mut(CHUNK)).zip(v.chunks_mut(CHUNK))
        {
            tasks.push((p, g, m, v));
        }
    }
    let step = AdamStep { alpha, a1, a2, epsilon, wd };
    run(tasks, total, |(p, g, m, v)| adam_chunk(p, g, m, v, &step));
    Ok(())
}

/// Keras 3 RMSprop (rho, momentum, centered; eps inside the sqrt), in place.
#[allow(clippy::too_many_arguments)]
pub fn rmsprop_update(
    params: &mut [&mut [f32]],
    grads: &[&[f32]],
    ms: &mut [&mut [f32]],
    mgs: &mut [&mut [f32]],
    moms: &mut [&mut [f32]],
    lr: f32,
    rho: f32,
    momentum: f32,
    epsilon: f32,
    centered: bool,
) -> KResult<()> {
    check_hyper("learning_rate", lr as f64, 0.0, f64::INFINITY, false)?;
    check_hyper("rho", rho as f64, 0.0, 1.0, true)?;
    check_hyper("momentum", momentum as f64, 0.0, 1.0, true)?;
    check_hyper("epsilon", epsilon as f64, 0.0, f64::INFINITY, false)?;
    check_lists(
        "rmsprop_update",
        params,
        &[("grads", lens(grads)), ("ms", lens(ms)), ("mgs", lens(mgs)), ("moms", lens(moms))],
    )?;
    let total = params.iter().map(|p| p.len()).sum();
    let mut tasks = Vec::new();
    for ((((p, g), ms), mg), mo) in
        params.iter_mut().zip(grads).zip(ms.iter_mut()).zip(mgs.iter_mut()).zip(moms.iter_mut())
    {
        for ((((p, g), ms), mg), mo) in p
            .chunks_mut(CHUNK)
            .zip(g.chunks(CHUNK))
            .zip(ms.chunks_mut(CHUNK))
            .zip(mg.chunks_mut(CHUNK))
            .zip(mo.chunks_mut(CHUNK))
        {
            tasks.push((p, g, ms, mg, mo));
        }
    }
    let step = RmspropStep { lr, rho, momentum, epsilon, centered };
    run(tasks, total, |(p, g, ms, mg, mo)| rmsprop_chunk(p, g, ms, mg, mo, &step));
    Ok(())
}

/// Scale every grad by max_norm / ||grads|| when the global L2 norm exceeds max_norm.
/// Returns the norm before clipping (f64 sums). A NaN norm leaves the grads untouched.
pub fn clip_by_global_norm(grads: &mut [&mut [f32]], max_norm: f32) -> KResult<f64> {
    check_hyper("max_norm", max_norm as f64, 0.0, f64::INFINITY, false)?;
    let total: usize = grads.iter().map(|g| g.len()).sum();
    // Squares summed in f32 over 1024-element blocks, blocks in f64, per CHUNK into its own
    // partial, partials in order: accurate, vectorized, and the same bits on any thread count.
    let chunks: Vec<&[f32]> = grads.iter().flat_map(|g| g.chunks(CHUNK)).collect();
    let mut partial = vec![0.0f64; chunks.len()];
    let threads = if total >= PARALLEL_MIN_ELEMENTS { crate::parallel::num_threads() } else { 1 };
    crate::parallel::par_chunks_mut(&mut partial, 1, threads, |k, p| {
        p[0] = simd(|| chunks[k].chunks(1024).map(|b| row_dot(b, b) as f64).sum());
    });
    let sq: f64 = partial.iter().sum();
    let norm = sq.sqrt();
    if norm > max_norm as f64 {
        let scale = (max_norm as f64 / norm) as f32;
        let tasks: Vec<&mut [f32]> = grads.iter_mut().flat_map(|g| g.chunks_mut(CHUNK)).collect();
        run(tasks, total, |g| scale_chunk(g, scale));
    }
    Ok(norm)
}

/// grads = clip(grads, -clip_value, clip_value), in place.
pub fn clip_by_value(grads: &mut [&mut [f32]], clip_value: f32) -> KResult<()> {
    check_hyper("clip_value", clip_value as f64, 0.0, f64::INFINITY, false)?;
    let total: usize = grads.iter().map(|g| g.len()).sum();
    let tasks: Vec<&mut [f32]> = grads.iter_mut().flat_map(|g| g.chunks_mut(CHUNK)).collect();
    run(tasks, total, |g| clamp_chunk(g, clip_value));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_first_step_moves_by_lr() {
        // At step 1, m = (1-b1) g, v = (1-b2) g^2, alpha = lr sqrt(1-b2)/(1-b1): p moves by ~lr sign(g).
        let mut p = vec![1.0f32, -2.0];
        let g = vec![0.5f32, -3.0];
        let (mut m, mut v) = (vec![0.0; 2], vec![0.0; 2]);
        adam_update(&mut [&mut p], &[&g], &mut [&mut m], &mut [&mut v], 0.1, 1, 0.9, 0.999, 1e-7, 0.0).unwrap();
        assert!((p[0] - 0.9).abs() < 1e-5 && (p[1] + 1.9).abs() < 1e-5, "{p:?}");
    }

    #[test]
    fn mismatched_lists_are_errors() {
        let mut p = vec![0.0f32; 3];
        let mut v = vec![0.0f32; 2];
        assert!(sgd_update(&mut [&mut p], &[&[0.0; 3]], &mut [&mut v], 0.1, 0.9, false, 0.0).is_err());
        let mut v = vec![0.0f32; 3];
        assert!(sgd_update(&mut [&mut p], &[&[0.0; 3]], &mut [&mut v], f32::NAN, 0.9, false, 0.0).is_err());
    }

    #[test]
    fn global_norm_clips_to_max() {
        let mut a = vec![3.0f32];
        let mut b = vec![4.0f32];
        let n = clip_by_global_norm(&mut [&mut a, &mut b], 1.0).unwrap();
        assert!((n - 5.0).abs() < 1e-12);
        assert!((a[0] - 0.6).abs() < 1e-7 && (b[0] - 0.8).abs() < 1e-7);
    }
}
