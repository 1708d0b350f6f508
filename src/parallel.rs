//! The one rayon pool every kernel runs in. Its size comes from `AIAAS_NUM_THREADS` (default: the
//! number of cores) and can be changed at run time with `set_num_threads`; kernels call
//! `install` so that nested rayon work (gemm's own threads included) stays in this pool.

use rayon::{ThreadPool, ThreadPoolBuilder};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, RwLock};

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

/// How long a pool worker stays awake after its part of a parallel call, in microseconds
/// (`AIAAS_SPIN_US`, default 1000; 0 turns it off). Waking a sleeping worker costs from 30 us to
/// several ms on a virtual machine, longer than most of a training step's kernels take; a training
/// loop calls kernels back to back with a few tens of microseconds of Python between them, so a
/// worker that polls a little longer is there for the next call (what OpenMP runtimes do with
/// their spin-wait). While it polls it also runs any rayon work queued on its pool.
fn spin_time() -> std::time::Duration {
    let mut us = SPIN_US.load(SeqCst);
    if us == SPIN_UNSET {
        us = match std::env::var("AIAAS_SPIN_US") {
            Err(_) => DEFAULT_SPIN_US,
            Ok(s) => s.trim().parse::<u64>().ok().filter(|&v| v <= MAX_SPIN_US).unwrap_or_else(|| {
                eprintln!(
                    "aiaas_core: AIAAS_SPIN_US={s:?} is not a whole number of microseconds in [0, {MAX_SPIN_US}]; \
                     using {DEFAULT_SPIN_US}"
                );
                DEFAULT_SPIN_US
            }),
        };
        // A `set_spin_us` racing with this first read wins.
        let _ = SPIN_US.compare_exchange(SPIN_UNSET, us, SeqCst, SeqCst);
        us = SPIN_US.load(SeqCst);
    }
    std::time::Duration::from_micros(us)
}

const SPIN_UNSET: u64 = u64::MAX;
const DEFAULT_SPIN_US: u64 = 1000;
/// One second: polling longer than that is never what anyone wants.
pub const MAX_SPIN_US: u64 = 1_000_000;
static SPIN_US: AtomicU64 = AtomicU64::new(SPIN_UNSET);

/// Set how long workers poll after a parallel call (0: sleep at once; a server answering single
/// requests sets this so idle workers do not take CPU from its event loop).
pub fn set_spin_us(us: u64) {
    SPIN_US.store(us.min(MAX_SPIN_US), SeqCst);
}

/// The polling time in microseconds now in force.
pub fn spin_us() -> u64 {
    spin_time().as_micros() as u64
}

/// One parallel call of `run_tasks`, as its helpers see it.
struct Call {
    next: AtomicUsize,
    active: AtomicUsize,
    closed: AtomicBool,
    /// Helpers that may still join (the call's `threads - 1`); a lingering worker takes a seat.
    seats: AtomicUsize,
    n: usize,
    // Erased-lifetime pointer to the caller's `f`; dereferenced only between a successful
    // `enter` and the matching `active` decrement, which the caller waits for.
    f: *const (dyn Fn(usize) + Sync),
}
// SAFETY: `f` is Sync and only called while the caller keeps it alive (see above).
unsafe impl Send for Call {}
unsafe impl Sync for Call {}

/// The open call lingering workers look at: `epoch` changes whenever a call is posted.
static POSTED: Mutex<Option<Arc<Call>>> = Mutex::new(None);
static EPOCH: AtomicUsize = AtomicUsize::new(0);

impl Call {
    /// Take a task index at a time until none is left.
    fn drain(&self, f: &(dyn Fn(usize) + Sync)) {
        loop {
            let t = self.next.fetch_add(1, SeqCst);
            if t >= self.n {
                break;
            }
            f(t);
        }
    }

    /// A helper's part: take a seat, enter (SeqCst), then check `closed`: either the caller sees
    /// us active and waits, or we see the call closed and leave.
    fn help(&self) {
        if self.seats.fetch_update(SeqCst, SeqCst, |s| s.checked_sub(1)).is_err() {
            return;
        }
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, SeqCst);
            }
        }
        self.active.fetch_add(1, SeqCst);
        let _leave = Leave(&self.active);
        if self.closed.load(SeqCst) {
            return;
        }
        // SAFETY: the call is open and we are counted active: the caller's `f` is alive.
        let f = unsafe { &*self.f };
        self.drain(f);
    }
}

