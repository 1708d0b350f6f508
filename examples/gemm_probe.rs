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

fn main() {
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
                res[si].push(flops / median(ts) / 1e9);
            }
        }
        for (s, r) in specs.iter().zip(res) {
            let mut sorted = r.clone();
            sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "threads={threads} N={n} {:>14} mc={} kc={} nc={}: median {:.1} max {:.1} GFLOP/s",
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
