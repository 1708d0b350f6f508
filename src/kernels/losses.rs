//! Losses with Keras 3 semantics, each returning the mean loss over samples and (optionally) its
//! gradient with respect to y_pred. A "sample" is a row of the last axis: y_pred[..., C] holds
//! R = len / C rows. mse / mae / binary cross-entropy average over the last axis, categorical
//! cross-entropies sum over it; then the mean over the R rows.
//! Sums run in f64 per row so a large batch does not lose the small terms.

use crate::error::{ensure_len, KResult, KernelError};
use crate::kernels::activations::{
    exp_fast, ln_fast, row_log_sum_exp, row_max, softmax_row_scaled, threads_for,
};
use crate::parallel::par_chunks_mut;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Keras' backend epsilon: probabilities are clipped to [EPS, 1 - EPS].
pub const EPS: f32 = 1e-7;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    Mse,
    Mae,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
}

impl Loss {
    pub fn parse(name: &str) -> KResult<Loss> {
        Ok(match name {
            "mse" | "mean_squared_error" => Loss::Mse,
            "mae" | "mean_absolute_error" => Loss::Mae,
            "binary_crossentropy" | "bce" => Loss::BinaryCrossentropy,
            "categorical_crossentropy" | "cce" => Loss::CategoricalCrossentropy,
            "sparse_categorical_crossentropy" | "scce" => Loss::SparseCategoricalCrossentropy,
            other => {
                return Err(KernelError::Value(format!(
                    "unknown loss '{other}'; expected one of mse, mae, binary_crossentropy, \
                     categorical_crossentropy, sparse_categorical_crossentropy"
                )))
            }
        })
    }
}

/// Elements summed in f32 (in LANES partial sums) before the sum moves to f64.
const F32_RUN: usize = 1024;

/// sum over i of loss(p_i, t_i) for an elementwise loss (mse, mae, binary cross-entropy), and its
/// gradient times `k` into `g` when given. Rows do not matter to these (a row's loss is its mean),
/// so a whole block of rows is one loop that vectorizes: ln_fast/exp_fast instead of libm calls,
/// and LANES partial sums instead of one serial chain of adds.
#[inline(always)]
fn elementwise_loss(loss: Loss, logits: bool, p: &[f32], t: &[f32], g: Option<&mut [f32]>, k: f32) -> f64 {
    match (loss, logits) {
        (Loss::Mse, _) => sum_and_grad(p, t, g, k, |a, b| ((a - b) * (a - b), 2.0 * (a - b))),
        // sign(0) = 0, as TF's gradient of abs.
        (Loss::Mae, _) => sum_and_grad(p, t, g, k, |a, b| {
            let d = a - b;
            (d.abs(), if d > 0.0 { 1.0 } else if d < 0.0 { -1.0 } else { 0.0 })
        }),
        // max(z,0) - z y + log(1 + e), e = exp(-|z|); d/dz = sigmoid(z) - y, from the same e.
        (Loss::BinaryCrossentropy, true) => sum_and_grad(p, t, g, k, |z, y| {
            let e = exp_fast(-z.abs());
            let sigmoid = if z >= 0.0 { 1.0 } else { e } / (1.0 + e);
            (z.max(0.0) - z * y + ln_fast(1.0 + e), sigmoid - y)
        }),
        // Clipped probabilities; the clip's gradient is 0 outside [EPS, 1-EPS] (as TF's).
        (Loss::BinaryCrossentropy, false) => sum_and_grad(p, t, g, k, |a, y| {
            let q = a.clamp(EPS, 1.0 - EPS);
            let inside = (EPS..=1.0 - EPS).contains(&a);
            (-(y * ln_fast(q) + (1.0 - y) * ln_fast(1.0 - q)), if inside { (1.0 - y) / (1.0 - q) - y / q } else { 0.0 })
        }),
        _ => unreachable!("{loss:?} is not elementwise"),
    }
}

/// sum of f(p_i, t_i).0 (f32 in LANES lanes over runs of F32_RUN elements, f64 across runs);
/// g_i = k f(p_i, t_i).1 when g is given (the compiler drops the gradient's math when it is not).
#[inline(always)]
fn sum_and_grad(p: &[f32], t: &[f32], g: Option<&mut [f32]>, k: f32, f: impl Fn(f32, f32) -> (f32, f32)) -> f64 {
    let mut total = 0.0f64;
    match g {
        Some(g) => {
            for ((p, t), g) in p.chunks(F32_RUN).zip(t.chunks(F32_RUN)).zip(g.chunks_mut(F32_RUN)) {
                total += run_sum(p, t, Some(g), k, &f) as f64;
            }
        }
        None => {
            for (p, t) in p.chunks(F32_RUN).zip(t.chunks(F32_RUN)) {
                total += run_sum(p, t, None, k, &f) as f64;
            }
        }
    }
    total
}

