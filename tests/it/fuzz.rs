//! Fuzz targets on stable Rust (issue #14, item 4): every parser that reads a file a user hands
//! probity, fed mutated copies of the seed corpora in `tests/fuzz/corpus/<target>/` (bit flips,
//! byte overwrites with boundary values, truncations, insertions, deletions, duplications and
//! splices between seeds) plus structured generators where the format has a grammar worth
//! respecting (`.npy` headers, YAML values). The property is the same everywhere: the parser
//! returns `Ok` or its typed error, and never panics (a panic fails the case, and proptest
//! shrinks it to a small input). A hang shows as a test that does not finish.
//!
//! Each target runs `PROBITY_FUZZ_CASES` cases (default [`DEFAULT_CASES`], which keeps this file
//! well under two minutes on two cores); raise it for a campaign, see `tests/fuzz/README.md`.
//! Inputs that once crashed a target live in `tests/fuzz/regressions/<target>/` and are replayed
//! by the named regression tests at the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Cases per target when `PROBITY_FUZZ_CASES` is not set.
const DEFAULT_CASES: u32 = 1000;

fn cases() -> u32 {
    std::env::var("PROBITY_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES)
}

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

/// The seed files of `target`, in name order.
fn corpus(target: &str) -> Arc<Vec<Vec<u8>>> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "corpus {} is empty", dir.display());
    Arc::new(seeds)
}

/// One edit of a byte string; positions are taken modulo the length, so any edit fits any seed.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: u32, bit: u8 },
    Overwrite { at: u32, bytes: Vec<u8> },
    Truncate { at: u32 },
    Insert { at: u32, bytes: Vec<u8> },
    Delete { at: u32, len: u16 },
    Duplicate { at: u32, len: u16 },
    Splice { seed: u32, from: u32, len: u16, at: u32 },
}

/// Byte runs that break parsers more often than random ones: integer and length boundaries.
fn interesting() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![0u8]),
        Just(vec![0xff]),
        Just(vec![0x7f]),
        Just(vec![0x80]),
        Just(vec![0xff; 4]),
        Just(vec![0xff; 8]),
        Just(vec![0x7f, 0xff, 0xff, 0xff]),
        Just(vec![0; 8]),
        Just(0x8000_0000u32.to_le_bytes().to_vec()),
        Just(b"9999999999999999999999".to_vec()),
        Just(b"-1".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..16),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<u32>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        2 => (any::<u32>(), interesting()).prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
        1 => any::<u32>().prop_map(|at| Mutation::Truncate { at }),
        2 => (any::<u32>(), interesting()).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<u32>(), 1u16..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (any::<u32>(), 1u16..64).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        1 => (any::<u32>(), any::<u32>(), 1u16..256, any::<u32>())
            .prop_map(|(seed, from, len, at)| Mutation::Splice { seed, from, len, at }),
    ]
}

fn apply(seeds: &[Vec<u8>], bytes: &mut Vec<u8>, mutation: &Mutation) {
    let at = |at: u32, len: usize| if len == 0 { 0 } else { at as usize % (len + 1) };
    match mutation {
        Mutation::Flip { at: a, bit } => {
            if !bytes.is_empty() {
                let i = *a as usize % bytes.len();
                bytes[i] ^= 1 << bit;
            }
        }
        Mutation::Overwrite { at: a, bytes: run } => {
            let start = at(*a, bytes.len());
            for (k, b) in run.iter().enumerate() {
                match bytes.get_mut(start + k) {
                    Some(slot) => *slot = *b,
                    None => bytes.push(*b),
                }
            }
        }
        Mutation::Truncate { at: a } => bytes.truncate(at(*a, bytes.len())),
        Mutation::Insert { at: a, bytes: run } => {
            let start = at(*a, bytes.len());
            bytes.splice(start..start, run.iter().copied());
        }
        Mutation::Delete { at: a, len } => {
            let start = at(*a, bytes.len());
            let end = (start + usize::from(*len)).min(bytes.len());
            bytes.drain(start..end);
        }
        Mutation::Duplicate { at: a, len } => {
            let start = at(*a, bytes.len());
            let end = (start + usize::from(*len)).min(bytes.len());
            let run: Vec<u8> = bytes[start..end].to_vec();
            bytes.splice(end..end, run);
        }
        Mutation::Splice { seed, from, len, at: a } => {
            let other = &seeds[*seed as usize % seeds.len()];
            let from = at(*from, other.len());
            let end = (from + usize::from(*len)).min(other.len());
            let start = at(*a, bytes.len());
            bytes.splice(start..start, other[from..end].iter().copied());
        }
    }
}

