//! Throughput of an adversarial probe: model queries per second of a scan running one Square
//! Attack probe, against raw ONNX Runtime classifying the same number of inputs in full batches
//! with the same session, batch size and threads. Run with
//! `cargo bench --bench adversarial_throughput`; docs/adversarial.md quotes the figures.
//!
//! - **(a) probity**: `runner::scan` over `benches/adversarial/throughput-battery.yaml` (one
//!   L∞ probe on all 400 inputs) through the library API; queries from `ScanOutcome::queries`
//!   (the clean pass, every attack query, the replay of the adversarial inputs), seconds by
//!   `Instant` around the call.
//! - **(b) raw ONNX Runtime**: `Engine::classify` on full batches of clean inputs, built once up
//!   front, in a tight loop until it has classified as many inputs as (a) queried.
//!
//! (a) and (b) alternate within each repetition, so a change in machine load hits both; the
//! ratio is the median of the per-repetition ratios. `PROBITY_BENCH_THREADS` (default 2) sets
//! ONNX Runtime's intra-op threads and the rayon pool; `PROBITY_BENCH_REPETITIONS` (default 5)
//! the repetitions; `PROBITY_BENCH_MODEL` another model (with `PROBITY_BENCH_DATA`);
//! `PROBITY_BENCH_BATTERY` another battery (e.g. `benches/adversarial/throughput-hopskipjump.yaml`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{ArrayD, Axis, IxDyn};

use probity::battery;
use probity::engine::{Engine, EngineOptions, InputData};
use probity::modality::image as data;
use probity::runner::{self, Models, ScanSettings};

const BATTERY: &str = "benches/adversarial/throughput-battery.yaml";

fn root(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn env_count(name: &str) -> Option<usize> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

fn main() {
    let threads = env_count("PROBITY_BENCH_THREADS").unwrap_or(2);
    let repetitions = env_count("PROBITY_BENCH_REPETITIONS").unwrap_or(5);
    let model = std::env::var("PROBITY_BENCH_MODEL").unwrap_or_else(|_| "tests/fixtures/zoo/rgb-cnn.onnx".into());
    let data_path = std::env::var("PROBITY_BENCH_DATA").unwrap_or_else(|_| "tests/fixtures/zoo/rgb-test.npz".into());
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().expect("the rayon pool");
    let runtime = probity::onnxruntime::load(None).expect("ONNX Runtime");
    let battery_path = std::env::var("PROBITY_BENCH_BATTERY").unwrap_or_else(|_| BATTERY.into());
    let battery = battery::load(&root(&battery_path)).expect("the adversarial throughput battery");
    let batteries = std::slice::from_ref(&battery);
    let dataset = data::load(&root(&data_path), None).expect("the data");
    let options = EngineOptions { threads: Some(threads), ..EngineOptions::default() };
    let mut engine = Engine::load(runtime, &root(&model), &options).expect("the model");
    let input = engine.signature.inputs[0].name.clone();
    let batch = engine.batch_size.max(1);
    let x = dataset.read(&(0..dataset.len()).collect::<Vec<_>>()).expect("the data reads");
    let batches: Vec<[(String, InputData); 1]> = x
        .axis_chunks_iter(Axis(0), batch)
        .filter(|c| c.shape()[0] == batch)
        .map(|c| {
            [(
                input.clone(),
                InputData::F32(ArrayD::from_shape_vec(IxDyn(c.shape()), c.iter().copied().collect()).expect("a batch")),
            )]
        })
        .collect();
    println!(
        "{model}: {} inputs of {:?}, batch size {batch}, threads {threads}, load average {}",
        dataset.len(),
        &dataset.shape()[1..],
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    let settings = ScanSettings::default();
    let (mut ours, mut raw, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for repetition in 0..=repetitions {
        let mut models =
            Models { candidate: &mut engine, references: &mut [], baseline: None, baseline_tolerance: 0.0 };
        let started = Instant::now();
        let outcome = runner::scan(&mut models, &dataset, batteries, &settings).expect("scan");
        let seconds = started.elapsed().as_secs_f64();
        let queries = outcome.queries;
        let started = Instant::now();
        let mut done = 0u64;
        'outer: loop {
            for b in &batches {
                std::hint::black_box(engine.classify(b).expect("classify"));
                done += batch as u64;
                if done >= queries {
                    break 'outer;
                }
            }
        }
        let raw_seconds = started.elapsed().as_secs_f64();
        // The first repetition warms up.
        if repetition > 0 {
            ours.push(queries as f64 / seconds);
            raw.push(done as f64 / raw_seconds);
            ratios.push((queries as f64 / seconds) / (done as f64 / raw_seconds));
        }
        println!(
            "repetition {repetition}: probity {queries} queries in {:.2} s ({:.0}/s), raw {done} in {:.2} s ({:.0}/s)",
            seconds,
            queries as f64 / seconds,
            raw_seconds,
            done as f64 / raw_seconds
        );
    }
    println!(
        "median: probity {:.0} queries/s, raw ONNX Runtime {:.0} queries/s, probity/raw {:.2} (per-repetition ratios {:?})",
        median(ours),
        median(raw),
        median(ratios.clone()),
        ratios.iter().map(|r| (r * 100.0).round() / 100.0).collect::<Vec<_>>()
    );
}