/// One run of `sum_and_grad`, in f32. A function, not a closure: `#[inline(always)]` keeps it in
/// its AVX2-compiled caller (a closure stayed out of line, compiled for SSE2).
#[inline(always)]
fn run_sum(p: &[f32], t: &[f32], g: Option<&mut [f32]>, k: f32, f: &impl Fn(f32, f32) -> (f32, f32)) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let (cp, ct) = (p.chunks_exact(LANES), t.chunks_exact(LANES));
    let (rp, rt) = (cp.remainder(), ct.remainder());
    match g {
        Some(g) => {
            let mut cg = g.chunks_exact_mut(LANES);
            for ((pc, tc), gc) in cp.zip(ct).zip(&mut cg) {
                let (pc, tc, gc): (&[f32; LANES], &[f32; LANES], &mut [f32; LANES]) = (
                    pc.try_into().expect("exact chunk"),
                    tc.try_into().expect("exact chunk"),
                    gc.try_into().expect("exact chunk"),
                );
                for i in 0..LANES {
                    let (l, d) = f(pc[i], tc[i]);
                    acc[i] += l;
                    gc[i] = k * d;
                }
            }
            for ((o, &a), &b) in cg.into_remainder().iter_mut().zip(rp).zip(rt) {
                let (l, d) = f(a, b);
                acc[0] += l;
                *o = k * d;
            }
        }
        None => {
            for (pc, tc) in cp.zip(ct) {
                let (pc, tc): (&[f32; LANES], &[f32; LANES]) =
                    (pc.try_into().expect("exact chunk"), tc.try_into().expect("exact chunk"));
                for i in 0..LANES {
                    acc[i] += f(pc[i], tc[i]).0;
                }
            }
            for (&a, &b) in rp.iter().zip(rt) {
                acc[0] += f(a, b).0;
            }
        }
    }
    acc.iter().sum::<f32>()
}

/// The loss of one row of a cross-entropy over classes, and its gradient times `k` into `g` when
/// given (k = 1/R, the mean's factor, applied as the gradient is written: no second pass). `t` is
/// the target row (dense losses) and `id` the class (sparse loss).
#[inline(always)]
fn row_loss(loss: Loss, logits: bool, p: &[f32], t: &[f32], id: usize, g: Option<&mut [f32]>, k: f32) -> f64 {
    match (loss, logits) {
        (Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy, true) => {
            // Fused log-softmax: loss = lse(z) * sum(t) - sum(t z); grad = softmax * sum(t) - t.
            // With a gradient, softmax_row_scaled computes exp once per element, into g.
            let sparse = loss == Loss::SparseCategoricalCrossentropy;
            // sum(t z) as sum(t (z - m)) + sum(t) m: small terms, no cancellation against lse.
            let (tsum, tzm) = if sparse { (1.0, 0.0) } else { target_sums(t, p, row_max(p)) };
            let (m, se) = match g {
                Some(g) => {
                    let ms = softmax_row_scaled(p, g, tsum * k);
                    if sparse {
                        g[id] -= k;
                    } else {
                        for (o, &y) in g.iter_mut().zip(t) {
                            *o -= k * y;
                        }
                    }
                    ms
                }
                None => row_log_sum_exp(p),
            };
            let lse = m as f64 + (se as f64).ln();
            let tz = if sparse { p[id] as f64 } else { tzm as f64 + tsum as f64 * m as f64 };
            lse * tsum as f64 - tz
        }
        (Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy, false) => {
            // Keras: q = p / sum(p), clipped to [EPS, 1-EPS]; loss = -sum t log q.
            // dL/dq_i = -t_i / q_i inside the clip (0 outside); dL/dp_k = (dq_k - sum_i dq_i q_i) / sum(p).
            let mut s = 0.0f32;
            for &a in p {
                s += a;
            }
            let inv_s = 1.0 / s;
            let sparse = loss == Loss::SparseCategoricalCrossentropy;
            let target = |i: usize| if sparse { (i == id) as u8 as f32 } else { t[i] };
            let mut l = 0.0f64;
            if sparse {
                l -= ((p[id] * inv_s).clamp(EPS, 1.0 - EPS) as f64).ln();
            } else {
                for (&a, &y) in p.iter().zip(t) {
                    l -= (y * (a * inv_s).clamp(EPS, 1.0 - EPS).ln()) as f64;
                }
            }
            if let Some(g) = g {
                let mut dot = 0.0f32;
                for (i, (o, &a)) in g.iter_mut().zip(p).enumerate() {
                    let q = a * inv_s;
                    let inside = (EPS..=1.0 - EPS).contains(&q);
                    *o = if inside { -target(i) / q } else { 0.0 };
                    dot += *o * q;
                }
                for o in g.iter_mut() {
                    *o = (*o - dot) * (inv_s * k);
                }
            }
            l
        }
        (Loss::Mse | Loss::Mae | Loss::BinaryCrossentropy, _) => unreachable!("elementwise losses go through elementwise_loss"),
    }
}

