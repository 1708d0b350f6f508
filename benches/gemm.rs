//! cargo bench --bench gemm : the Rust sgemm alone, square sizes, GFLOP/s (criterion).
use _core::kernels::gemm::sgemm;
use _core::parallel;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn bench_sgemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("sgemm");
    g.sample_size(20);
    let threads = parallel::num_threads();
    for &n in &[128usize, 256, 512, 1024] {
        let a: Vec<f32> = (0..n * n).map(|i| ((i % 17) as f32) * 0.01).collect();
        let b: Vec<f32> = (0..n * n).map(|i| ((i % 13) as f32) * 0.02).collect();
        let mut out = vec![0.0f32; n * n];
        g.throughput(Throughput::Elements((2 * n * n * n) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bch, &n| {
            bch.iter(|| {
                parallel::install(|| sgemm(&a, &b, &mut out, n, n, n, false, false, false, threads))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_sgemm);
criterion_main!(benches);
