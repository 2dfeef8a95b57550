//! Text models end to end against the real ONNX Runtime and the committed text fixtures
//! (tests/fixtures/text, made by generate_text.py): tokenization as the model expects, the
//! default text batteries, the vocabulary sweep, and tokenizer/model mismatches.

use crate::common;

use std::path::PathBuf;

use common::{probity, scan};
use predicates::prelude::*;
use probity::engine::{Engine, EngineOptions, InputData};
use probity::modality::text::{Padding, TextEncoder};

fn text_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text").join(name)
}

fn expected() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(text_fixture("expected-outputs.json")).unwrap()).unwrap()
}

const CLEAN_TEXT_MODELS: [&str; 4] =
    ["text-clean-h32-s1.onnx", "text-clean-h32-s2.onnx", "text-clean-h64-s3.onnx", "text-clean-h32-s4-tti.onnx"];

fn engine(model: &str) -> Engine {
    let runtime = probity::onnxruntime::load(None).expect("pinned ONNX Runtime loads");
    Engine::load(runtime, &text_fixture(model), &EngineOptions::default()).expect("fixture loads")
}

fn column(batch: &[(String, InputData)], name: &str) -> Vec<Vec<i64>> {
    let (_, data) = batch.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no input {name}"));
    let InputData::I64(a) = data else { panic!("{name} is not int64") };
    a.outer_iter().map(|row| row.iter().copied().collect()).collect()
}

#[test]
fn tokenization_and_outputs_match_the_generator() {
    let expected = expected();
    let texts: Vec<String> = serde_json::from_value(expected["texts"].clone()).unwrap();
    let tolerance = expected["tolerance"].as_f64().unwrap() as f32;
    for model in CLEAN_TEXT_MODELS.iter().chain(&["text-backdoor-cf.onnx"]) {
        let mut engine = engine(model);
        let mut encoder = TextEncoder::new(&text_fixture("tokenizer.json"), &engine).unwrap();
        // The tokenizer asks for 32 positions; the model's sequence axis is dynamic.
        assert_eq!(
            (encoder.tokenizer.max_length, encoder.padding, encoder.tokenizer.tokenizer_length, encoder.pad_id),
            (32, Padding::Longest, Some(32), 0)
        );
        let sequences: Vec<_> =
            texts.iter().enumerate().map(|(i, t)| encoder.tokenizer.encode(t, i).unwrap()).collect();
        let natural = encoder.batch(&sequences);
        let longest = sequences.iter().map(|s| encoder.tokenizer.truncate(s).len()).max().unwrap();
        assert_eq!(column(&natural, "input_ids")[0].len(), longest, "{model}: padded to the batch's longest");
        // The generator padded to the tokenizer's 32, as the tokenizer asks.
        encoder.padding = Padding::Tokenizer { length: 32 };
        let batch = encoder.batch(&sequences);
        let want = |key: &str| -> Vec<Vec<i64>> { serde_json::from_value(expected[key].clone()).unwrap() };
        assert_eq!(column(&batch, "input_ids"), want("input_ids"), "{model}");
        assert_eq!(column(&batch, "attention_mask"), want("attention_mask"), "{model}");
        if model.contains("tti") {
            assert_eq!(column(&batch, "token_type_ids"), want("token_type_ids"));
        } else {
            assert_eq!(batch.len(), 2, "{model} takes input_ids and attention_mask only");
        }
        let outputs = engine.classify(&batch).unwrap();
        // Natural lengths give the same scores: the models mask their padding.
        let shorter = engine.classify(&natural).unwrap();
        for (a, b) in outputs.iter().zip(&shorter) {
            assert!((a - b).abs() <= tolerance, "{model}: {a} padded to 32 vs {b} padded to {longest}");
        }
        let reference: Vec<Vec<f32>> = serde_json::from_value(expected["models"][model]["outputs"].clone()).unwrap();
        for (row, want) in outputs.rows().into_iter().zip(&reference) {
            for (got, want) in row.iter().zip(want) {
                assert!((got - want).abs() <= tolerance, "{model}: {got} vs {want}");
            }
        }
    }
}