/// (sum t, sum t (z - m)) over a row, in 8 partial sums each: one running sum would be a serial
/// chain of adds, 3-4 cycles per element (a row of 1000 classes: ~1 us).
#[inline(always)]
fn target_sums(t: &[f32], z: &[f32], m: f32) -> (f32, f32) {
    const L: usize = 8;
    let (mut a, mut b) = ([0.0f32; L], [0.0f32; L]);
    let (ct, cz) = (t.chunks_exact(L), z.chunks_exact(L));
    let (rt, rz) = (ct.remainder(), cz.remainder());
    for (tc, zc) in ct.zip(cz) {
        let (tc, zc): (&[f32; L], &[f32; L]) = (tc.try_into().expect("exact chunk"), zc.try_into().expect("exact chunk"));
        for i in 0..L {
            a[i] += tc[i];
            b[i] += tc[i] * (zc[i] - m);
        }
    }
    let (mut sa, mut sb) = (a.iter().sum::<f32>(), b.iter().sum::<f32>());
    for (&y, &v) in rt.iter().zip(rz) {
        sa += y;
        sb += y * (v - m);
    }
    (sa, sb)
}

/// What every block of rows shares; `run` does the rows of one block.
struct Rows<'a> {
    loss: Loss,
    from_logits: bool,
    targets: &'a Targets<'a>,
    c: usize,
    inv_rows: f32,
}

/// Rows per task of the loss: about this many elements (64 KiB of y_pred and of its gradient).
/// Fixed whatever the thread count, so the blocks, and the sum of their sums, are the same on 1
/// or N threads.
const LOSS_BLOCK: usize = 1 << 14;

impl Rows<'_> {
    /// Sum of the row losses of y_pred rows `p` (starting at row r0); their gradient, scaled by
    /// 1/R, into `g` when given. Compiled for AVX2+FMA when the CPU has them (`avx2_dispatch!`).
    fn run(&self, r0: usize, p: &[f32], g: Option<&mut [f32]>) -> f64 {
        rows_sum(self, r0, p, g)
    }

    #[inline(always)]
    fn body(&self, r0: usize, p: &[f32], g: Option<&mut [f32]>) -> f64 {
        let (loss, from_logits, c, inv_rows) = (self.loss, self.from_logits, self.c, self.inv_rows);
        if matches!(loss, Loss::Mse | Loss::Mae | Loss::BinaryCrossentropy) {
            let Targets::Dense(t) = self.targets else { unreachable!("checked in `loss`") };
            let t = &t[r0 * c..r0 * c + p.len()];
            // Each row's loss is the mean over its c elements: the block's sum / c.
            return elementwise_loss(loss, from_logits, p, t, g, inv_rows / c as f32) / c as f64;
        }
        let mut total = 0.0f64;
        let t_row = |r: usize| -> (&[f32], usize) {
            match self.targets {
                Targets::Dense(t) => (&t[r * c..(r + 1) * c], 0),
                Targets::Sparse(ids) => (&[][..], ids[r]),
            }
        };
        match g {
            Some(g) => {
                for (i, (pr, gr)) in p.chunks_exact(c).zip(g.chunks_exact_mut(c)).enumerate() {
                    let (t, id) = t_row(r0 + i);
                    total += row_loss(loss, from_logits, pr, t, id, Some(gr), inv_rows);
                }
            }
            None => {
                for (i, pr) in p.chunks_exact(c).enumerate() {
                    let (t, id) = t_row(r0 + i);
                    total += row_loss(loss, from_logits, pr, t, id, None, inv_rows);
                }
            }
        }
        total
    }
}

