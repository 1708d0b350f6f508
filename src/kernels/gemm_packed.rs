//! BLIS-style packed sgemm: C[M,N] (+)= A[M,K] @ B[K,N] for strided A and B, row-major C.
//!
//! Loops, outermost first (Goto/BLIS): N in NC-column blocks -> K in KC-deep blocks (pack that
//! KC x NC block of B into NR-wide panels, shared by all threads, it stays in L3) -> M in MC-row
//! blocks, one rayon task each (pack the MC x KC block of A into MR-tall panels, it stays in L2)
//! -> NR panels -> MR panels -> micro-kernel (one NR panel of B, KC*NR*4 = 16 KiB, stays in L1).
//! Packing makes every micro-kernel read contiguous memory whatever the operands' strides, which
//! is how transposed operands get the same speed as plain ones. Ragged edges are packed with
//! zeros and the micro-kernel's full tile goes through a small buffer.

// Whole captures of Copy pointer wrappers are rebound on purpose (edition-2021 closures would
// capture the raw-pointer field alone, which is not Send).
#![allow(clippy::redundant_locals, clippy::too_many_arguments)]

use super::gemm_microkernel::{spec, KernelSpec, MAX_TILE};
use std::cell::RefCell;

// The blocking (MC rows of A x KC deep, NC columns of B) and the panel widths MR / NR come from
// the `KernelSpec` chosen at run time (gemm_microkernel.rs): AVX2 6x16 uses MC=144, KC=256
// (a 16 KiB B panel in L1, a 144 KiB A block in L2), NC=4096 (4 MiB of B shared in L3).

/// A read-only strided matrix: element (i, j) lives at `ptr[i*rs + j*cs]`.
#[derive(Clone, Copy)]
pub struct View {
    pub ptr: *const f32,
    pub rs: usize,
    pub cs: usize,
}
// SAFETY: a View is only read, and the caller of `sgemm_packed` keeps the buffer alive.
unsafe impl Send for View {}
unsafe impl Sync for View {}

#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint row blocks of C.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