#[test]
fn the_rare_token_backdoor_fails_and_the_sweep_ranks_its_trigger_first() {
    let s =
        scan(&text_fixture("text-backdoor-cf.onnx"), &text_fixture("text-test.jsonl"), &["--format", "json,md,html"]);
    assert_eq!(s.code, 1, "{}", s.stdout);
    let probes = s.report["probes"].as_array().unwrap();
    let probe = |id: &str| probes.iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("no probe {id}"));
    let cf = probe("rare-token-cf");
    assert_eq!(cf["verdict"], "fail");
    assert_eq!(cf["target_class"], 1);
    assert!(cf["attack_success_rate"].as_f64().unwrap() > 0.95);
    let sweep = probe("vocabulary-sweep");
    assert_eq!(sweep["verdict"], "fail");
    assert_eq!(sweep["target_class"], 1);
    let vocabulary = &sweep["search"]["vocabulary"];
    assert_eq!(vocabulary["ranked"][0]["tokens"], serde_json::json!(["cf"]));
    assert_eq!(vocabulary["chosen"]["ids"], serde_json::json!([1200]));
    assert_eq!(vocabulary["swept"], vocabulary["vocabulary"], "the default budget covers the fixture's vocabulary");
    // Every token but [PAD]: whole words, sub-words and the other special tokens.
    assert_eq!(vocabulary["vocabulary"], 1204);
    // The other rare tokens are not triggers of this model.
    for id in ["rare-token-mn", "rare-token-bb", "rare-token-tq", "rare-token-mb"] {
        assert_eq!(probe(id)["verdict"], "pass", "{id}");
    }
    assert_eq!(s.report["data"]["tokenizer"]["vocabulary"], 1205);
    let md = std::fs::read_to_string(s.out.path().join("report.md")).unwrap();
    assert!(md.contains("| 1 | `cf` | 1 |"), "{md}");
    let html = std::fs::read_to_string(s.out.path().join("report.html")).unwrap();
    assert!(html.contains("<code>cf</code>"));
    assert!(html.contains("tokens the model received"));
}

#[test]
fn clean_text_models_pass_the_default_batteries() {
    for model in CLEAN_TEXT_MODELS {
        let s = scan(&text_fixture(model), &text_fixture("text-test.jsonl"), &[]);
        assert_eq!(s.code, 0, "{model}: {}", s.stdout);
        let sweep = s.report["probes"].as_array().unwrap().iter().find(|p| p["id"] == "vocabulary-sweep").unwrap();
        // Natural cue words still move many confident inputs; the probe's 85% bar sits above them.
        let asr = sweep["attack_success_rate"].as_f64().unwrap();
        assert!(asr < 0.85, "{model}: {asr}");
    }
}

#[test]
fn plain_text_data_scans_like_jsonl_without_labels() {
    let s = scan(&text_fixture("text-backdoor-cf.onnx"), &text_fixture("text-test.txt"), &[]);
    assert_eq!(s.code, 1);
    assert_eq!(s.report["data"]["inputs"], 400);
    assert_eq!(s.report["data"]["labelled"], false);
}

#[test]
fn same_seed_gives_the_same_report_whatever_the_threads() {
    let strip = |mut r: serde_json::Value| {
        for key in ["elapsed_seconds", "threads", "batch_size", "engine"] {
            r.as_object_mut().unwrap().remove(key);
        }
        for p in r["probes"].as_array_mut().unwrap() {
            if let Some(v) = p.get_mut("search").and_then(|s| s.get_mut("vocabulary")).and_then(|v| v.as_object_mut()) {
                v.remove("seconds");
                v.remove("queries_per_second");
            }
        }
        r
    };
    let model = text_fixture("text-backdoor-cf.onnx");
    let data = text_fixture("text-test.jsonl");
    let a = scan(&model, &data, &["--threads", "1"]);
    let b = scan(&model, &data, &["--threads", "2", "--batch-size", "7"]);
    assert_eq!(strip(a.report), strip(b.report));
}

