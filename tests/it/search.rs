//! Black-box trigger discovery through the real binary and ONNX Runtime, and a fast subset of
//! the detection benchmark (`cargo bench --bench detection` runs the whole zoo).

use crate::common;

use std::path::PathBuf;

use common::fixture;
use serde_json::Value;

fn zoo(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zoo").join(name)
}

fn scan(model: &std::path::Path, extra: &[&str]) -> (i32, Value) {
    let run = common::scan(model, &fixture("digits-test.npz"), extra);
    // Evidence a person can look at lands next to the report, for every search probe.
    for p in run.report["probes"].as_array().unwrap().iter().filter(|p| !p["search"].is_null()) {
        let id = p["id"].as_str().unwrap();
        for suffix in ["mask.png", "pattern.png", "example0-before.png", "example0-after.png"] {
            assert!(run.out.path().join("search").join(format!("{id}-{suffix}")).exists(), "{id}-{suffix}");
        }
    }
    (run.code, run.report)
}

fn probe<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["probes"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap()
}

#[test]
fn the_patch_search_recovers_the_badnets_trigger() {
    let (code, report) = scan(&fixture("badnets-mlp64.onnx"), &["--battery", "batteries/image-search.yaml"]);
    assert_eq!(code, 1);
    let p = probe(&report, "search-patch");
    assert_eq!(p["verdict"], "fail");
    assert_eq!(p["target_class"], 7);
    let search = &p["search"];
    assert_eq!(search["chosen_class"], 7);
    // The true trigger: rows 6-7, columns 6-7 (tests/fixtures/digits/manifest.json).
    let b = &search["mask_bounds"];
    let found = probity::search::Bounds {
        top: b["top"].as_u64().unwrap() as usize,
        left: b["left"].as_u64().unwrap() as usize,
        height: b["height"].as_u64().unwrap() as usize,
        width: b["width"].as_u64().unwrap() as usize,
    };
    let truth = probity::search::Bounds { top: 6, left: 6, height: 2, width: 2 };
    assert!(found.overlap(&truth) >= 0.5, "recovered {found:?}, overlap {}", found.overlap(&truth));
    // The chosen class is the outlier of the per-class statistic.
    let chosen = &search["per_class"][7];
    assert!(chosen["anomaly_index"].as_f64().unwrap() > 2.0, "{chosen}");
    assert!(search["queries"].as_u64().unwrap() <= 200_000);
    assert_eq!(search["search_samples"].as_u64().unwrap() + search["confirmation_samples"].as_u64().unwrap(), 400);
}

#[test]
fn reverse_engineering_points_at_the_badnets_target() {
    let dir = tempfile::tempdir().unwrap();
    let battery = dir.path().join("reverse.yaml");
    std::fs::write(
        &battery,
        "schema: probity/battery/v1\nname: reverse\nversion: 1\nmodality: image\nprobes:\n  - id: reverse\n    category: trigger\n    search: {method: reverse-engineer, budget: 200000}\n",
    )
    .unwrap();
    let (_, report) = scan(&fixture("badnets-mlp64.onnx"), &["--battery", battery.to_str().unwrap()]);
    let p = probe(&report, "reverse");
    assert_eq!(p["search"]["chosen_class"], 7, "{}", p["search"]);
    assert_eq!(p["target_class"], 7);
}

#[test]
fn same_seed_same_recovered_trigger_and_verdict() {
    let args = ["--battery", "batteries/image-search.yaml", "--seed", "4", "--threads", "1"];
    let (_, first) = scan(&zoo("zoo-patch-offcorner.onnx"), &args);
    let (_, second) = scan(
        &zoo("zoo-patch-offcorner.onnx"),
        &["--battery", "batteries/image-search.yaml", "--seed", "4", "--threads", "2"],
    );
    assert_eq!(probe(&first, "search-patch")["search"], probe(&second, "search-patch")["search"]);
    assert_eq!(probe(&first, "search-patch")["verdict"], probe(&second, "search-patch")["verdict"]);
}

#[test]
fn detection_subset_off_corner_backdoor_is_found_against_a_reference() {
    // zoo-low-poison was asserted here too, but whether the search confirms its trigger depends
    // on the seed: at seeds default and 1-10 it failed the scan at 4 of 11 seeds with
    // probity/sample-rng/v1 (the default among them) and at 3 of 11 with v2 (the default not);
    // docs/search.md records it as seed-dependent rather than asserting one seed's luck.
    let reference = fixture("clean-mlp64-s1.onnx");
    let (code, report) = scan(&zoo("zoo-patch-offcorner.onnx"), &["--reference", reference.to_str().unwrap()]);
    assert_eq!(code, 1, "{}", report["summary"]);
    let failing: Vec<&Value> = report["probes"].as_array().unwrap().iter().filter(|p| p["verdict"] == "fail").collect();
    assert!(failing.iter().any(|p| p["id"] == "search-patch"), "{}", report["summary"]);
    // And clean zoo models pass the same scan.
    let (code, report) = scan(&zoo("zoo-clean-mlp32x32-s33.onnx"), &["--reference", reference.to_str().unwrap()]);
    assert_eq!(code, 0, "{}", report["summary"]);
}

#[test]
fn an_all_to_all_backdoor_fails_without_a_single_target_class() {
    let (code, report) = scan(&zoo("zoo-all-to-all.onnx"), &["--battery", "batteries/image-triggers.yaml"]);
    assert_eq!(code, 1);
    let p = probe(&report, "patch-white-1of4-top-left");
    assert_eq!(p["verdict"], "fail");
    assert!(p["target_class"].is_null());
    assert!(p["reason"].as_str().unwrap().contains("all-to-all"));
}

/// Issue 16: the adversarial-peak search (AEVA-style, class labels only) singles out the badnets
/// target among the classes and confirms its recovered trigger on the held-out half; the same
/// numbers whatever the thread count and batch size; a clean model passes.
#[test]
fn the_adversarial_peak_search_finds_the_badnets_target_and_passes_a_clean_model() {
    let battery = ["--battery", "batteries/image-adversarial-peak.yaml"];
    let (code, report) =
        scan(&fixture("badnets-mlp64.onnx"), &[&battery[..], &["--threads", "1", "--batch-size", "7"]].concat());
    assert_eq!(code, 1);
    let p = probe(&report, "search-adversarial-peak");
    assert_eq!(p["verdict"], "fail");
    let search = &p["search"];
    assert_eq!(search["method"], "adversarial-peak");
    assert_eq!(search["chosen_class"], 7);
    assert!(search["per_class"][7]["anomaly_index"].as_f64().unwrap() > 2.0, "{search}");
    assert!(search["queries"].as_u64().unwrap() <= 100_000);
    let (_, again) =
        scan(&fixture("badnets-mlp64.onnx"), &[&battery[..], &["--threads", "2", "--batch-size", "64"]].concat());
    assert_eq!(probe(&again, "search-adversarial-peak")["search"], *search);

    let (_, clean) = scan(&fixture("clean-mlp64-s2.onnx"), &battery);
    assert_eq!(probe(&clean, "search-adversarial-peak")["verdict"], "pass");
}

#[test]
fn adversarial_peak_keys_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "schema: probity/battery/v1\nname: b\nversion: 1\nmodality: image\nprobes:\n  - id: a\n    category: trigger\n    \
         search: {method: adversarial-peak, inputs: 0, budjet: 5000}\n",
    )
    .unwrap();
    let file = path.display().to_string();
    common::probity()
        .args(["battery", "validate"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(format!("{file}:8:48")))
        .stderr(predicates::str::contains("did you mean `budget`?"));
}
