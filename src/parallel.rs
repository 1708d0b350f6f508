//! The one rayon pool every kernel runs in. Its size comes from `AIAAS_NUM_THREADS` (default: the
//! number of cores) and can be changed at run time with `set_num_threads`; kernels call
//! `install` so that nested rayon work (gemm's own threads included) stays in this pool.

use rayon::{ThreadPool, ThreadPoolBuilder};
use std::sync::{Arc, RwLock};

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

/// Upper bound on the pool size: building a pool of millions of OS threads hangs the process, and
/// no CPU this runs on needs more.
pub const MAX_THREADS: usize = 1024;

/// `AIAAS_NUM_THREADS` when it is a number in [1, MAX_THREADS]; otherwise (unset, garbage, 0 or
/// absurdly large) the number of cores, with a warning for a value that was set but unusable.
fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    match std::env::var("AIAAS_NUM_THREADS") {
        Err(_) => cores,
        Ok(s) => match s.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_THREADS).contains(&n) => n,
            _ => {
                eprintln!(
                    "aiaas_core: AIAAS_NUM_THREADS={s:?} is not a whole number in [1, {MAX_THREADS}]; using {cores} threads"
                );
                cores
            }
        },
    }
}

fn build(n: usize) -> Arc<ThreadPool> {
    Arc::new(
        ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("aiaas-{i}"))
            .build()
            .expect("failed to start the aiaas thread pool"),
    )
}

/// The current pool, created on first use.
pub fn pool() -> Arc<ThreadPool> {
    if let Some(p) = POOL.read().unwrap().as_ref() {
        return p.clone();
    }
    let mut guard = POOL.write().unwrap();
    guard.get_or_insert_with(|| build(default_threads())).clone()
}

/// Replace the pool with one of `n` threads (n >= 1). Work already running finishes on the old one.
pub fn set_num_threads(n: usize) {
    let n = n.max(1);
    *POOL.write().unwrap() = Some(build(n));
}

pub fn num_threads() -> usize {
    pool().current_num_threads()
}

/// Run `f` inside the pool.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    pool().install(f)
}

/// Run `f(0..n)` on up to `threads` threads, the calling thread included: tasks are handed out
/// from a shared counter, so whoever is free takes the next one. From outside the pool only
/// `threads - 1` pool workers are woken and the caller works instead of sleeping on a latch
/// (`install` costs two thread switches, ~10 us, per call). The caller never waits for a helper
/// that has not started: on a shared machine a woken worker may not get a CPU for milliseconds,
/// and by then the caller has done all the tasks (a helper that starts late finds the call
/// closed and leaves without touching `f`). It waits only for helpers inside a task.
pub fn run_tasks(n: usize, threads: usize, f: impl Fn(usize) + Sync) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    let helpers = threads.min(n).saturating_sub(1);
    if helpers == 0 {
        (0..n).for_each(f);
        return;
    }
    struct Shared {
        next: AtomicUsize,
        active: AtomicUsize,
        closed: AtomicBool,
        n: usize,
        // Erased-lifetime pointer to the caller's `f`; dereferenced only between a successful
        // `enter` and the matching `active` decrement, which the caller waits for.
        f: *const (dyn Fn(usize) + Sync),
    }
    // SAFETY: `f` is Sync and only called while the caller keeps it alive (see above).
    unsafe impl Send for Shared {}
    unsafe impl Sync for Shared {}
    struct Leave<'a>(&'a AtomicUsize);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, SeqCst);
        }
    }
    let f_ref: &(dyn Fn(usize) + Sync) = &f;
    // SAFETY: only the lifetime is erased; see `Shared::f`.
    let f_static: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f_ref) };
    let shared = std::sync::Arc::new(Shared {
        next: AtomicUsize::new(0),
        active: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        n,
        f: f_static,
    });
    let drain = |sh: &Shared, f: &(dyn Fn(usize) + Sync)| loop {
        let t = sh.next.fetch_add(1, SeqCst);
        if t >= sh.n {
            break;
        }
        f(t);
    };
    let pool = if rayon::current_thread_index().is_some() { None } else { Some(pool()) };
    for _ in 0..helpers {
        let sh = shared.clone();
        let job = move || {
            // Enter (SeqCst), then check `closed`: either the caller sees us active and waits,
            // or we see the call closed and leave.
            sh.active.fetch_add(1, SeqCst);
            let _leave = Leave(&sh.active);
            if sh.closed.load(SeqCst) {
                return;
            }
            // SAFETY: the call is open and we are counted active: the caller's `f` is alive.
            let f = unsafe { &*sh.f };
            drain(&sh, f);
        };
        match &pool {
            Some(p) => p.spawn(job),
            None => rayon::spawn(job),
        }
    }
    // Close the call and wait for helpers inside a task, also when `f` panics here.
    struct CloseAndWait<'a>(&'a Shared);
    impl Drop for CloseAndWait<'_> {
        fn drop(&mut self) {
            self.0.closed.store(true, SeqCst);
            let mut spins = 0u32;
            while self.0.active.load(SeqCst) != 0 {
                spins += 1;
                if spins < 1000 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
    let _close = CloseAndWait(&shared);
    drain(&shared, &f);
}

/// `f(k, out_k)` for each `step`-sized chunk k of `out` (the last may be shorter), on `threads`
/// threads (the calling one included). Chunks are handed out one at a time, whoever is free.
pub fn par_chunks_mut<T: Send>(out: &mut [T], step: usize, threads: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let step = step.max(1);
    let n = out.len().div_ceil(step);
    if threads <= 1 || n <= 1 {
        for (k, c) in out.chunks_mut(step).enumerate() {
            f(k, c);
        }
        return;
    }
    struct Out<T>(*mut T);
    // SAFETY: each task takes its own chunk only (below), so no two threads share an element.
    unsafe impl<T: Send> Sync for Out<T> {}
    let (len, out) = (out.len(), Out(out.as_mut_ptr()));
    run_tasks(n, threads, |k| {
        let out = &out;
        let (s, e) = (k * step, ((k + 1) * step).min(len));
        // SAFETY: run_tasks runs each k once, and chunk k is [s, e) of `out`, which outlives the call.
        f(k, unsafe { std::slice::from_raw_parts_mut(out.0.add(s), e - s) })
    });
}

/// The CPU features the SIMD paths dispatch on at run time.
pub fn cpu_features() -> Vec<(&'static str, bool)> {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        vec![
            ("sse4.1", is_x86_feature_detected!("sse4.1")),
            ("avx", is_x86_feature_detected!("avx")),
            ("avx2", is_x86_feature_detected!("avx2")),
            ("fma", is_x86_feature_detected!("fma")),
            ("avx512f", is_x86_feature_detected!("avx512f")),
        ]
    }
    #[cfg(target_arch = "aarch64")]
    {
        vec![("neon", std::arch::is_aarch64_feature_detected!("neon"))]
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        vec![]
    }
}
