//! The one rayon pool every kernel runs in. Its size comes from `AIAAS_NUM_THREADS` (default: the
//! number of cores) and can be changed at run time with `set_num_threads`; kernels call
//! `install` so that nested rayon work (gemm's own threads included) stays in this pool.

use rayon::{ThreadPool, ThreadPoolBuilder};
use std::sync::{Arc, RwLock};

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

fn default_threads() -> usize {
    std::env::var("AIAAS_NUM_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
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
/// from a shared counter, so whoever is free takes the next one (a late-waking or busy thread
/// just takes fewer). From outside the pool only `threads - 1` pool workers are woken and the
/// caller works instead of sleeping on a latch (`install` would cost two thread switches, ~10
/// us, per call); inside a pool (nested) the current worker does the same with `rayon::scope`.
pub fn run_tasks(n: usize, threads: usize, f: impl Fn(usize) + Sync) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let helpers = threads.min(n).saturating_sub(1);
    if helpers == 0 {
        (0..n).for_each(f);
        return;
    }
    let next = AtomicUsize::new(0);
    let drain = || loop {
        let t = next.fetch_add(1, Ordering::Relaxed);
        if t >= n {
            break;
        }
        f(t);
    };
    if rayon::current_thread_index().is_some() {
        rayon::scope(|s| {
            for _ in 0..helpers {
                s.spawn(|_| drain());
            }
            drain();
        });
    } else {
        pool().in_place_scope(|s| {
            for _ in 0..helpers {
                s.spawn(|_| drain());
            }
            drain();
        });
    }
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