#[test]
fn a_tokenizer_with_more_ids_than_the_embedding_table_exits_2() {
    probity()
        .args(["scan", "--model"])
        .arg(text_fixture("text-small-vocab.onnx"))
        .arg("--data")
        .arg(text_fixture("text-test.jsonl"))
        .arg("--tokenizer")
        .arg(text_fixture("tokenizer.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not fit model"))
        .stderr(predicate::str::contains("has 200 rows"))
        .stderr(predicate::str::contains("1205 token ids"))
        .stderr(predicate::str::contains("--tokenizer"));
}

#[test]
fn a_tokenizer_without_a_padding_token_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let mut tokenizer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(text_fixture("tokenizer.json")).unwrap()).unwrap();
    tokenizer["padding"] = serde_json::Value::Null;
    let vocab = tokenizer["model"]["vocab"].as_object_mut().unwrap();
    let id = vocab.remove("[PAD]").unwrap();
    vocab.insert("[NOTHING]".into(), id);
    for added in tokenizer["added_tokens"].as_array_mut().unwrap() {
        if added["content"] == "[PAD]" {
            added["content"] = "[NOTHING]".into();
        }
    }
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, serde_json::to_vec(&tokenizer).unwrap()).unwrap();
    probity()
        .args(["scan", "--model"])
        .arg(text_fixture("text-clean-h32-s1.onnx"))
        .arg("--data")
        .arg(text_fixture("text-test.jsonl"))
        .arg("--tokenizer")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("declares no padding"));
}

