//! End-to-end throughput: model queries per second of a probity scan against its two yardsticks,
//! measured in one run on one machine with one thread budget and one execution provider. Run with
//! `cargo bench --bench throughput`; BENCHMARKS.md records the figures and the targets.
//!
//! - **(a) probity**: `runner::scan` over the fixed battery `benches/throughput-battery.yaml`
//!   (clean pass, 8 trigger probes with their controls, 2 robustness probes), through the library
//!   API; queries from `ScanOutcome::queries`, seconds by `Instant` around the call (model and
//!   data loading excluded).
//! - **(b) raw ONNX Runtime**, the ceiling: exactly the inputs (a) classifies — the clean chunks,
//!   then each probe's transformed chunk and its control's, built here once up front the way the
//!   runner builds them (same sample order, per-sample generators and chunking) — fed to the same
//!   `Engine` with `Engine::classify` in a tight loop. Same session, provider, batch size and
//!   threads.
//! - **(c) Python peer**: `benches/peer_scan.py`, the same battery written with onnxruntime and
//!   vectorised numpy, run through `python3` when `onnxruntime` and `numpy` import; on the CPU
//!   only.
//!
//! The cases are the tiny MLP and the CNN of the fixture zoo (`.npz` data, 400 inputs) and the
//! realistic-size models `tests/fixtures/large/ocr-clean.onnx` (3x48x192) and `r224-clean.onnx`
//! (3x224x224) on their 96-PNG folders, read as `probity scan --image-size` reads them.
//!
//! (a) and (b) alternate within each repetition, so a change in machine load hits both; each
//! figure is the median over the repetitions after one warm-up, and (a)/(b) is the median of the
//! per-repetition ratios. The peer runs its repetitions afterwards (see `main` for why not in
//! between); (a)/(c) is the ratio of the medians. Settings come from the environment:
//!
//! - `PROBITY_BENCH_EP`: `cpu` (default), `cuda` or `cuda:N`, for (a) and (b) alike. A provider
//!   that cannot be registered is an error, never a silent fall back to the CPU. The ONNX Runtime
//!   library is chosen as `probity` chooses it (`ORT_DYLIB_PATH`, else the pinned build); a GPU
//!   build is passed through `ORT_DYLIB_PATH`.
//! - `PROBITY_BENCH_THREADS` (default 2): ONNX Runtime's intra-op threads, the rayon pool that
//!   builds probity's inputs, and the peer's `intra_op_num_threads`.
//! - `PROBITY_BENCH_REPETITIONS`: repetitions for every case; by default 11 for the small models
//!   and 3 for the large ones, whose scans take seconds each on a CPU.
//! - `PROBITY_BENCH_MODELS`: a comma-separated list of substrings of the case labels (`mlp`,
//!   `cnn`, `ocr`, `r224`); only the cases it matches run.
//! - `PROBITY_BENCH_BATCH`: a fixed batch size for (a), (b) and (c); by default the engine
//!   chooses it per model. A probe's run is at most its sample count (400, or 96 for the large
//!   models), so larger batches than that change nothing.
//!
//! After each case the bench prints the process's peak resident set size so far (`VmHWM`): it
//! is cumulative over the cases run before, and includes (b)'s prebuilt inputs (1.1 GB for r224),
//! so it is not probity's own footprint; `benches/memory.sh` and `benches/realsize.sh` measure
//! that.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ndarray::{ArrayD, Axis, IxDyn};

use probity::battery::{
    self,
    spec::{Battery, Category, Layout, PatchContent, Position, TransformSpec},
};
use probity::engine::{Engine, EngineOptions, ExecutionProvider, InputData};
use probity::modality::image::{self as data, ChannelOrder, Dataset, ImageFolderOptions};
use probity::onnxruntime::LibrarySource;
use probity::runner::{self, Models, ScanOutcome, ScanSettings};
use probity::transform::{self, Geometry, Stream, ValueRange};