avx2_dispatch!(fn rows_sum(rows: &Rows<'_>, r0: usize, p: &[f32], g: Option<&mut [f32]>) -> f64 => rows_body);

#[inline(always)]
fn rows_body(rows: &Rows<'_>, r0: usize, p: &[f32], g: Option<&mut [f32]>) -> f64 {
    rows.body(r0, p, g)
}

/// Targets as the kernel reads them: a dense array like y_pred, or one class id per row.
pub enum Targets<'a> {
    Dense(&'a [f32]),
    Sparse(&'a [usize]),
}

/// y_pred[R*C] (rows of C), targets -> mean loss over rows; grad[R*C] = d mean / d y_pred when given.
pub fn loss(
    loss: Loss,
    from_logits: bool,
    y_pred: &[f32],
    targets: Targets<'_>,
    c: usize,
    grad: Option<&mut [f32]>,
) -> KResult<f64> {
    if c == 0 || y_pred.len() % c != 0 {
        return Err(KernelError::Shape(format!(
            "loss: y_pred has {} elements, not a whole number of rows of {c}",
            y_pred.len()
        )));
    }
    let rows = y_pred.len() / c;
    match &targets {
        Targets::Dense(t) => {
            if loss == Loss::SparseCategoricalCrossentropy {
                return Err(KernelError::Value("sparse loss needs class ids".into()));
            }
            ensure_len("y_true", t.len(), y_pred.len())?
        }
        Targets::Sparse(ids) => {
            if loss != Loss::SparseCategoricalCrossentropy {
                return Err(KernelError::Value("class ids are only for the sparse loss".into()));
            }
            ensure_len("y_true (class ids)", ids.len(), rows)?;
            if let Some((i, &id)) = ids.iter().enumerate().find(|(_, &id)| id >= c) {
                return Err(KernelError::Value(format!(
                    "class id {id} (row {i}) out of range for {c} classes"
                )));
            }
        }
    }
    if rows == 0 {
        if let Some(g) = grad {
            g.fill(0.0);
        }
        return Ok(0.0);
    }
    if let Some(g) = grad.as_deref() {
        ensure_len("grad", g.len(), y_pred.len())?;
    }
    let inv_rows = 1.0 / rows as f32;
    // Blocks of rows, each summed on its own; the block sums are then added in block order.
    let rows_per_task = (LOSS_BLOCK / c).max(1);
    let step = rows_per_task * c;
    let sums: Vec<AtomicU64> = (0..rows.div_ceil(rows_per_task)).map(|_| AtomicU64::new(0)).collect();
    let block = |k: usize, g: Option<&mut [f32]>| {
        let p = &y_pred[k * step..((k + 1) * step).min(y_pred.len())];
        let s = Rows { loss, from_logits, targets: &targets, c, inv_rows }.run(k * rows_per_task, p, g);
        sums[k].store(s.to_bits(), Relaxed);
    };
    let threads = threads_for(y_pred.len());
    match grad {
        Some(g) => par_chunks_mut(g, step, threads, |k, g| block(k, Some(g))),
        None => crate::parallel::run_tasks(sums.len(), threads, |k| block(k, None)),
    }
    // run_tasks returns after every task, and its SeqCst bookkeeping orders their stores before this.
    let total: f64 = sums.iter().map(|s| f64::from_bits(s.load(Relaxed))).sum();
    Ok(total / rows as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mse_of_known_values() {
        let mut g = [0.0f32; 4];
        let l = loss(Loss::Mse, false, &[1.0, 2.0, 3.0, 4.0], Targets::Dense(&[0.0; 4]), 2, Some(&mut g)).unwrap();
        assert!((l - (1.0 + 4.0 + 9.0 + 16.0) / 4.0).abs() < 1e-9);
        assert_eq!(g, [0.5, 1.0, 1.5, 2.0]);
    }

    #[test]
    fn sparse_logits_are_stable() {
        let mut g = [0.0f32; 3];
        let l = loss(Loss::SparseCategoricalCrossentropy, true, &[1e4, -1e4, 0.0], Targets::Sparse(&[1]), 3, Some(&mut g))
            .unwrap();
        assert!((l - 2e4).abs() < 1.0, "{l}");
        assert!((g[0] - 1.0).abs() < 1e-6 && (g[1] + 1.0).abs() < 1e-6 && g[2].abs() < 1e-6);
    }

    #[test]
    fn id_out_of_range_names_it() {
        let e = loss(Loss::SparseCategoricalCrossentropy, true, &[0.0; 3], Targets::Sparse(&[3]), 3, None).unwrap_err();
        assert!(e.to_string().contains("3 classes") && e.to_string().contains("class id 3"), "{e}");
    }
}