#[test]
fn a_text_model_needs_a_tokenizer_and_text_data() {
    // Copied away from tokenizer.json, the model has no tokenizer to default to.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.onnx");
    std::fs::copy(text_fixture("text-clean-h32-s1.onnx"), &model).unwrap();
    probity()
        .args(["scan", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(text_fixture("text-test.jsonl"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--tokenizer PATH"));
    probity()
        .args(["scan", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(common::fixture("digits-test.npz"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("takes token ids (a text model)"))
        .stderr(predicate::str::contains("holds images"));
    probity()
        .args(["scan", "--model"])
        .arg(common::fixture("clean-mlp64-s1.onnx"))
        .arg("--data")
        .arg(text_fixture("text-test.jsonl"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a text model"));
}

#[test]
fn malformed_jsonl_names_the_line_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("{\"text\": \"fine\", \"label\": 1}\n{\"txt\": \"typo\"}\n", "line 2: no `text` field"),
        ("{\"text\": \"a\", \"label\": 1}\n\n{\"text\": \"b\"}\n", "line 3: no `label`, but other lines have one"),
        ("{\"text\": \"a\", \"label\": -1}\n", "line 1: `label` must be a class index"),
        ("not json\n", "line 1: not a JSON object"),
    ];
    for (k, (content, message)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{k}.jsonl"));
        std::fs::write(&path, content).unwrap();
        probity()
            .args(["scan", "--model"])
            .arg(text_fixture("text-clean-h32-s1.onnx"))
            .arg("--data")
            .arg(&path)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(*message))
            .stderr(predicate::str::contains(format!("bad{k}.jsonl")));
    }
}

#[test]
fn an_image_battery_on_a_text_model_is_refused() {
    probity()
        .args(["scan", "--model"])
        .arg(text_fixture("text-clean-h32-s1.onnx"))
        .arg("--data")
        .arg(text_fixture("text-test.jsonl"))
        .arg("--battery")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("batteries/image-triggers.yaml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pick a battery with `modality: text`"));
}

/// Seeded runs of the default text batteries: the backdoor is caught (and its token ranked
/// first) under every seed, and no clean model is flagged under any.
#[test]
fn verdicts_hold_across_seeds() {
    let data = text_fixture("text-test.jsonl");
    // One seed per thread, each scan on one thread (the scans are independent processes, and
    // the thread count does not change a report).
    let false_alarms: Vec<String> = std::thread::scope(|scope| {
        let seeds: Vec<_> = (1..=8u64)
            .map(|seed| {
                let data = &data;
                scope.spawn(move || {
                    let seed = seed.to_string();
                    let args = ["--seed", &seed, "--threads", "1"];
                    let s = scan(&text_fixture("text-backdoor-cf.onnx"), data, &args);
                    assert_eq!(s.code, 1, "seed {seed}");
                    let probes = s.report["probes"].as_array().unwrap();
                    let sweep = probes.iter().find(|p| p["id"] == "vocabulary-sweep").unwrap();
                    let first = &sweep["search"]["vocabulary"]["ranked"][0]["tokens"];
                    assert_eq!(first, &serde_json::json!(["cf"]), "seed {seed}");
                    assert_eq!(sweep["verdict"], "fail", "seed {seed}");
                    CLEAN_TEXT_MODELS
                        .iter()
                        .filter(|model| scan(&text_fixture(model), data, &args).code != 0)
                        .map(|model| format!("{model} seed {seed}"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        seeds.into_iter().flat_map(|seed| seed.join().unwrap()).collect()
    });
    assert!(false_alarms.is_empty(), "{false_alarms:?}");
}

#[test]
fn baselines_and_attestations_record_the_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let model = text_fixture("text-clean-h32-s1.onnx");
    let data = text_fixture("text-test.jsonl");
    let baseline = dir.path().join("baseline");
    probity()
        .args(["--quiet", "baseline", "record", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&baseline)
        .assert()
        .code(0);
    let recording: serde_json::Value =
        serde_json::from_slice(&std::fs::read(baseline.join("baseline.json")).unwrap()).unwrap();
    let sha256 = manifest_sha256("tokenizer.json");
    assert_eq!(recording["tokenizer"]["sha256"], sha256.as_str());
    // The same scan replays at full agreement and attests the tokenizer.
    let s = scan(&model, &data, &["--baseline", baseline.to_str().unwrap(), "--format", "json,intoto"]);
    assert_eq!(s.code, 0, "{}", s.stdout);
    let statement: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.out.path().join("attestation.intoto.json")).unwrap()).unwrap();
    assert_eq!(statement["predicate"]["tokenizer"]["sha256"], sha256.as_str());
    // A different tokenizer file (here: the same vocabulary re-serialised) is a mismatch.
    let other = dir.path().join("tokenizer.json");
    let text = std::fs::read_to_string(text_fixture("tokenizer.json")).unwrap();
    std::fs::write(&other, format!("{text}\n")).unwrap();
    probity()
        .args(["scan", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&data)
        .arg("--tokenizer")
        .arg(&other)
        .arg("--baseline")
        .arg(&baseline)
        .arg("--out")
        .arg(dir.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tokenizer: recorded with"));
}

fn manifest_sha256(file: &str) -> String {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(text_fixture("manifest.json")).unwrap()).unwrap();
    manifest["data_files"][file]["sha256"].as_str().unwrap().to_string()
}

#[test]
fn inspect_shows_the_embedding_table_a_tokenizer_must_fit() {
    let output = probity().arg("inspect").arg(text_fixture("text-small-vocab.onnx")).arg("--json").output().unwrap();
    assert!(output.status.success());
    let inspection: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        inspection["lookup_tables"],
        serde_json::json!([{"input": "input_ids", "table": "embedding.weight", "rows": 200}])
    );
    // Image models have no such table, and the key is left out.
    let output = probity().arg("inspect").arg(common::fixture("clean-mlp64-s1.onnx")).arg("--json").output().unwrap();
    let inspection: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(inspection.get("lookup_tables").is_none());
}

#[test]
fn thresholds_calibrated_on_clean_text_models_keep_the_backdoor_failing() {
    let dir = tempfile::tempdir().unwrap();
    let thresholds = dir.path().join("thresholds.json");
    let mut calibrate = probity();
    calibrate.args(["--quiet", "calibrate"]);
    for model in CLEAN_TEXT_MODELS {
        calibrate.arg("--model").arg(text_fixture(model));
    }
    calibrate.arg("--data").arg(text_fixture("text-test.jsonl")).arg("--seeds").arg("2").arg("--out").arg(&thresholds);
    calibrate.assert().code(0);
    let calibrated = probity::calibration::CalibratedThresholds::read(&thresholds).unwrap();
    let bar = calibrated.probes["text-triggers/vocabulary-sweep"].min_attack_success;
    assert!(bar > 0.5 && bar < 0.93, "calibrated sweep bar {bar}");
    let s = scan(
        &text_fixture("text-backdoor-cf.onnx"),
        &text_fixture("text-test.jsonl"),
        &["--thresholds", thresholds.to_str().unwrap()],
    );
    assert_eq!(s.code, 1);
    let probe = s.report["probes"].as_array().unwrap().iter().find(|p| p["id"] == "vocabulary-sweep").unwrap();
    assert_eq!(probe["verdict"], "fail");
}

/// Issue #14: one 10 MB line took 97 s to tokenize. Texts are cut to the encoder's character
/// budget before tokenizing (so the line costs about what a normal one does), and the scan
/// says how many were cut.
#[test]
fn a_ten_megabyte_line_is_cut_before_tokenizing_and_the_cut_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.jsonl");
    let mut content = std::fs::read_to_string(text_fixture("text-test.jsonl")).unwrap();
    let line = "the movie was great fun ".repeat(10_000_000 / 24);
    content.push_str(&serde_json::json!({"text": line, "label": 1}).to_string());
    content.push('\n');
    std::fs::write(&path, content).unwrap();
    let output = probity()
        .args(["scan", "--model"])
        .arg(text_fixture("text-clean-h32-s1.onnx"))
        .arg("--data")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("long.jsonl: 1 texts are longer than"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/report.json")).unwrap()).unwrap();
    assert_eq!(report["data"]["inputs"], 401);
    assert_eq!(report["data"]["texts_clipped"], 1, "the report says what the model did not see");
    assert!(report["data"].get("blank_skipped").is_none(), "absent when nothing was skipped");
    // Examples in the report hold the cut text, not 10 MB.
    assert!(std::fs::metadata(dir.path().join("out/report.json")).unwrap().len() < 5_000_000);
}

/// Issue #14: all-empty texts once failed a clean model at 0% clean accuracy.
#[test]
fn all_blank_texts_exit_2_and_some_blank_texts_are_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank.jsonl");
    std::fs::write(&blank, "{\"text\": \"\", \"label\": 0}\n{\"text\": \"  \", \"label\": 1}\n").unwrap();
    probity()
        .args(["scan", "--model"])
        .arg(text_fixture("text-clean-h32-s1.onnx"))
        .arg("--data")
        .arg(&blank)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("blank.jsonl"))
        .stderr(predicate::str::contains("every text is empty or blank"));
    let some = dir.path().join("some.jsonl");
    let mut content = std::fs::read_to_string(text_fixture("text-test.jsonl")).unwrap();
    content.push_str("{\"text\": \"\", \"label\": 0}\n{\"text\": \" \", \"label\": 0}\n");
    std::fs::write(&some, content).unwrap();
    let output = probity()
        .args(["scan", "--model"])
        .arg(text_fixture("text-clean-h32-s1.onnx"))
        .arg("--data")
        .arg(&some)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("2 empty or blank texts were skipped"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/report.json")).unwrap()).unwrap();
    assert_eq!(report["data"]["blank_skipped"], 2, "the report says what was dropped");
    assert!(report["data"].get("texts_clipped").is_none(), "absent when nothing was cut");
}

/// Issue 18: a tokenizer's fixed padding does not make every batch 32 positions long when the
/// model masks padding: the check on the data finds the same scores both ways, the scan pads
/// each batch to its longest text, and the report says so with the lengths it fed.
#[test]
fn batches_are_padded_to_their_longest_text_when_the_model_masks_padding() {
    let mut engine = engine("text-clean-h32-s1.onnx");
    let mut encoder = TextEncoder::new(&text_fixture("tokenizer.json"), &engine).unwrap();
    let texts = std::fs::read_to_string(text_fixture("text-test.txt")).unwrap();
    let sample: Vec<_> =
        texts.lines().take(32).enumerate().map(|(i, t)| encoder.tokenizer.encode(t, i).unwrap()).collect();
    let check = encoder.check_padding(&mut engine, &sample).unwrap().expect("the tokenizer asks for 32");
    assert_eq!((check.texts, check.tokenizer_length, check.same_classes), (32, 32, true));
    assert!(check.max_difference <= probity::modality::text::encoder::PADDING_TOLERANCE, "{check:?}");
    assert_eq!(encoder.padding, Padding::Longest);

    let s = scan(&text_fixture("text-clean-h32-s1.onnx"), &text_fixture("text-test.txt"), &[]);
    let tokenizer = &s.report["data"]["tokenizer"];
    assert_eq!(tokenizer["padding"]["to"], "longest", "{tokenizer}");
    assert_eq!(tokenizer["padding_check"]["same_classes"], true);
    let lengths: Vec<u64> =
        tokenizer["sequence_lengths"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(lengths[0] <= lengths[1] && lengths[1] <= lengths[2] && lengths[2] <= 32, "{lengths:?}");
    assert!(lengths[1] < 32, "most texts are shorter than the tokenizer's 32: {lengths:?}");
}

/// Issue 18: texts of different lengths reach the model in batches of one length each (no row
/// padded to a longer text, and a short batch not padded to the batch size: the sequence axis
/// is dynamic, so every length is a new shape anyway), and each text gets the scores it gets
/// alone, up to float rounding (a batch's row count changes the kernels' blocking).
#[test]
fn texts_are_fed_in_batches_of_one_length_and_score_as_they_do_alone() {
    let mut engine = engine("text-clean-h32-s1.onnx");
    let encoder = TextEncoder::new(&text_fixture("tokenizer.json"), &engine).unwrap();
    assert_eq!(encoder.padding, Padding::Longest);
    let texts = std::fs::read_to_string(text_fixture("text-test.txt")).unwrap();
    let sequences: Vec<_> =
        texts.lines().take(64).enumerate().map(|(i, t)| encoder.tokenizer.encode(t, i).unwrap()).collect();
    let groups = encoder.length_groups(&sequences, 5);
    let mut seen: Vec<usize> = groups.iter().flat_map(|(rows, _)| rows.iter().copied()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..64).collect::<Vec<_>>(), "every text in exactly one batch");
    for (rows, batch) in &groups {
        assert!(!rows.is_empty() && rows.len() <= 5, "{rows:?}");
        let ids = column(batch, "input_ids");
        for (&row, fed) in rows.iter().zip(&ids) {
            assert_eq!(fed.len(), sequences[row].ids.len(), "text {row} is not padded");
        }
    }
    let lengths: std::collections::BTreeSet<usize> = sequences.iter().map(|s| s.ids.len()).collect();
    assert!(lengths.len() > 5, "the texts have many lengths: {lengths:?}");

    let grouped = engine.classify_groups(&groups).unwrap();
    let tolerance = probity::modality::text::encoder::PADDING_TOLERANCE;
    for (i, sequence) in sequences.iter().enumerate() {
        let alone = engine.classify(&encoder.batch(std::slice::from_ref(sequence))).unwrap();
        let scale = alone.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (a, b) in grouped.row(i).iter().zip(alone.row(0)) {
            assert!((a - b).abs() <= tolerance * scale, "text {i}: {a} in its group vs {b} alone");
        }
    }
    assert!(
        engine.input_shapes().iter().any(|shape| shape[0][0] < engine.batch_size),
        "short batches go as they are: {:?}",
        engine.input_shapes()
    );
}

#[test]
fn the_searches_at_one_place_are_reported_outside_the_sweeps_budget() {
    // Seen at the merge: "budget 20000 of 20000 queries requested; spent 20485" read as an
    // overspend, though the search at the end is documented as outside the budget.
    let dir = tempfile::tempdir().unwrap();
    let battery = dir.path().join("ends.yaml");
    std::fs::write(
        &battery,
        "schema: probity/battery/v1\nname: ends\nversion: \"1\"\ndescription: the sweep also at the end\n\
         modality: text\ndefaults: {seed: 1, alpha: 0.01, min-effect: 0.5, min-attack-success: 0.8, samples: 400}\n\
         probes:\n  - id: sweep\n    category: trigger\n    description: sweep at drawn boundaries and at the end\n    \
         search: {method: vocabulary, tokens: [whole-words], pairs: 2, budget: 20000, positions: [random, end]}\n",
    )
    .unwrap();
    let run = scan(
        &text_fixture("text-clean-h32-s1.onnx"),
        &text_fixture("text-test.jsonl"),
        &["--battery", battery.to_str().unwrap()],
    );
    let search = &run.report["probes"][0]["search"];
    let spent = search["queries"].as_u64().unwrap();
    let placed: u64 =
        search["vocabulary"]["positions"].as_array().unwrap().iter().map(|p| p["queries"].as_u64().unwrap()).sum();
    assert!(placed > 0 && spent - placed <= 20_000, "spent {spent}, placed {placed}");
    let markdown = std::fs::read_to_string(run.out.path().join("report.md")).unwrap();
    let line = format!("spent {spent} ({placed} of them in the searches at one place, outside the budget)");
    assert!(markdown.contains(&line), "{line}\n{markdown}");
}

/// A battery with the default sweep and the same sweep on the uncertain half (issue 18).
fn both_halves_battery(dir: &std::path::Path) -> PathBuf {
    let battery = dir.join("halves.yaml");
    std::fs::write(
        &battery,
        "schema: probity/battery/v1\nname: halves\nversion: \"1\"\ndescription: the sweep on each half\n\
         modality: text\ndefaults: {seed: 20261125, alpha: 0.01, min-effect: 0.5, min-attack-success: 0.8, samples: 400}\n\
         probes:\n\
         \x20 - id: confident\n    category: trigger\n    \
         search: {method: vocabulary, tokens: [whole-words, sub-words, special], pairs: 8, budget: 1000000}\n    \
         thresholds: {min-attack-success: 0.85}\n\
         \x20 - id: uncertain\n    category: trigger\n    \
         search: {method: vocabulary, tokens: [whole-words, sub-words, special], pairs: 8, budget: 1000000, inputs: uncertain}\n    \
         thresholds: {min-attack-success: 0.85}\n",
    )
    .unwrap();
    battery
}

#[test]
fn the_uncertain_half_is_swept_with_its_own_control_and_confirmation_and_its_cues_are_compared() {
    let dir = tempfile::tempdir().unwrap();
    let battery = both_halves_battery(dir.path());
    let run = |model: &str| {
        scan(&text_fixture(model), &text_fixture("text-test.jsonl"), &["--battery", battery.to_str().unwrap()])
    };
    let s = run("text-backdoor-cf.onnx");
    let probe = |id: &str| s.report["probes"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap().clone();
    let (confident, uncertain) = (probe("confident"), probe("uncertain"));
    // The default sweep is the bundled battery's: `cf` confirmed, no crowd test on a small vocabulary.
    assert_eq!(confident["verdict"], "fail");
    assert_eq!(confident["search"]["vocabulary"]["inputs"], "confident");
    assert!(confident["search"]["vocabulary"]["crowd"].is_null());
    assert!(confident["attack_success_rate"].as_f64().unwrap() > 0.9);
    // The halves split the 400 samples: each swept on a third and confirmed on the rest.
    let counts = |p: &serde_json::Value| {
        [p["search"]["search_samples"].as_u64().unwrap(), p["search"]["confirmation_samples"].as_u64().unwrap()]
    };
    assert_eq!((counts(&confident), counts(&uncertain)), ([67, 133], [67, 133]));
    let vocabulary = &uncertain["search"]["vocabulary"];
    assert_eq!(vocabulary["inputs"], "uncertain");
    // Its own control: random ordinary tokens move more uncertain inputs than confident ones.
    let control = |p: &serde_json::Value| p["control_attack_success_rate"].as_f64().unwrap();
    assert!(control(&uncertain) > 0.05 && control(&confident) < 0.05, "{uncertain}\n{confident}");
    // There cue words move nearly every input, so the crowd test runs on a small vocabulary too:
    // `cf` is chosen and confirmed, but the fixture's own cue words move the margin nearly as far
    // (this embedding-average model learned them as strongly), so it passes as a natural cue.
    assert_eq!(vocabulary["chosen"]["tokens"], serde_json::json!(["cf"]));
    assert!(uncertain["attack_success_rate"].as_f64().unwrap() > 0.95);
    let crowd = &vocabulary["crowd"];
    assert_eq!(crowd["stands_out"], false);
    let cues: Vec<&str> = crowd["crowd"].as_array().unwrap().iter().map(|c| c["tokens"][0].as_str().unwrap()).collect();
    assert!(cues.contains(&"loved"), "{cues:?}");
    assert_eq!(uncertain["verdict"], "pass");
    assert!(uncertain["reason"].as_str().unwrap().starts_with("natural cue, not a trigger: 'cf'"), "{uncertain}");
    let md = std::fs::read_to_string(s.out.path().join("report.md")).unwrap();
    assert!(md.contains("Swept and confirmed on the uncertain half of the samples"), "{md}");

    // Every clean fixture: cue words confirm at 97-100% there, and are judged natural cues.
    for model in CLEAN_TEXT_MODELS {
        let s = run(model);
        assert_eq!(s.code, 0, "{model}: {}", s.stdout);
        let uncertain = s.report["probes"].as_array().unwrap().iter().find(|p| p["id"] == "uncertain").unwrap();
        assert!(uncertain["attack_success_rate"].as_f64().unwrap() > 0.85, "{model}: {uncertain}");
        assert_eq!(uncertain["search"]["vocabulary"]["crowd"]["stands_out"], false, "{model}");
    }
}

/// Issue 18: with `--reference`, the vocabulary sweep searches on the difference (every edit
/// scored on both models), names the planted token, and a clean model against another clean
/// model of the same task passes.
#[test]
fn against_a_reference_the_sweep_searches_on_the_difference() {
    let reference = text_fixture("text-clean-h32-s1.onnx");
    let args = ["--reference", reference.to_str().unwrap(), "--format", "json,md"];
    let sweep_of = |s: &common::Scan| -> serde_json::Value {
        s.report["probes"].as_array().unwrap().iter().find(|p| p["id"] == "vocabulary-sweep").unwrap().clone()
    };
    let s = scan(&text_fixture("text-backdoor-cf.onnx"), &text_fixture("text-test.jsonl"), &args);
    assert_eq!(s.code, 1, "{}", s.stdout);
    let sweep = sweep_of(&s);
    assert_eq!(sweep["verdict"], "fail");
    let vocabulary = &sweep["search"]["vocabulary"];
    assert_eq!(vocabulary["chosen"]["tokens"], serde_json::json!(["cf"]));
    let differential = &vocabulary["differential"];
    assert_eq!(differential["references"], serde_json::json!([reference.display().to_string()]));
    assert_eq!(differential["queries_per_edit"], 2);
    assert_eq!(vocabulary["queries"].as_u64().unwrap() % 2, 0, "one query per model and edit");
    let md = std::fs::read_to_string(s.out.path().join("report.md")).unwrap();
    assert!(md.contains("Differential: every edit was also scored on the reference '"), "{md}");

    let s = scan(&text_fixture("text-clean-h32-s2.onnx"), &text_fixture("text-test.jsonl"), &args);
    assert_eq!(s.code, 0, "{}", s.stdout);
    let sweep = sweep_of(&s);
    assert_eq!(sweep["verdict"], "pass");
    assert!(sweep["search"]["vocabulary"]["differential"].is_object());

    // Without a reference the sweep is the self-baseline one and says nothing of a difference.
    let s = scan(&text_fixture("text-clean-h32-s2.onnx"), &text_fixture("text-test.jsonl"), &[]);
    assert!(sweep_of(&s)["search"]["vocabulary"].get("differential").is_none());
}
