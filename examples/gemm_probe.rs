//! cargo run --release --example gemm_probe -- THREADS N [N...]: GFLOP/s of every micro-kernel
//! candidate (and a few KC choices) on square N x N products, rounds interleaved, medians.
//! A tuning aid; prints only.
use _core::kernels::gemm::gemm_microkernel::{candidates, KernelSpec};
use _core::kernels::gemm::gemm_packed::{sgemm_packed_with, View};
use _core::parallel;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// `gemm_probe skinny THREADS`: the skinny shapes through `sgemm` (skinny path) and through the
/// packed loops, GB/s of B streamed.
fn skinny(threads: usize) {
    use _core::kernels::gemm::sgemm;
    parallel::set_num_threads(threads);
    let shapes = [
        (1usize, 36864usize, 128usize, false, false),
        (1, 784, 128, false, false),
        (1, 128, 10, false, false),
        (4, 4096, 1024, false, false),
        (1, 128, 36864, false, true),
        (1, 1024, 1024, false, true),
        (4096, 4096, 1, false, false),
        (4096, 4096, 1, true, false),
        (36864, 1, 128, true, false),
    ];
    for (m, k, n, ta, tb) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| ((i % 17) as f32) * 0.01).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i % 13) as f32) * 0.02).collect();
        let mut c = vec![0.0f32; m * n];
        let bytes = 4.0 * (m * k + k * n + m * n) as f64;
        let reps = (2e9 / bytes).clamp(5.0, 3000.0) as usize;
        let mut t_sk = vec![];
        let mut t_pk = vec![];
        for _round in 0..5 {
            let mut ts = vec![];
            for _ in 0..reps {
                let t0 = Instant::now();
                parallel::install(|| sgemm(&a, &b, &mut c, m, k, n, ta, tb, false, threads));
                ts.push(t0.elapsed().as_secs_f64());
            }
            t_sk.push(ts.iter().cloned().fold(f64::MAX, f64::min));
            let mut ts = vec![];
            let (a_rs, a_cs) = if ta { (1, m) } else { (k, 1) };
            let (b_rs, b_cs) = if tb { (1, k) } else { (n, 1) };
            for _ in 0..reps.min(200) {
                let t0 = Instant::now();
                parallel::install(|| unsafe {
                    _core::kernels::gemm::gemm_packed::sgemm_packed(
                        View { ptr: a.as_ptr(), rs: a_rs, cs: a_cs },
                        View { ptr: b.as_ptr(), rs: b_rs, cs: b_cs },
                        c.as_mut_ptr(),
                        n,
                        m,
                        k,
                        n,
                        false,
                        threads,
                    )
                });
                ts.push(t0.elapsed().as_secs_f64());
            }
            t_pk.push(ts.iter().cloned().fold(f64::MAX, f64::min));
        }
        let (s, p) = (t_sk.iter().cloned().fold(f64::MAX, f64::min), t_pk.iter().cloned().fold(f64::MAX, f64::min));
        println!(
            "threads={threads} {m}x{k}{} @ {k}x{n}{}: sgemm {:.1} us ({:.1} GB/s), packed {:.1} us",
            if ta { "^T" } else { "" },
            if tb { "^T" } else { "" },
            s * 1e6,
            bytes / s / 1e9,
            p * 1e6
        );
    }
}

/// `gemm_probe tasks`: how many of 64 x 10 us tasks the helper thread takes in run_tasks.
fn tasks() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    parallel::set_num_threads(2);
    for round in 0..10 {
        let by_helper = AtomicUsize::new(0);
        let me = std::thread::current().id();
        let t0 = Instant::now();
        parallel::run_tasks(64, 2, |_| {
            let s = Instant::now();
            while s.elapsed().as_micros() < 10 {}
            if std::thread::current().id() != me {
                by_helper.fetch_add(1, Ordering::Relaxed);
            }
        });
        println!("round {round}: helper did {} of 64, {:.0} us", by_helper.load(Ordering::Relaxed), t0.elapsed().as_secs_f64() * 1e6);
        std::thread::sleep(std::time::Duration::from_millis(if round % 2 == 0 { 0 } else { 20 }));
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("tasks") {
        tasks();
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("skinny") {
        let t = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(1);
        skinny(t);
        return;
    }
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    let threads = args.first().copied().unwrap_or(1);
    let sizes = if args.len() > 1 { args[1..].to_vec() } else { vec![128, 256, 512, 1024] };
    parallel::set_num_threads(threads);
    let mut specs: Vec<KernelSpec> = vec![];
    for s in candidates() {
        if s.name.starts_with("portable") {
            continue;
        }
        specs.push(s);
        if s.name.starts_with("avx512") {
            for kc in [128, 192, 384] {
                specs.push(KernelSpec { kc, ..s });
            }
        }
    }
    let filter = std::env::var("PROBE_FILTER").unwrap_or_default();
    specs.retain(|s| s.name.contains(&filter));
    for &n in &sizes {
        let a: Vec<f32> = (0..n * n).map(|i| ((i % 17) as f32) * 0.01).collect();
        let b: Vec<f32> = (0..n * n).map(|i| ((i % 13) as f32) * 0.02).collect();
        let mut c = vec![0.0f32; n * n];
        let flops = 2.0 * (n * n * n) as f64;
        let reps = (0.2e9 / flops).clamp(3.0, 500.0) as usize;
        let mut res: Vec<Vec<f64>> = vec![vec![]; specs.len()];
        for _round in 0..7 {
            for (si, s) in specs.iter().enumerate() {
                let mut ts = vec![];
                for r in 0..reps + 1 {
                    let t0 = Instant::now();
                    parallel::install(|| unsafe {
                        sgemm_packed_with(
                            s,
                            View { ptr: a.as_ptr(), rs: n, cs: 1 },
                            View { ptr: b.as_ptr(), rs: n, cs: 1 },
                            c.as_mut_ptr(),
                            n,
                            n,
                            n,
                            n,
                            false,
                            threads,
                        )
                    });
                    if r > 0 {
                        ts.push(t0.elapsed().as_secs_f64());
                    }
                }
                res[si].push(flops / ts.iter().cloned().fold(f64::MAX, f64::min) / 1e9);
            }
        }
        for (s, r) in specs.iter().zip(res) {
            let mut sorted = r.clone();
            sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "threads={threads} N={n} {:>14} mc={} kc={} nc={}: median-of-min {:.1} best {:.1} GFLOP/s",
                s.name,
                s.mc,
                s.kc,
                s.nc,
                median(r),
                sorted[sorted.len() - 1]
            );
        }
    }
}
