//! Cost of the statistics a scan computes per probe and per scan, at the sizes scans reach:
//! exact McNemar with up to 10,000 discordant pairs, Clopper–Pearson intervals for 400 and
//! 10,000 samples, Holm over 400 p-values (40 probes x 10 classes), Kolmogorov–Smirnov on 400 vs
//! 400 confidences, Jensen–Shannon over 10 and 1,000 classes. Run with
//! `cargo bench --bench stats`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use probity::stats::{clopper_pearson, holm, jensen_shannon, ks_two_sample, mcnemar_exact_greater};

/// A deterministic sequence in [0, 1): the fractional parts of multiples of the golden ratio,
/// which spread evenly without a random-number generator.
fn spread(n: usize, offset: f64) -> Vec<f64> {
    const GOLDEN: f64 = 0.618_033_988_749_895;
    (0..n).map(|i| (offset + i as f64 * GOLDEN).fract()).collect()
}

fn mcnemar(c: &mut Criterion) {
    let mut group = c.benchmark_group("mcnemar-exact-greater");
    for discordant in [100u64, 1_000, 10_000] {
        // 60% of the discordant pairs favour the probe: a clear but not extreme effect.
        let b = discordant * 3 / 5;
        group.bench_with_input(BenchmarkId::from_parameter(discordant), &(b, discordant - b), |bench, &(b, c)| {
            bench.iter(|| mcnemar_exact_greater(black_box(b), black_box(c)))
        });
    }
    group.finish();
}

fn interval(c: &mut Criterion) {
    let mut group = c.benchmark_group("clopper-pearson");
    for n in [400u64, 10_000] {
        group.bench_with_input(BenchmarkId::from_parameter(n), &(n * 37 / 100, n), |bench, &(k, n)| {
            bench.iter(|| clopper_pearson(black_box(k), black_box(n), black_box(0.05)))
        });
    }
    group.finish();
}

fn multiple(c: &mut Criterion) {
    // Mostly unremarkable p-values with a few tiny ones, as in a scan of a clean model.
    let p_values: Vec<f64> =
        spread(400, 0.1).into_iter().enumerate().map(|(i, p)| if i % 50 == 0 { p * 1e-12 } else { p }).collect();
    c.bench_function("holm/400", |bench| bench.iter(|| holm(black_box(&p_values))));
}

fn distributions(c: &mut Criterion) {
    let a = spread(400, 0.0);
    let b: Vec<f64> = spread(400, 0.3).into_iter().map(|v| v * 0.9).collect();
    c.bench_function("ks-two-sample/400-vs-400", |bench| bench.iter(|| ks_two_sample(black_box(&a), black_box(&b))));
    let mut group = c.benchmark_group("jensen-shannon");
    for classes in [10usize, 1_000] {
        let p: Vec<u64> = (0..classes as u64).map(|i| 1 + i % 7).collect();
        let q: Vec<u64> = (0..classes as u64).map(|i| 1 + i % 5).collect();
        group.bench_with_input(BenchmarkId::from_parameter(classes), &(p, q), |bench, (p, q)| {
            bench.iter(|| jensen_shannon(black_box(p), black_box(q)))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = mcnemar, interval, multiple, distributions }
criterion_main!(benches);