thread_local! {
    // Per-thread packing buffers, reused across calls (a fresh 4 MiB allocation per call would
    // cost page faults). Taken out while in use, so a re-entrant call just allocates its own.
    static A_BUF: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static B_BUF: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` on a 64-byte-aligned scratch slice of `len` floats from the thread's cache `cell`.
fn with_scratch<R>(
    cell: &'static std::thread::LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    let mut buf = cell.with(|c| std::mem::take(&mut *c.borrow_mut()));
    if buf.len() < len + 16 {
        buf = vec![0.0; len + 16];
    }
    let off = buf.as_ptr().align_offset(64).min(16);
    let r = f(&mut buf[off..off + len]);
    cell.with(|c| *c.borrow_mut() = buf);
    r
}

/// Pack rows [i0, i0+mc) x cols [p0, p0+kc) of `a` into MR-row panels laid out [panel][p][MR].
fn pack_a(a: View, i0: usize, mc: usize, p0: usize, kc: usize, dst: &mut [f32], mr: usize) {
    #[allow(non_snake_case)]
    let MR = mr;
    for (panel, chunk) in dst.chunks_exact_mut(kc * MR).take(mc.div_ceil(MR)).enumerate() {
        let r0 = i0 + panel * MR;
        let rows = MR.min(i0 + mc - r0);
        if rows < MR {
            chunk.fill(0.0);
        }
        // SAFETY: (r0+r, p0+p) is inside the [M,K] operand the caller described.
        unsafe {
            if a.cs == 1 {
                // Rows are contiguous: stream each row into every MR-th slot.
                for r in 0..rows {
                    let src = a.ptr.add((r0 + r) * a.rs + p0);
                    for p in 0..kc {
                        *chunk.get_unchecked_mut(p * MR + r) = *src.add(p);
                    }
                }
            } else {
                // Columns are contiguous (transposed A): MR neighbours per step.
                for p in 0..kc {
                    let src = a.ptr.add(r0 * a.rs + (p0 + p) * a.cs);
                    for r in 0..rows {
                        *chunk.get_unchecked_mut(p * MR + r) = *src.add(r * a.rs);
                    }
                }
            }
        }
    }
}

/// Pack rows [p0, p0+kc) x cols [j0, j0+nc) of `b` into NR-column panels laid out [panel][p][NR].
/// `first_panel` numbers the panels so several threads can each pack a share.
fn pack_b(b: View, p0: usize, kc: usize, j0: usize, nc: usize, first_panel: usize, dst: &mut [f32], nr: usize) {
    #[allow(non_snake_case)]
    let NR = nr;
    for (i, chunk) in dst.chunks_exact_mut(kc * NR).enumerate() {
        let c0 = j0 + (first_panel + i) * NR;
        if c0 >= j0 + nc {
            break;
        }
        let cols = NR.min(j0 + nc - c0);
        if cols < NR {
            chunk.fill(0.0);
        }
        // SAFETY: (p0+p, c0+c) is inside the [K,N] operand the caller described.
        unsafe {
            if b.cs == 1 {
                for p in 0..kc {
                    let src = b.ptr.add((p0 + p) * b.rs + c0);
                    let row = chunk.get_unchecked_mut(p * NR..p * NR + cols);
                    row.copy_from_slice(std::slice::from_raw_parts(src, cols));
                }
            } else {
                // Transposed B: each column is contiguous along p.
                for c in 0..cols {
                    let src = b.ptr.add(p0 * b.rs + (c0 + c) * b.cs);
                    for p in 0..kc {
                        *chunk.get_unchecked_mut(p * NR + c) = *src.add(p * b.rs);
                    }
                }
            }
        }
    }
}

/// C[rows of this block] (+)= packed A block @ packed B block, panel by panel.
#[allow(clippy::too_many_arguments)]
fn macro_kernel(
    ks: &KernelSpec,
    apack: &[f32],
    bpack: &[f32],
    mc: usize,
    nc: usize,
    kc: usize,
    c: *mut f32,
    ldc: usize,
    overwrite: bool,
) {
    #[allow(non_snake_case)]
    let (kern, MR, NR) = (ks.kernel, ks.mr, ks.nr);
    let mut edge = [0.0f32; MAX_TILE];
    for (jp, bpanel) in bpack.chunks_exact(kc * NR).take(nc.div_ceil(NR)).enumerate() {
        let j = jp * NR;
        let cols = NR.min(nc - j);
        for (ip, apanel) in apack.chunks_exact(kc * MR).take(mc.div_ceil(MR)).enumerate() {
            let i = ip * MR;
            let rows = MR.min(mc - i);
            // SAFETY: panels hold kc*MR / kc*NR floats; the tile at (i, j) lies inside this
            // block of C when full, otherwise we go through `edge`.
            unsafe {
                let ct = c.add(i * ldc + j);
                if rows == MR && cols == NR {
                    kern(kc, apanel.as_ptr(), bpanel.as_ptr(), ct, ldc, overwrite);
                } else {
                    kern(kc, apanel.as_ptr(), bpanel.as_ptr(), edge.as_mut_ptr(), NR, true);
                    for r in 0..rows {
                        let dst = std::slice::from_raw_parts_mut(ct.add(r * ldc), cols);
                        let src = &edge[r * NR..r * NR + cols];
                        if overwrite {
                            dst.copy_from_slice(src);
                        } else {
                            dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                        }
                    }
                }
            }
        }
    }
}

/// Row blocks of A handed to the threads: `MC` rows or fewer, rounded to MR, at least 4 per
/// thread and a multiple of `threads`: the threads take blocks from a shared counter, so on a
/// shared machine a thread that gets descheduled leaves its remaining blocks to the others
/// (a B block re-read per small A block costs little: it sits in L2).
fn row_blocking(m: usize, threads: usize, ks: &KernelSpec) -> usize {
    #[allow(non_snake_case)]
    let (MR, MC) = (ks.mr, ks.mc);
    if threads <= 1 {
        return MC.min(m.div_ceil(MR) * MR);
    }
    let blocks = m.div_ceil(MC).max(4 * threads).div_ceil(threads) * threads;
    (m.div_ceil(blocks).div_ceil(MR) * MR).max(MR)
}

/// C[M,N] (row stride ldc) = A @ B, or += when `accumulate`. k >= 1, m, n >= 1.
///
/// # Safety
/// `a` and `b` describe valid [M,K] and [K,N] operands, `c` a writable [M,N] block with row stride
/// `ldc`, none overlapping C.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_packed(
    a: View,
    b: View,
    c: *mut f32,
    ldc: usize,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
    threads: usize,
) {
    // SAFETY: forwarded contract.
    unsafe { sgemm_packed_with(spec(), a, b, c, ldc, m, k, n, accumulate, threads) }
}

/// `sgemm_packed` with a chosen micro-kernel (tests run every candidate, benches compare them).
///
/// Three ways to share the work, chosen by the shape (the choice never depends on `threads`, and
/// every C element sums its products in the same order on every path it can take, so results are
/// bitwise the same on any thread count):
/// - a small C with a deep K (a Dense forward at batch 32 over 36864 inputs): K is cut into
///   segments computed independently and summed (`sgemm_k_split`); the blocked loop would fork and
///   join once per KC block with only a few micro-tiles of work each time;
/// - few rows (M <= MC) and many columns (a Dense's dx = dy @ W^T): each task takes whole column
///   blocks with all the rows (`sgemm_few_rows`), so its B part is packed once and stays in L2
///   instead of every row block re-reading all of packed B from L3;
/// - otherwise the Goto/BLIS loop (`sgemm_blocked`).
///
/// # Safety
/// As `sgemm_packed`; `ks` is one of `gemm_microkernel::candidates()` (runnable on this CPU).
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_packed_with(
    ks: &KernelSpec,
    a: View,
    b: View,
    c: *mut f32,
    ldc: usize,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
    threads: usize,
) {
    // SAFETY (all three): forwarded contract.
    unsafe {
        if let Some(segments) = k_segments(m, k, n, ks) {
            sgemm_k_split(ks, a, b, c, ldc, m, k, n, accumulate, threads, segments)
        } else if threads > 1 && m <= ks.mc && n >= 4 * threads * FEW_ROWS_MIN_COLS {
            sgemm_few_rows(ks, a, b, c, ldc, m, k, n, accumulate, threads)
        } else {
            sgemm_blocked(ks, a, b, c, ldc, m, k, n, accumulate, threads)
        }
    }
}

/// C elements at most this many for the K split (the partial products stay in L2)...
const K_SPLIT_MAX_MN: usize = 64 * 1024;
/// ... K at least this many KC blocks deep, cut into segments of at least SEGMENT_BLOCKS blocks...
const K_SPLIT_MIN_BLOCKS: usize = 4;
const SEGMENT_BLOCKS: usize = 4;
/// ... and at most this many segments (enough to balance 2-8 threads).
const MAX_SEGMENTS: usize = 16;

/// The number of K segments for a small-C, deep-K product, or None. Depends on the shape only.
fn k_segments(m: usize, k: usize, n: usize, ks: &KernelSpec) -> Option<usize> {
    let blocks = k.div_ceil(ks.kc);
    if m * n > K_SPLIT_MAX_MN || blocks < K_SPLIT_MIN_BLOCKS {
        return None;
    }
    Some((blocks / SEGMENT_BLOCKS).clamp(2, MAX_SEGMENTS))
}

thread_local! {
    // The caller's buffer for the partial products of segments 1.. of a K split.
    static PARTIALS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// C (+)= A @ B with K cut into `segments` KC-aligned ranges, one task each on one thread: segment
/// 0 writes C itself, the others their own [M,N] partial, then C += partial 1 + partial 2 + ...
/// in that order.
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_k_split(
    ks: &KernelSpec,
    a: View,
    b: View,
    c: *mut f32,
    ldc: usize,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
    threads: usize,
    segments: usize,
) {
    let blocks = k.div_ceil(ks.kc);
    let per = blocks.div_ceil(segments) * ks.kc;
    let segments = k.div_ceil(per);
    let mn = m * n;
    with_scratch(&PARTIALS, (segments - 1) * mn, |partials| {
        let (out, parts) = (OutPtr(c), OutPtr(partials.as_mut_ptr()));
        crate::parallel::run_tasks(segments, threads, |s| {
            let (out, parts, a, b) = (out, parts, a, b);
            let (k0, k1) = (s * per, ((s + 1) * per).min(k));
            let a_s = View { ptr: a.ptr.wrapping_add(k0 * a.cs), ..a };
            let b_s = View { ptr: b.ptr.wrapping_add(k0 * b.rs), ..b };
            // SAFETY: rows [k0, k1) of B and columns [k0, k1) of A lie inside the operands; segment
            // s > 0 owns partial s-1 ([M,N], row stride n), segment 0 owns C.
            unsafe {
                if s == 0 {
                    sgemm_blocked(ks, a_s, b_s, out.0, ldc, m, k1 - k0, n, accumulate, 1);
                } else {
                    sgemm_blocked(ks, a_s, b_s, parts.0.add((s - 1) * mn), n, m, k1 - k0, n, false, 1);
                }
            }
        });
        for part in partials.chunks_exact(mn) {
            for (i, prow) in part.chunks_exact(n).enumerate() {
                // SAFETY: row i of C has n writable elements at stride ldc.
                let crow = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), n) };
                crow.iter_mut().zip(prow).for_each(|(d, s)| *d += s);
            }
        }
    })
}

/// Columns of B one few-rows task packs at a time (a KC x FEW_ROWS_COLS block: 512 KiB, in L2).
const FEW_ROWS_COLS: usize = 512;
/// The few-rows path runs when every task can get at least this many columns: each task packs
/// the whole A block for itself, a scalar gather that costs about MACs_per_cycle / cols of the
/// product (an LSTM's dU, M=128 x N=512, had 64 columns per task: its backward lost ~10%).
const FEW_ROWS_MIN_COLS: usize = 256;

/// C (+)= A @ B for M <= MC: tasks take column blocks of at most FEW_ROWS_COLS with every row,
/// and pack their own A and B blocks (A is small; no shared B, so no fork per block to pack it).
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_few_rows(
    ks: &KernelSpec,
    a: View,
    b: View,
    c: *mut f32,
    ldc: usize,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
    threads: usize,
) {
    #[allow(non_snake_case)]
    let (MR, NR, KC) = (ks.mr, ks.nr, ks.kc);
    let panels = n.div_ceil(NR);
    // At least 4 tasks per thread (a descheduled thread leaves its share to the others).
    let per_task = panels.div_ceil(4 * threads).clamp(1, (FEW_ROWS_COLS / NR).max(1));
    let tasks = panels.div_ceil(per_task);
    let out = OutPtr(c);
    crate::parallel::run_tasks(tasks, threads, |t| {
        let out = out;
        let j0 = t * per_task * NR;
        let cols = (per_task * NR).min(n - j0);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            with_scratch(&A_BUF, m.div_ceil(MR) * MR * kc, |apack| {
                pack_a(a, 0, m, pc, kc, apack, MR);
                with_scratch(&B_BUF, cols.div_ceil(NR) * kc * NR, |bpack| {
                    pack_b(b, pc, kc, j0, cols, 0, bpack, NR);
                    // SAFETY: this task owns columns [j0, j0+cols) of every row of C.
                    let cblock = unsafe { out.0.add(j0) };
                    macro_kernel(ks, apack, bpack, m, cols, kc, cblock, ldc, !accumulate && pc == 0);
                });
            });
        }
    });
}

/// The Goto/BLIS loop: N in NC blocks -> K in KC blocks (B packed, shared) -> row blocks of A,
/// one task each.
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_blocked(
    ks: &KernelSpec,
    a: View,
    b: View,
    c: *mut f32,
    ldc: usize,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
    threads: usize,
) {
    #[allow(non_snake_case)]
    let (MR, NR, KC, NC) = (ks.mr, ks.nr, ks.kc, ks.nc);
    let mc = row_blocking(m, threads, ks);
    let m_blocks = m.div_ceil(mc);
    // Few rows (e.g. a 4 x K @ K x 4096 product): split the columns among the threads instead.
    let n_split = if threads > 1 && m_blocks < threads { threads.div_ceil(m_blocks) } else { 1 };
    let out = OutPtr(c);
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        let panels = nc.div_ceil(NR);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let overwrite = !accumulate && pc == 0;
            with_scratch(&B_BUF, panels * kc * NR, |bpack| {
                // Pack B: in parallel when it is big enough to be worth a fork.
                if threads > 1 && kc * nc >= 64 * 1024 {
                    let per = panels.div_ceil(threads);
                    let parts = panels.div_ceil(per);
                    let dst = OutPtr(bpack.as_mut_ptr());
                    crate::parallel::run_tasks(parts, threads, |t| {
                        let dst = dst;
                        let len = (per.min(panels - t * per)) * kc * NR;
                        // SAFETY: part t is its own stretch of panels [t*per, t*per+per) of bpack.
                        let part = unsafe { std::slice::from_raw_parts_mut(dst.0.add(t * per * kc * NR), len) };
                        pack_b(b, pc, kc, jc, nc, t * per, part, NR)
                    });
                } else {
                    pack_b(b, pc, kc, jc, nc, 0, bpack, NR);
                }
                let bpack: &[f32] = bpack;
                let task = |t: usize| {
                    let (ib, js) = (t / n_split, t % n_split);
                    let i0 = ib * mc;
                    let rows = mc.min(m - i0);
                    let per = panels.div_ceil(n_split);
                    let (p_lo, p_hi) = (js * per, ((js + 1) * per).min(panels));
                    if p_lo >= p_hi {
                        return;
                    }
                    let cols = (p_hi * NR).min(nc) - p_lo * NR;
                    let bpart = &bpack[p_lo * kc * NR..p_hi * kc * NR];
                    with_scratch(&A_BUF, rows.div_ceil(MR) * MR * kc, |apack| {
                        pack_a(a, i0, rows, pc, kc, apack, MR);
                        let out = out;
                        // SAFETY: this task owns rows [i0, i0+rows) x cols of this block of C.
                        let cblock = unsafe { out.0.add(i0 * ldc + jc + p_lo * NR) };
                        macro_kernel(ks, apack, bpart, rows, cols, kc, cblock, ldc, overwrite);
                    });
                };
                let tasks = m_blocks * n_split;
                crate::parallel::run_tasks(tasks, threads, task);
            });
        }
    }
}