const BATTERY: &str = "benches/throughput-battery.yaml";
const PEER: &str = "benches/peer_scan.py";

/// Where a case's clean inputs come from.
enum Source {
    /// An `.npz` with `x` and `y`.
    Npz(&'static str),
    /// A folder of PNGs in class sub-folders, read as RGB at `width`x`height` with no mean or
    /// std (what `probity scan --image-size WxH` does with its defaults).
    Folder { path: &'static str, width: u32, height: u32 },
}

/// Minimum (a)/(b) and (a)/(c) on one kind of provider (issue 13); `None`: no target.
#[derive(Clone, Copy)]
struct Targets {
    vs_raw: Option<f64>,
    vs_peer: Option<f64>,
}

const NO_TARGET: Targets = Targets { vs_raw: None, vs_peer: None };

struct Case {
    label: &'static str,
    model: &'static str,
    source: Source,
    /// Repetitions unless `PROBITY_BENCH_REPETITIONS` says otherwise: a CPU scan of a large
    /// model takes seconds, and (b) as long again.
    repetitions: usize,
    /// Targets with `PROBITY_BENCH_EP=cpu` at 2 threads, and on CUDA (where there is no peer).
    cpu: Targets,
    cuda: Targets,
}

const CASES: &[Case] = &[
    Case {
        label: "tiny MLP (clean-mlp64-s1, 1x8x8)",
        model: "tests/fixtures/digits/clean-mlp64-s1.onnx",
        source: Source::Npz("tests/fixtures/digits/digits-test.npz"),
        repetitions: 11,
        cpu: Targets { vs_raw: Some(0.7), vs_peer: Some(1.5) },
        cuda: NO_TARGET,
    },
    Case {
        label: "CNN (rgb-cnn, 3x32x32)",
        model: "tests/fixtures/zoo/rgb-cnn.onnx",
        source: Source::Npz("tests/fixtures/zoo/rgb-test.npz"),
        repetitions: 11,
        cpu: Targets { vs_raw: Some(0.95), vs_peer: Some(1.2) },
        cuda: Targets { vs_raw: Some(0.8), vs_peer: None },
    },
    Case {
        label: "OCR (ocr-clean, 3x48x192)",
        model: "tests/fixtures/large/ocr-clean.onnx",
        source: Source::Folder { path: "tests/fixtures/large/ocr-test", width: 192, height: 48 },
        repetitions: 3,
        cpu: NO_TARGET,
        cuda: NO_TARGET,
    },
    Case {
        label: "r224 (r224-clean, 3x224x224)",
        model: "tests/fixtures/large/r224-clean.onnx",
        source: Source::Folder { path: "tests/fixtures/large/r224-test", width: 224, height: 224 },
        repetitions: 3,
        cpu: NO_TARGET,
        cuda: Targets { vs_raw: Some(0.8), vs_peer: None },
    },
];

impl Case {
    fn load_data(&self) -> Dataset {
        let loaded = match self.source {
            Source::Npz(path) => data::load(&root(path), None),
            Source::Folder { path, width, height } => {
                let channels = ChannelOrder::Rgb;
                let options = ImageFolderOptions {
                    width,
                    height,
                    channels,
                    mean: vec![0.0; channels.channels()],
                    std: vec![1.0; channels.channels()],
                    layout: Layout::Nchw,
                };
                data::load(&root(path), Some(&options))
            }
        };
        loaded.unwrap_or_else(|e| panic!("{}: {e}", self.label))
    }

    /// An `.npz` the peer can read: the case's own, or `x` and `y` of an image folder written
    /// under `target` (the peer reads `.npz` only).
    fn peer_data(&self, dataset: &Dataset, target: &Path) -> PathBuf {
        match self.source {
            Source::Npz(path) => root(path),
            Source::Folder { path, .. } => {
                let name = Path::new(path).file_name().expect("a folder name").to_string_lossy();
                let out = target.join(format!("throughput-{name}.npz"));
                let x = dataset.read(&(0..dataset.len()).collect::<Vec<_>>()).expect("the data reads");
                let mut npz = ndarray_npy::NpzWriter::new(std::fs::File::create(&out).expect("the peer's .npz"));
                npz.add_array("x", &x).expect("writing x");
                if let Some(y) = &dataset.y {
                    npz.add_array("y", &ndarray::Array1::from(y.clone())).expect("writing y");
                }
                npz.finish().expect("writing the peer's .npz");
                out
            }
        }
    }
}

/// `path` in the project: under `CARGO_MANIFEST_DIR` when cargo runs the bench, else under the
/// current folder — a prebuilt bench executable run from the root of a copy of the project (on
/// a GPU machine without cargo) must not look for the fixtures where it was built.
fn root(path: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from).join(path)
}

/// A count from the environment, `None` when the variable is unset.
fn env_count(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().ok().filter(|&n| n >= 1).unwrap_or_else(|| panic!("{name}={v}: expected an integer >= 1")))
}