/// A seed of `seeds` with one to eight mutations applied.
fn mutated(seeds: Arc<Vec<Vec<u8>>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    (0..n, proptest::collection::vec(mutation(), 1..8)).prop_map(move |(seed, mutations)| {
        let mut bytes = seeds[seed].clone();
        for m in &mutations {
            apply(&seeds, &mut bytes, m);
        }
        bytes
    })
}

/// Runs `target` on `cases()` inputs from `strategy`; a panic fails with the shrunk input.
fn fuzz<S: Strategy<Value = Vec<u8>>>(name: &str, strategy: S, target: impl Fn(&[u8])) {
    let config = Config { cases: cases(), failure_persistence: None, ..Config::default() };
    // Deterministic per target and PROBITY_FUZZ_SEED (default 0), so a default run is the same
    // run everywhere and a campaign can explore further with other seeds.
    let seed: u64 = std::env::var("PROBITY_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    for (k, b) in name.bytes().enumerate().take(24) {
        key[8 + k] = b;
    }
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let mut runner = TestRunner::new_with_rng(config, rng);
    // An abort (e.g. a failed allocation) kills the process before proptest can report the
    // input: with PROBITY_FUZZ_LAST=FILE every case is written there first.
    let last = std::env::var_os("PROBITY_FUZZ_LAST").map(PathBuf::from);
    let result = runner.run(&strategy, |bytes| {
        if let Some(last) = &last {
            std::fs::write(last, &bytes).unwrap();
        }
        target(&bytes);
        Ok(())
    });
    if let Err(e) = result {
        panic!("fuzz target {name} failed: {e}");
    }
}

/// A scratch file the path-based readers open: one per target, rewritten for every case.
struct Scratch {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        Self { _dir: dir, path }
    }

    fn write(&self, bytes: &[u8]) -> &Path {
        std::fs::write(&self.path, bytes).unwrap();
        &self.path
    }
}

// ---------------------------------------------------------------------------------------------
// targets

fn battery_target(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    // A folder that does not exist: image paths in a battery resolve against it and find nothing.
    let _ = probity::battery::parse(Path::new("/nonexistent-probity-fuzz/battery.yaml"), &text);
}

fn array_target(scratch: &Scratch, bytes: &[u8]) {
    if let Ok(data) = probity::modality::image::load(scratch.write(bytes), None) {
        // Loading read every row once (the finiteness check); reading them again must agree.
        let all: Vec<usize> = (0..data.len()).collect();
        let x = data.read(&all).expect("rows a load accepted can be read again");
        assert_eq!(x.shape(), data.shape());
    }
}

fn text_target(scratch: &Scratch, bytes: &[u8]) {
    if let Ok(data) = probity::modality::text::load(scratch.write(bytes)) {
        assert!(!data.texts.is_empty());
        assert!(data.texts.iter().all(|t| !t.trim().is_empty()));
        if let Some(y) = &data.y {
            assert_eq!(y.len(), data.texts.len());
        }
    }
}

fn model_target(bytes: &[u8]) {
    // External data resolves against a folder that does not exist.
    let _ = probity::model::facts_from_bytes(Path::new("/nonexistent-probity-fuzz/model.onnx"), bytes);
}

fn thresholds_target(scratch: &Scratch, bytes: &[u8]) {
    let _ = probity::calibration::CalibratedThresholds::read(scratch.write(bytes));
}

fn recording_target(scratch: &Scratch, bytes: &[u8]) {
    let _ = probity::baseline::Recording::read(scratch.write(bytes));
}

fn report_target(bytes: &[u8]) {
    // What `probity report render` and `report diff` read, then every exporter on what parsed:
    // a hostile report.json (odd numbers, mismatched matrix sizes, bad base64 images) must
    // render or be refused, never panic.
    let Ok(report) = serde_json::from_slice::<probity::report::Report>(bytes) else { return };
    for format in &probity::report::Format::ALL {
        let _ = format.render(&report);
    }
}

// ---------------------------------------------------------------------------------------------
// structured generators

