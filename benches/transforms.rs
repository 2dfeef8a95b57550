//! Per-sample cost of every image transform (and the matched controls of the trigger
//! transforms) on a 1x8x8 sample (the digits fixtures) and a 3x32x32 sample (the RGB zoo), plus
//! the cost of deriving a sample's generators. Run with `cargo bench --bench transforms`.
//!
//! Each measurement applies the transform to a fresh copy of the same sample (the copy is made
//! outside the timing), with generators derived once: what the runner pays per sample on top of
//! copying the sample into its batch and deriving the two generators (`sample-rng`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::Array3;

use probity::battery::spec::{BlendPattern, Extent, Orientation, PatchContent, Position, TransformSpec};
use probity::transform::{self, Geometry, LazyRng, SampleContext, Stream, Transform, ValueRange};

fn square(fraction: f32, position: Position, content: PatchContent) -> TransformSpec {
    TransformSpec::Patch { width: Extent::Fraction(fraction), height: Extent::Fraction(fraction), position, content }
}

/// (name, spec, whether to bench its control too).
fn specs() -> Vec<(&'static str, TransformSpec, bool)> {
    let checker = PatchContent::Checkerboard { low: 0.0, high: 1.0, cell: 1 };
    vec![
        ("patch-solid-1of4-bottom-right", square(0.25, Position::BottomRight, PatchContent::Solid(1.0)), true),
        ("patch-checker-1of4-center", square(0.25, Position::Center, checker), false),
        ("patch-noise-1of4-random", square(0.25, Position::Random, PatchContent::Noise { seed: 1 }), false),
        ("blend-noise-20pct", TransformSpec::Blend { pattern: BlendPattern::Noise { seed: 1 }, alpha: 0.2 }, true),
        (
            "blend-stripes-f6",
            TransformSpec::Blend {
                pattern: BlendPattern::Stripes { frequency: 6.0, orientation: Orientation::Vertical },
                alpha: 0.2,
            },
            false,
        ),
        ("gaussian-noise-5pct", TransformSpec::GaussianNoise { std: 0.05 }, false),
        ("brightness-contrast", TransformSpec::BrightnessContrast { brightness: 0.1, contrast: 0.9 }, false),
        ("shift-2px", TransformSpec::Shift { max_pixels: 2 }, false),
        ("rotate-5deg", TransformSpec::Rotate { max_degrees: 5.0 }, false),
        ("blur-sigma-0.5", TransformSpec::Blur { sigma: 0.5 }, false),
        ("blur-sigma-1.5", TransformSpec::Blur { sigma: 1.5 }, false),
    ]
}

/// The two sample shapes, with a smooth in-range image of each.
fn samples() -> Vec<(&'static str, Geometry, Array3<f32>)> {
    [("1x8x8", 1, 8), ("3x32x32", 3, 32)]
        .into_iter()
        .map(|(label, channels, side)| {
            let geometry = Geometry { channels, height: side, width: side };
            let image =
                Array3::from_shape_fn((channels, side, side), |(c, y, x)| ((c + y * side + x) % 17) as f32 / 16.0);
            (label, geometry, image)
        })
        .collect()
}

fn bench_apply(
    c: &mut Criterion,
    group_name: &str,
    transform: &dyn Transform,
    stream: Stream,
    image: &Array3<f32>,
    label: &str,
) {
    let channels = image.dim().0;
    let range = ValueRange::uniform(channels, 0.0, 1.0);
    let rng = transform::sample_rng(1, "bench", 0, stream);
    let placement_rng = transform::sample_rng(1, "bench", 0, Stream::Placement);
    let mut group = c.benchmark_group(group_name);
    group.bench_with_input(BenchmarkId::from_parameter(label), image, |b, image| {
        b.iter_batched_ref(
            || image.clone(),
            |sample| {
                let mut lazy = LazyRng::from_rng(rng.clone());
                let mut lazy_placement = LazyRng::from_rng(placement_rng.clone());
                let mut ctx =
                    SampleContext { rng: &mut lazy, placement_rng: &mut lazy_placement, range: &range, index: 0 };
                transform.apply(sample.view_mut(), &mut ctx);
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn transforms(c: &mut Criterion) {
    for (label, geometry, image) in samples() {
        for (name, spec, with_control) in specs() {
            let transform = transform::build(&spec, geometry).expect("the bench's specs are valid");
            bench_apply(c, name, transform.as_ref(), Stream::Probe, &image, label);
            if with_control {
                let control = transform.control().expect("trigger transforms have a control");
                bench_apply(c, &format!("{name}-control"), control.as_ref(), Stream::Control, &image, label);
            }
        }
    }
}

fn sample_rng(c: &mut Criterion) {
    let mut index = 0u64;
    c.bench_function("sample-rng", |b| {
        b.iter(|| {
            index += 1;
            transform::sample_rng(black_box(20261125), black_box("throughput/blend-noise-20pct"), index, Stream::Probe)
        })
    });
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = transforms, sample_rng }
criterion_main!(benches);