/// This process's peak resident set size so far in MiB (`VmHWM` in `/proc/self/status`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn median(samples: &[Duration]) -> f64 {
    median_of(samples.iter().map(Duration::as_secs_f64).collect())
}

fn median_of(mut s: Vec<f64>) -> f64 {
    s.sort_by(f64::total_cmp);
    let mid = s.len() / 2;
    if s.len() % 2 == 1 { s[mid] } else { (s[mid - 1] + s[mid]) / 2.0 }
}

/// `median (min-max)` in seconds.
fn spread(samples: &[Duration]) -> String {
    let min = samples.iter().min().map_or(0.0, Duration::as_secs_f64);
    let max = samples.iter().max().map_or(0.0, Duration::as_secs_f64);
    format!("{:.4} ({min:.4}-{max:.4})", median(samples))
}

/// (a)'s speed relative to another measurement, repetition by repetition: each run of (a) is
/// compared with the run of the other taken right after it, so drift in the machine's speed
/// between repetitions cancels out.
struct Ratio {
    median: f64,
    min: f64,
    max: f64,
}

impl Ratio {
    /// Speed ratio (a)/(other) = other's seconds / (a)'s seconds, per repetition.
    fn paired(scan: &[Duration], other: &[Duration]) -> Ratio {
        let ratios: Vec<f64> = scan.iter().zip(other).map(|(a, o)| o.as_secs_f64() / a.as_secs_f64()).collect();
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Ratio { median: median_of(ratios), min, max }
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} ({:.2}-{:.2})", self.median, self.min, self.max)
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Every batch (a) classifies, in the runner's order, with the number of transformed samples.
struct ProbedInputs {
    batches: Vec<[(String, InputData); 1]>,
    queries: u64,
}

/// Builds the inputs a scan of `battery` classifies on the candidate alone, as the runner does.
/// `chunk` is the runner's chunk size for the model ([`runner::chunk_size`]).
fn probed_inputs(dataset: &Dataset, battery: &Battery, input: &str, chunk: usize) -> ProbedInputs {
    let x = dataset.read(&(0..dataset.len()).collect::<Vec<_>>()).expect("the data reads");
    let subset = dataset.subset(&(0..dataset.len()).collect::<Vec<_>>()).expect("the data reads");
    let shape = x.shape();
    assert!(
        battery.defaults.layout.is_none_or(|l| l == Layout::Nchw) && matches!(shape[1], 1 | 3),
        "this bench builds NCHW inputs only"
    );
    let geometry = Geometry { channels: shape[1], height: shape[2], width: shape[3] };
    // The range the runner infers when the battery declares none: per channel min and max.
    assert!(battery.defaults.value_range.is_none(), "the throughput battery leaves value-range to the data");
    let (lo, hi): (Vec<f32>, Vec<f32>) = (0..geometry.channels)
        .map(|c| {
            let lane = x.index_axis(Axis(1), c);
            let lo = lane.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = lane.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            if hi > lo { (lo, hi) } else { (lo, lo + 1.0) }
        })
        .unzip();
    let range = ValueRange { lo, hi };
    let seed = battery.defaults.seed;
    let order = runner::sample_order(seed, dataset.len());

    let mut batches = Vec::new();
    let mut queries = 0u64;
    let mut push = |batch: ArrayD<f32>| {
        queries += batch.len_of(Axis(0)) as u64;
        batches.push([(input.to_string(), InputData::F32(batch))]);
    };
    for start in (0..dataset.len()).step_by(chunk) {
        let end = (start + chunk).min(dataset.len());
        push(x.slice_axis(Axis(0), ndarray::Slice::from(start..end)).to_owned());
    }
    // The runner's chunks span probe runs (a run's last chunk is topped up with the next run's
    // first samples), so (b) gets the same full chunks: built per run, then repacked.
    let mut runs = Vec::new();
    for probe in &battery.probes {
        let key = format!("{}/{}", battery.name, probe.id);
        let indices = &order[..probe.samples.min(order.len())];
        let probed = transform::build(&probe.transform, geometry).expect("the battery's transforms build");
        let control = match probe.category {
            Category::Trigger => Some(probed.control().expect("trigger transforms have a control")),
            Category::Robustness | Category::Adversarial => None,
        };
        let streams =
            std::iter::once((probed.as_ref(), Stream::Probe)).chain(control.as_deref().map(|c| (c, Stream::Control)));
        for (transform, stream) in streams {
            for chunk in indices.chunks(chunk) {
                runs.push(
                    data::Probing::new(seed, &key, Layout::Nchw, &range).batch(&subset, chunk, transform, stream),
                );
            }
        }
    }
    for batch in repack(runs, chunk) {
        push(batch);
    }
    ProbedInputs { batches, queries }
}

/// Regroups consecutive arrays of samples into arrays of `chunk` samples (the last may be
/// shorter), consuming them one by one so memory stays at the inputs plus one chunk.
fn repack(arrays: Vec<ArrayD<f32>>, chunk: usize) -> Vec<ArrayD<f32>> {
    let mut packed = Vec::new();
    let mut rows: Vec<f32> = Vec::new();
    let mut count = 0;
    let mut sample_shape: Vec<usize> = Vec::new();
    let flush = |rows: &mut Vec<f32>, count: &mut usize, shape: &[usize], packed: &mut Vec<ArrayD<f32>>| {
        let dims: Vec<usize> = std::iter::once(*count).chain(shape.iter().copied()).collect();
        packed.push(ArrayD::from_shape_vec(IxDyn(&dims), std::mem::take(rows)).expect("whole samples"));
        *count = 0;
    };
    for array in arrays {
        sample_shape = array.shape()[1..].to_vec();
        for sample in array.outer_iter() {
            rows.extend(sample.iter().copied());
            count += 1;
            if count == chunk {
                flush(&mut rows, &mut count, &sample_shape, &mut packed);
            }
        }
    }
    if count > 0 {
        flush(&mut rows, &mut count, &sample_shape, &mut packed);
    }
    packed
}

/// What the Python peer reported.
struct PeerResult {
    queries_per_second: f64,
    queries: u64,
    probes: serde_json::Value,
}

/// Whether `python3` can import what the peer needs.
fn peer_available() -> bool {
    Command::new("python3")
        .args(["-c", "import onnxruntime, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn run_peer(
    case: &Case,
    data: &Path,
    battery_json: &Path,
    threads: usize,
    batch_size: usize,
    repetitions: usize,
) -> PeerResult {
    let output = Command::new("python3")
        .arg(root(PEER))
        .arg("--model")
        .arg(root(case.model))
        .arg("--data")
        .arg(data)
        .arg("--battery-json")
        .arg(battery_json)
        .args(["--threads", &threads.to_string()])
        .args(["--batch-size", &batch_size.to_string()])
        .args(["--repetitions", &repetitions.to_string()])
        .output()
        .expect("running python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{PEER} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let report: serde_json::Value = serde_json::from_str(last).expect("the peer's last line is JSON");
    PeerResult {
        queries_per_second: report["queries_per_second"].as_f64().expect("queries_per_second"),
        queries: report["queries"].as_u64().expect("queries"),
        probes: report["probes"].clone(),
    }
}

/// Probes whose inputs do not depend on random draws, so probity and the peer classify exactly
/// the same inputs: fixed-position solid, colour or checkerboard patches, and stripes.
fn deterministic(spec: &TransformSpec) -> bool {
    match spec {
        TransformSpec::Patch { position, content, .. } => {
            *position != Position::Random
                && matches!(
                    content,
                    PatchContent::Solid(_) | PatchContent::Color(_) | PatchContent::Checkerboard { .. }
                )
        }
        TransformSpec::Blend { pattern, .. } => matches!(pattern, battery::spec::BlendPattern::Stripes { .. }),
        _ => false,
    }
}

/// Checks the peer against probity on the probes where both see identical inputs.
fn cross_check(battery: &Battery, outcome: &ScanOutcome, peer: &PeerResult) -> String {
    let (mut same, mut compared, mut differing) = (0, 0, Vec::new());
    for probe_outcome in &outcome.probes {
        let probe = &battery.probes[probe_outcome.probe_index];
        if !deterministic(&probe.transform) {
            continue;
        }
        let flips = probe_outcome
            .indices
            .iter()
            .zip(&probe_outcome.candidate.probed.class)
            .filter(|&(&i, &c)| outcome.clean.class[i] != c)
            .count() as u64;
        compared += 1;
        match peer.probes[&probe.id]["flips"].as_u64() {
            Some(theirs) if theirs == flips => same += 1,
            theirs => differing.push(format!("{} (probity {flips}, peer {theirs:?})", probe.id)),
        }
    }
    if differing.is_empty() {
        format!("peer flips the same predictions as probity on {same}/{compared} deterministic probes")
    } else {
        format!("WARNING: peer and probity disagree on {}", differing.join(", "))
    }
}

struct Row {
    label: &'static str,
    scan: f64,
    raw: f64,
    peer: Option<f64>,
    /// Median over repetitions of (a)'s speed over (b)'s in the same repetition.
    vs_raw: f64,
    /// (a)'s median speed over the peer's.
    vs_peer: Option<f64>,
    targets: Targets,
    /// The process's peak RSS after this case (cumulative).
    peak_rss_mib: Option<f64>,
}

fn library_origin(source: LibrarySource) -> &'static str {
    match source {
        LibrarySource::Flag => "--ort-lib",
        LibrarySource::Environment => "ORT_DYLIB_PATH",
        LibrarySource::Pinned => "probity's pinned build",
    }
}

fn main() {
    let threads = env_count("PROBITY_BENCH_THREADS").unwrap_or(2);
    let repetitions = env_count("PROBITY_BENCH_REPETITIONS");
    // PROBITY_BENCH_BATCH fixes the batch size; by default the engine chooses it per model.
    let batch_size = env_count("PROBITY_BENCH_BATCH");
    let ep: ExecutionProvider = std::env::var("PROBITY_BENCH_EP")
        .map_or(Ok(ExecutionProvider::Cpu), |v| v.parse())
        .unwrap_or_else(|e| panic!("PROBITY_BENCH_EP: {e}"));
    let on_cpu = ep == ExecutionProvider::Cpu;
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().expect("the rayon pool");
    let runtime = probity::onnxruntime::load(None).expect("ONNX Runtime");
    let battery = battery::load(&root(BATTERY)).expect("the throughput battery");
    let batteries = std::slice::from_ref(&battery);
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root("target"), PathBuf::from);
    std::fs::create_dir_all(&target).expect("the target folder");
    let battery_json = target.join("throughput-battery.json");
    std::fs::write(&battery_json, serde_json::to_vec_pretty(&battery).expect("battery as JSON"))
        .expect("writing the battery for the peer");
    // The peer is an onnxruntime CPU session: a yardstick for CPU runs only.
    let peer = on_cpu && peer_available();
    // fallback_to_cpu stays false: a provider that cannot be registered fails Engine::load.
    let options =
        EngineOptions { execution_provider: ep, threads: Some(threads), batch_size, ..EngineOptions::default() };
    let info = &runtime.info;
    println!(
        "ONNX Runtime {} from {} ({}), providers built in: {}",
        info.version,
        info.library_path.display(),
        library_origin(info.source),
        info.available_providers.join(", ")
    );
    println!(
        "execution provider {ep}, threads {threads} (ONNX Runtime intra-op and rayon), repetitions {}, batch size \
         {}, load average {}",
        repetitions.map_or_else(|| "11 for small models, 3 for large ones".to_string(), |r| r.to_string()),
        batch_size.map_or_else(|| "chosen per model".to_string(), |b| b.to_string()),
        load_average()
    );

    let wanted = std::env::var("PROBITY_BENCH_MODELS").unwrap_or_default().to_lowercase();
    let selected = |case: &&Case| {
        let label = case.label.to_lowercase();
        wanted.is_empty() || wanted.split(',').any(|w| label.contains(w.trim()))
    };
    let mut rows = Vec::new();
    for case in CASES.iter().filter(selected) {
        let repetitions = repetitions.unwrap_or(case.repetitions);
        let dataset = case.load_data();
        let mut engine =
            Engine::load(runtime, &root(case.model), &options).unwrap_or_else(|e| panic!("{}: {e}", case.label));
        // Engine::load fails rather than falls back, but the figures must say what ran.
        assert_eq!(engine.provider.used, ep.to_string(), "{}: ran on another provider than asked", case.label);
        let device = engine.device.as_ref().map_or(String::new(), |d| {
            format!(" ({})", d.name.as_deref().or(d.unavailable.as_deref()).unwrap_or("unnamed device"))
        });
        println!(
            "{}: {} inputs of {:?}, provider used {}{device}",
            case.label,
            dataset.len(),
            &dataset.shape()[1..],
            engine.provider.used
        );
        let input = engine.signature.inputs[0].name.clone();
        let chunk = runner::chunk_size(&engine);
        let settings = ScanSettings::default();
        let scan = |engine: &mut Engine| {
            let mut models = Models { candidate: engine, references: &mut [], baseline: None, baseline_tolerance: 0.0 };
            let started = Instant::now();
            let outcome = runner::scan(&mut models, &dataset, batteries, &settings).expect("scan");
            (outcome, started.elapsed())
        };

        let inputs = probed_inputs(&dataset, &battery, &input, chunk);
        let raw = |engine: &mut Engine| {
            let started = Instant::now();
            for batch in &inputs.batches {
                std::hint::black_box(engine.classify(batch).expect("classify"));
            }
            started.elapsed()
        };
        // Building the inputs is also timed on its own, with the bench's pool and on one thread:
        // the input generation (a) overlaps with inference, and its CPU cost.
        let serial = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool");
        let build = |pool: Option<&rayon::ThreadPool>| {
            let started = Instant::now();
            let built = match pool {
                Some(pool) => pool.install(|| probed_inputs(&dataset, &battery, &input, chunk)),
                None => probed_inputs(&dataset, &battery, &input, chunk),
            };
            std::hint::black_box(built);
            started.elapsed()
        };

        let (outcome, _) = scan(&mut engine); // warm-up
        raw(&mut engine);
        assert_eq!(outcome.queries, inputs.queries, "(b) must classify exactly the inputs (a) does");
        // scan, raw, build, build on one thread
        let mut times: [Vec<Duration>; 4] = Default::default();
        for _ in 0..repetitions {
            times[0].push(scan(&mut engine).1);
            times[1].push(raw(&mut engine));
            times[2].push(build(None));
            times[3].push(build(Some(&serial)));
        }
        let queries = outcome.queries as f64;
        let vs_raw = Ratio::paired(&times[0], &times[1]);
        println!(
            "{}: {} queries, batch size {}; seconds as median (min-max): (a) scan {}; (b) inference alone {}; \
             (a)/(b) per repetition {vs_raw}; building the inputs (outside (a) and (b)) {} on {threads} rayon \
             threads, {} on one",
            case.label,
            outcome.queries,
            engine.batch_size,
            spread(&times[0]),
            spread(&times[1]),
            spread(&times[2]),
            spread(&times[3]),
        );

        // The peer runs after probity's repetitions, not between them: its onnxruntime
        // session spins its idle threads (the default), which measurably slowed whatever ran
        // next on this 2-core machine.
        let peer_rate = peer.then(|| {
            let data = case.peer_data(&dataset, &target);
            let result = run_peer(case, &data, &battery_json, threads, engine.batch_size, repetitions);
            assert_eq!(result.queries, outcome.queries, "the peer must run as many queries as probity");
            println!("{}: {}", case.label, cross_check(&battery, &outcome, &result));
            result.queries_per_second
        });
        let scan_rate = queries / median(&times[0]);
        let peak = peak_rss_mib();
        println!(
            "{}: peak RSS of this process so far {} MiB (VmHWM: cumulative over the cases run so far, and \
             including (b)'s prebuilt inputs)",
            case.label,
            peak.map_or("unknown".to_string(), |p| format!("{p:.1}"))
        );
        rows.push(Row {
            label: case.label,
            scan: scan_rate,
            raw: queries / median(&times[1]),
            peer: peer_rate,
            vs_raw: vs_raw.median,
            vs_peer: peer_rate.map(|p| scan_rate / p),
            targets: if on_cpu { case.cpu } else { case.cuda },
            peak_rss_mib: peak,
        });
    }
    if !on_cpu {
        println!("(c) skipped: the Python peer runs on the CPU only");
    } else if !peer {
        println!(
            "(c) skipped: python3 cannot import onnxruntime and numpy; install them with \
             `pip install onnxruntime==1.31.1 numpy`"
        );
    }

    println!();
    println!("{ep}, {threads} threads:");
    println!(
        "| model | (a) probity q/s | (b) raw ORT q/s | (c) Python peer q/s | (a)/(b) | (a)/(c) | peak RSS so far (MiB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut verdicts = Vec::new();
    for row in &rows {
        let (vs_raw, vs_peer) = (row.vs_raw, row.vs_peer);
        let cell = |v: Option<f64>, digits: usize| v.map_or("skipped".to_string(), |v| format!("{v:.digits$}"));
        println!(
            "| {} | {:.0} | {:.0} | {} | {vs_raw:.2} | {} | {} |",
            row.label,
            row.scan,
            row.raw,
            cell(row.peer, 0),
            cell(vs_peer, 2),
            cell(row.peak_rss_mib, 1)
        );
        let mark = |ok: bool| if ok { "met" } else { "NOT met" };
        let mut checks = Vec::new();
        if let Some(min) = row.targets.vs_raw {
            checks.push(format!("(a)/(b) >= {min} {}", mark(vs_raw >= min)));
        }
        if let Some(min) = row.targets.vs_peer {
            checks.push(format!("(a)/(c) >= {min} {}", vs_peer.map_or("skipped", |v| mark(v >= min))));
        }
        if checks.is_empty() {
            checks.push(format!("none on {}", if on_cpu { "the CPU" } else { "CUDA" }));
        }
        verdicts.push(format!("{}: {}", row.label, checks.join("; ")));
    }
    println!();
    for line in verdicts {
        println!("target {line}");
    }
    if on_cpu && threads != 2 {
        println!("(the CPU targets are set for 2 threads; this run used {threads})");
    }
    println!("load average at the end {}", load_average());
}