/// `.npy` files with well-formed headers around hostile values: odd descriptors, huge or empty
/// shapes (products that overflow), Fortran order, and bodies shorter or longer than declared.
fn npy_file() -> impl Strategy<Value = Vec<u8>> {
    let descr = prop_oneof![
        Just("<f4"),
        Just("<f8"),
        Just(">f4"),
        Just(">f8"),
        Just("<i8"),
        Just("<i4"),
        Just("|u1"),
        Just("<f2"),
        Just("|b1"),
        Just("<c8"),
        Just("O"),
    ];
    let dim = prop_oneof![
        Just(0usize),
        Just(1),
        Just(2),
        Just(3),
        Just(7),
        Just(1 << 31),
        Just(1 << 40),
        Just(usize::MAX / 2),
        Just(usize::MAX),
    ];
    (descr, any::<bool>(), proptest::collection::vec(dim, 0..5), 0usize..256, any::<u8>()).prop_map(
        |(descr, fortran, shape, body, fill)| {
            let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
            let tuple = match dims.len() {
                1 => format!("({},)", dims[0]),
                _ => format!("({})", dims.join(", ")),
            };
            let fortran = if fortran { "True" } else { "False" };
            let mut dict = format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {tuple}, }}");
            while (10 + dict.len() + 1) % 64 != 0 {
                dict.push(' ');
            }
            dict.push('\n');
            let mut out = b"\x93NUMPY\x01\x00".to_vec();
            out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
            out.extend_from_slice(dict.as_bytes());
            out.extend(std::iter::repeat_n(fill, body));
            out
        },
    )
}

/// YAML scalars that stress a config parser: numeric edges, non-finite floats, types where
/// another is expected, YAML tags, anchors and aliases, very long strings.
fn yaml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("1e308".to_string()),
        Just("-1e308".to_string()),
        Just(".nan".to_string()),
        Just(".inf".to_string()),
        Just("-.inf".to_string()),
        Just("18446744073709551616".to_string()),
        Just("4294967296".to_string()),
        Just("~".to_string()),
        Just("\"\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("[1, 2, 3, 4, 5]".to_string()),
        Just("!!binary aGVsbG8=".to_string()),
        Just("&a [*a]".to_string()),
        Just("*undefined".to_string()),
        Just("0.0000000001".to_string()),
        Just("100%".to_string()),
        Just("-50%".to_string()),
        Just("x".repeat(10_000)),
        "[a-z%.-]{0,12}".prop_map(|s| s),
    ]
}

/// A seed battery with the values of some `key: value` lines replaced by hostile scalars.
fn battery_values(seeds: Arc<Vec<Vec<u8>>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    (0..n, proptest::collection::vec((any::<u32>(), yaml_value()), 1..6)).prop_map(move |(seed, edits)| {
        let text = String::from_utf8_lossy(&seeds[seed]).into_owned();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let keyed: Vec<usize> =
            (0..lines.len()).filter(|&i| lines[i].contains(": ") && !lines[i].trim_start().starts_with('#')).collect();
        for (at, value) in edits {
            if keyed.is_empty() {
                break;
            }
            let i = keyed[at as usize % keyed.len()];
            let colon = lines[i].find(": ").unwrap_or(0);
            lines[i] = format!("{}: {value}", &lines[i][..colon]);
        }
        lines.join("\n").into_bytes()
    })
}

// ---------------------------------------------------------------------------------------------
// one proptest run per target

#[test]
fn fuzz_battery_parser() {
    let seeds = corpus("battery");
    fuzz("battery", mutated(Arc::clone(&seeds)), battery_target);
    fuzz("battery (values)", battery_values(seeds), battery_target);
}

#[test]
fn fuzz_npy_loader() {
    let scratch = Scratch::new("data.npy");
    fuzz("npy", mutated(corpus("npy")), |b| array_target(&scratch, b));
    fuzz("npy (headers)", npy_file(), |b| array_target(&scratch, b));
}

#[test]
fn fuzz_npz_loader() {
    let scratch = Scratch::new("data.npz");
    fuzz("npz", mutated(corpus("npz")), |b| array_target(&scratch, b));
}

#[test]
fn fuzz_jsonl_loader() {
    let scratch = Scratch::new("data.jsonl");
    fuzz("jsonl", mutated(corpus("jsonl")), |b| text_target(&scratch, b));
}

#[test]
fn fuzz_txt_loader() {
    let scratch = Scratch::new("data.txt");
    fuzz("txt", mutated(corpus("txt")), |b| text_target(&scratch, b));
}

#[test]
fn fuzz_model_vetting() {
    fuzz("model", mutated(corpus("model")), model_target);
}

#[test]
fn fuzz_thresholds_reader() {
    let scratch = Scratch::new("thresholds.yaml");
    fuzz("thresholds", mutated(corpus("thresholds")), |b| thresholds_target(&scratch, b));
}

#[test]
fn fuzz_recording_reader() {
    let scratch = Scratch::new("baseline.json");
    fuzz("recording", mutated(corpus("recording")), |b| recording_target(&scratch, b));
}

#[test]
fn fuzz_report_reader_and_exporters() {
    fuzz("report", mutated(corpus("report")), report_target);
    fuzz("report-values", report_values(corpus("report")), report_target);
}

