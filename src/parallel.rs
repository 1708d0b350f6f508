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
