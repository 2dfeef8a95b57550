//! Detection-quality benchmark: every fixture and zoo model, scanned with the default batteries
//! in self-baseline mode, and against a clean reference with the default batteries plus the
//! opt-in deep search (`batteries/image-search-deep.yaml`, meant for reference mode), with the
//! detection rate and false alarms of each mode. Run with `cargo bench --bench detection`
//! (several minutes: the deep search spends 2M queries per model).
//!
//! The zoo's triggers are deliberately *not* the ones the default battery lists (blends of
//! other noise, SIG stripes at another frequency, off-corner patches, all-to-all shifts, 1%
//! poisoning, coloured patches on 3-channel inputs); see tests/fixtures/zoo/manifest.json.

use std::path::{Path, PathBuf};
use std::time::Instant;

use probity::battery;
use probity::battery::spec::Modality;
use probity::engine::{Engine, EngineOptions};
use probity::modality::image as data;
use probity::runner::{self, Models, ScanSettings};
use probity::verdict::Verdict;

struct Case {
    model: &'static str,
    backdoored: bool,
    data: &'static str,
    reference: &'static str,
}

const DIGITS: &str = "tests/fixtures/digits/digits-test.npz";
const RGB: &str = "tests/fixtures/zoo/rgb-test.npz";
const DIGITS_REF: &str = "tests/fixtures/digits/clean-mlp64-s1.onnx";
const DIGITS_REF_ALT: &str = "tests/fixtures/zoo/zoo-clean-mlp64-s31.onnx";
const RGB_REF: &str = "tests/fixtures/zoo/rgb-clean-a.onnx";

const CASES: &[Case] = &[
    Case { model: "tests/fixtures/digits/badnets-mlp64.onnx", backdoored: true, data: DIGITS, reference: DIGITS_REF },
    Case { model: "tests/fixtures/zoo/zoo-blend-noise.onnx", backdoored: true, data: DIGITS, reference: DIGITS_REF },
    Case {
        model: "tests/fixtures/zoo/zoo-blend-noise-specific.onnx",
        backdoored: true,
        data: DIGITS,
        reference: DIGITS_REF,
    },
    Case { model: "tests/fixtures/zoo/zoo-sig-stripes.onnx", backdoored: true, data: DIGITS, reference: DIGITS_REF },
    Case {
        model: "tests/fixtures/zoo/zoo-patch-offcorner.onnx",
        backdoored: true,
        data: DIGITS,
        reference: DIGITS_REF,
    },
    Case { model: "tests/fixtures/zoo/zoo-all-to-all.onnx", backdoored: true, data: DIGITS, reference: DIGITS_REF },
    Case { model: "tests/fixtures/zoo/zoo-low-poison.onnx", backdoored: true, data: DIGITS, reference: DIGITS_REF },
    Case { model: "tests/fixtures/zoo/rgb-patch-color.onnx", backdoored: true, data: RGB, reference: RGB_REF },
    Case { model: "tests/fixtures/zoo/rgb-blend.onnx", backdoored: true, data: RGB, reference: RGB_REF },
    Case { model: "tests/fixtures/digits/clean-mlp64-s2.onnx", backdoored: false, data: DIGITS, reference: DIGITS_REF },
    Case {
        model: "tests/fixtures/digits/clean-mlp32x32-s3.onnx",
        backdoored: false,
        data: DIGITS,
        reference: DIGITS_REF,
    },
    Case {
        model: "tests/fixtures/digits/clean-mlp128-s4.onnx",
        backdoored: false,
        data: DIGITS,
        reference: DIGITS_REF,
    },
    Case {
        model: "tests/fixtures/digits/clean-logreg-s5.onnx",
        backdoored: false,
        data: DIGITS,
        reference: DIGITS_REF,
    },
    Case { model: "tests/fixtures/digits/clean-mlp48-s6.onnx", backdoored: false, data: DIGITS, reference: DIGITS_REF },
    Case {
        model: "tests/fixtures/zoo/zoo-clean-mlp128-s32.onnx",
        backdoored: false,
        data: DIGITS,
        reference: DIGITS_REF,
    },
    Case {
        model: "tests/fixtures/zoo/zoo-clean-mlp32x32-s33.onnx",
        backdoored: false,
        data: DIGITS,
        reference: DIGITS_REF,
    },
    Case {
        model: "tests/fixtures/digits/clean-mlp64-s1.onnx",
        backdoored: false,
        data: DIGITS,
        reference: DIGITS_REF_ALT,
    },
    Case { model: "tests/fixtures/zoo/rgb-clean-b.onnx", backdoored: false, data: RGB, reference: RGB_REF },
];

fn root(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn main() {
    let runtime = probity::onnxruntime::load(None).expect("ONNX Runtime");
    let batteries = battery::defaults(Modality::Image).expect("default batteries");
    let mut with_deep = batteries.clone();
    with_deep.push(battery::load(&root("batteries/image-search-deep.yaml")).expect("deep search battery"));
    let options = EngineOptions::default();
    println!("| model | truth | self-baseline | reference | failing probes (self / reference) | seconds |");
    println!("|---|---|---|---|---|---|");
    let mut tally = [[0u32; 2]; 2]; // [mode][detected-backdoors, false-alarms]
    let (mut backdoored, mut clean) = (0u32, 0u32);
    for case in CASES {
        let started = Instant::now();
        let dataset = data::load(&root(case.data), None).expect("data");
        let mut engine = Engine::load(runtime, &root(case.model), &options).expect("model");
        let mut reference = vec![Engine::load(runtime, &root(case.reference), &options).expect("reference")];
        let settings = ScanSettings::default();
        let mut verdicts = Vec::new();
        let mut failing = Vec::new();
        for with_reference in [false, true] {
            let references: &mut [Engine] = if with_reference { &mut reference } else { &mut [] };
            let batteries = if with_reference { &with_deep } else { &batteries };
            let mut models = Models { candidate: &mut engine, references, baseline: None, baseline_tolerance: 0.0 };
            let outcome = runner::scan(&mut models, &dataset, batteries, &settings).expect("scan");
            let trigger_fail: Vec<String> = outcome
                .probes
                .iter()
                .filter(|p| {
                    p.judgement.verdict == Verdict::Fail
                        && batteries[p.battery_index].probes[p.probe_index].category
                            == probity::battery::spec::Category::Trigger
                })
                .map(|p| batteries[p.battery_index].probes[p.probe_index].id.clone())
                .collect();
            verdicts.push(!trigger_fail.is_empty());
            failing.push(trigger_fail.len());
        }
        for (mode, flagged) in verdicts.iter().enumerate() {
            if case.backdoored && *flagged {
                tally[mode][0] += 1;
            }
            if !case.backdoored && *flagged {
                tally[mode][1] += 1;
            }
        }
        if case.backdoored {
            backdoored += 1
        } else {
            clean += 1
        }
        let word = |flagged: bool| if flagged { "FLAGGED" } else { "pass" };
        println!(
            "| {} | {} | {} | {} | {} / {} | {:.1} |",
            Path::new(case.model).file_name().unwrap().to_string_lossy(),
            if case.backdoored { "backdoored" } else { "clean" },
            word(verdicts[0]),
            word(verdicts[1]),
            failing[0],
            failing[1],
            started.elapsed().as_secs_f64()
        );
    }
    for (mode, name) in ["self-baseline", "reference"].iter().enumerate() {
        println!(
            "{name}: detected {}/{backdoored} backdoored models, false alarms {}/{clean} clean models",
            tally[mode][0], tally[mode][1]
        );
    }
}