/// Seed reports with a few JSON values edited in place, so that most cases still parse and
/// reach the exporters: numbers at their edges, arrays cut short or emptied (a flip matrix
/// narrower than its classes, a histogram without bins), strings emptied or made non-base64.
fn report_values(seeds: Arc<Vec<Vec<u8>>>) -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<u32>(), 0u8..6);
    (any::<u32>(), proptest::collection::vec(edit, 1..6)).prop_map(move |(seed, edits)| {
        let mut value: serde_json::Value = serde_json::from_slice(&seeds[seed as usize % seeds.len()]).unwrap();
        for (at, op) in edits {
            let mut leaves = Vec::new();
            pointers(&value, String::new(), &mut leaves);
            let pointer = &leaves[at as usize % leaves.len()];
            let Some(target) = value.pointer_mut(pointer) else { continue };
            *target = match (op, &*target) {
                (0, _) => serde_json::json!(1e308),
                (1, _) => serde_json::json!(-1),
                (2, _) => serde_json::json!(u64::MAX),
                (3, serde_json::Value::Array(a)) => serde_json::Value::Array(a[..a.len() / 2].to_vec()),
                (4, serde_json::Value::String(_)) => serde_json::json!("!!not base64 <&>\u{0}"),
                (_, serde_json::Value::Array(_)) => serde_json::json!([]),
                _ => serde_json::json!(0),
            };
        }
        serde_json::to_vec(&value).unwrap()
    })
}

/// JSON pointers of every value under `value` (arrays and objects included).
fn pointers(value: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Array(items) => {
            for (k, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{k}"), out);
            }
        }
        serde_json::Value::Object(fields) => {
            for (key, item) in fields {
                pointers(item, format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        _ => {}
    }
    if !at.is_empty() {
        out.push(at);
    }
}

// ---------------------------------------------------------------------------------------------
// regressions: every input a campaign found, replayed on its target

/// The committed crash inputs of `target`.
fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join("regressions").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

/// Replays every committed crash input of an array target: each must now be refused.
/// (`npy_headers_with_empty_rows_or_overflowing_shapes_are_refused` covers `regressions/npy/`,
/// the big-endian `[2^64 - 1, 0]` header included.)
fn replay_array_regressions(target: &str, file_name: &str) {
    let scratch = Scratch::new(file_name);
    let inputs = regressions(target);
    assert!(!inputs.is_empty(), "no regression inputs for {target}");
    for (path, bytes) in inputs {
        array_target(&scratch, &bytes);
        assert!(probity::modality::image::load(&scratch.path, None).is_err(), "{} is accepted", path.display());
    }
}

/// Issue #14 fuzzing: a `.npy` header declaring 2^40 rows of shape `[0]` (no bytes on disk)
/// made the loader allocate 8 TB of row indices and abort; one declaring `[2^62, 4]`, whose
/// size overflows to 0, passed the length check. Both are refused now, naming the shape.
#[test]
fn npy_headers_with_empty_rows_or_overflowing_shapes_are_refused() {
    replay_array_regressions("npy", "data.npy");
    let scratch = Scratch::new("data.npy");
    let dir = fuzz_dir().join("regressions/npy");
    let error = probity::modality::image::load(
        scratch.write(&std::fs::read(dir.join("rows-without-values.npy")).unwrap()),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("each input holds no values"), "{error}");
    let error = probity::modality::image::load(
        scratch.write(&std::fs::read(dir.join("shape-product-overflows.npy")).unwrap()),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("more values than the remaining"), "{error}");
}

/// Issue #14 fuzzing (campaign, seed 2): a big-endian `.npy` declaring `[2^64 - 1, 0]` reached
/// ndarray-npy, which panics shaping it; `.npz` members decoded by ndarray-npy had no vetting
/// at all: `y` shaped `[0, 2^40, 2^40]` panicked the same way, and a deflated `x` declaring
/// 2^40 values aborted on a 4 TB allocation. All are refused now, naming the member.
#[test]
fn npz_members_and_decoded_npy_arrays_are_vetted_before_ndarray_npy_reads_them() {
    replay_array_regressions("npz", "data.npz");
    let scratch = Scratch::new("data.npz");
    for name in ["labels-with-huge-dimensions.npz", "compressed-x-of-terabytes.npz"] {
        let bytes = std::fs::read(fuzz_dir().join("regressions/npz").join(name)).unwrap();
        let error = probity::modality::image::load(scratch.write(&bytes), None).unwrap_err().to_string();
        assert!(error.contains(".npy: the array header declares shape"), "{name}: {error}");
    }
}