/// Workers polling in `linger` now.
static LINGERING: AtomicUsize = AtomicUsize::new(0);

/// After helping: poll for the next posted call for `spin_time()` (restarted by every call
/// joined), running queued rayon work meanwhile, then go back to the pool to sleep. At most
/// `threads - 1` workers poll (the caller is the last thread): one more would only compete with
/// the caller for a core. The poll yields the core now and then, for a machine with more runnable
/// threads than cores.
fn linger() {
    let spin = spin_time();
    if spin.is_zero() {
        return;
    }
    let max = num_threads().saturating_sub(1);
    if LINGERING.fetch_add(1, SeqCst) >= max {
        LINGERING.fetch_sub(1, SeqCst);
        return;
    }
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            LINGERING.fetch_sub(1, SeqCst);
        }
    }
    let _done = Done;
    let mut seen = EPOCH.load(SeqCst);
    let mut deadline = std::time::Instant::now() + spin;
    let mut polls = 0u32;
    loop {
        let epoch = EPOCH.load(SeqCst);
        if epoch != seen {
            seen = epoch;
            let call = POSTED.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(call) = call {
                call.help();
            }
            deadline = std::time::Instant::now() + spin;
            continue;
        }
        polls = polls.wrapping_add(1);
        if polls % 64 == 0 {
            if matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                deadline = std::time::Instant::now() + spin;
            } else if std::time::Instant::now() > deadline {
                return;
            }
            if polls % 4096 == 0 {
                std::thread::yield_now();
            }
        }
        std::hint::spin_loop();
    }
}

/// Run `f(0..n)` on up to `threads` threads, the calling thread included: tasks are handed out
/// from a shared counter, so whoever is free takes the next one. From outside the pool only
/// `threads - 1` pool workers are woken and the caller works instead of sleeping on a latch
/// (`install` costs two thread switches, ~10 us, per call). The caller never waits for a helper
/// that has not started: on a shared machine a woken worker may not get a CPU for milliseconds,
/// and by then the caller has done all the tasks (a helper that starts late finds the call
/// closed and leaves without touching `f`). It waits only for helpers inside a task. Workers
/// still lingering from an earlier call (`linger`) join at once.
pub fn run_tasks(n: usize, threads: usize, f: impl Fn(usize) + Sync) {
    let helpers = threads.min(n).saturating_sub(1);
    if helpers == 0 {
        (0..n).for_each(f);
        return;
    }
    let f_ref: &(dyn Fn(usize) + Sync) = &f;
    // SAFETY: only the lifetime is erased; see `Call::f`.
    let f_static: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f_ref) };
    let call = Arc::new(Call {
        next: AtomicUsize::new(0),
        active: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        seats: AtomicUsize::new(helpers),
        n,
        f: f_static,
    });
    *POSTED.lock().unwrap_or_else(|e| e.into_inner()) = Some(call.clone());
    EPOCH.fetch_add(1, SeqCst);
    let pool = if rayon::current_thread_index().is_some() { None } else { Some(pool()) };
    // Workers already polling join through POSTED; wake sleeping ones only for the seats left.
    let wake = helpers.saturating_sub(LINGERING.load(SeqCst));
    for _ in 0..wake {
        let c = call.clone();
        let job = move || {
            c.help();
            drop(c);
            linger();
        };
        match &pool {
            Some(p) => p.spawn(job),
            None => rayon::spawn(job),
        }
    }
    // Close the call and wait for helpers inside a task, also when `f` panics here.
    struct CloseAndWait<'a>(&'a Arc<Call>);
    impl Drop for CloseAndWait<'_> {
        fn drop(&mut self) {
            self.0.closed.store(true, SeqCst);
            {
                let mut posted = POSTED.lock().unwrap_or_else(|e| e.into_inner());
                if posted.as_ref().is_some_and(|p| Arc::ptr_eq(p, self.0)) {
                    *posted = None;
                }
            }
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
    let _close = CloseAndWait(&call);
    call.drain(&f);
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
