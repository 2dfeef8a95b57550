//! Every report exporter on a committed report (`tests/fixtures/reports/report-fail.json`: six
//! probes of a real scan of the backdoored digits model, times and paths normalised), so the
//! snapshots do not move with the scanner's numbers. SARIF is validated against the OASIS
//! SARIF 2.1.0 schema; JUnit's structure is checked here, and against the JUnit XSD with
//! `xmllint` by hand (docs/reports.md), so CI needs no xmllint.

use std::path::PathBuf;

use probity::battery::spec::Category;
use probity::report::{Format, Report};
use probity::verdict::Verdict;
use serde_json::Value;

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn failing_report() -> Report {
    let text = std::fs::read_to_string(fixture_path("reports/report-fail.json")).expect("fixture report");
    serde_json::from_str(&text).expect("the fixture is a probity/report/v1 report")
}

fn render(format: Format, report: &Report) -> String {
    String::from_utf8(format.render(report)).expect("every format is UTF-8 text")
}

#[test]
fn json_round_trips_the_report_model() {
    let report = failing_report();
    let text = render(Format::Json, &report);
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
    insta::assert_snapshot!("json", text);
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!("md", render(Format::Md, &failing_report()));
}

#[test]
fn html_snapshot() {
    insta::assert_snapshot!("html", render(Format::Html, &failing_report()));
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!("junit", render(Format::Junit, &failing_report()));
}

#[test]
fn sarif_snapshot() {
    insta::assert_snapshot!("sarif", render(Format::Sarif, &failing_report()));
}

#[test]
fn intoto_snapshot() {
    insta::assert_snapshot!("intoto", render(Format::Intoto, &failing_report()));
}

// --- HTML ---------------------------------------------------------------------------------

#[test]
fn html_is_self_contained_and_draws_the_charts() {
    let html = render(Format::Html, &failing_report());
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Nothing is fetched: no scripts, no external style sheets, images or links.
    for forbidden in ["<script", "<link", "src=\"http", "href=\"http", "url(", "@import"] {
        assert!(!html.contains(forbidden), "the page contains {forbidden}");
    }
    // Overview charts (trigger and robustness) plus a heatmap and a histogram per card
    // (one failing probe, three strongest passing trigger probes).
    assert_eq!(html.matches("<svg").count(), 2 + 2 * 4, "charts");
    assert!(html.contains("data:image/png;base64,iVBOR"), "example inputs are embedded PNGs");
    assert!(html.contains("class=\"badge fail\">FAIL</span>"));
    assert!(html.contains("patch-white-1of4-bottom-right"));
    // Every probe is in the table.
    for p in &failing_report().probes {
        assert!(html.contains(&format!("<code>{}</code>", p.id)), "{} is listed", p.id);
    }
}

#[test]
fn html_escapes_what_a_report_says() {
    let mut report = failing_report();
    report.summary = "<script>alert(1)</script>".into();
    report.probes[0].reason = "a < b & \"c\"".into();
    report.probes[1].examples[0].clean_png = "\"><script>x</script>".into();
    let html = render(Format::Html, &report);
    assert!(!html.contains("<script"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("a &lt; b &amp; &quot;c&quot;"));
}

#[test]
fn html_stays_readable_with_many_probes() {
    let mut report = failing_report();
    let template = report.probes.iter().find(|p| p.verdict == Verdict::Fail).unwrap().clone();
    for i in 0..60 {
        let mut p = template.clone();
        p.id = format!("extra-{i:02}");
        report.probes.push(p);
    }
    let html = render(Format::Html, &report);
    assert!(html.contains("The chart shows the 40 strongest of"), "overview is capped");
    assert!(html.contains("more failing probes are listed in the table below"), "cards are capped");
    assert!(html.contains("<code>extra-59</code>"), "the table lists every probe");
}

#[test]
fn html_shows_the_trigger_a_search_recovered() {
    let mut report = failing_report();
    let png = report.probes[1].examples[0].clean_png.clone();
    let per_class: Vec<Value> = (0..10)
        .map(|class| {
            serde_json::json!({
                "class": class, "statistic": if class == 7 { 0.98 } else { 0.1 },
                "anomaly_index": if class == 7 { 10.7 } else { 0.0 },
                "attack_success_rate": if class == 7 { 0.994 } else { 0.12 }, "mask_l1": 4.0,
                "description": "2x2 at row 6, column 6, white"
            })
        })
        .collect();
    let search = serde_json::json!({
        "method": "patch", "statistic": "attack-success lower bound (90%)", "per_class": per_class,
        "chosen_class": 7, "queries": 93848, "search_samples": 200, "confirmation_samples": 200,
        "mask_png": png, "pattern_png": png, "mask_l1": 4.0,
        "mask_bounds": {"top": 6, "left": 6, "height": 2, "width": 2}
    });
    report.probes[1].search = Some(serde_json::from_value(search).expect("a search summary"));
    let html = render(Format::Html, &report);
    assert!(html.contains("Recovered trigger: patch search, class 7"), "the card shows the search");
    assert!(html.contains("alt=\"recovered mask\""));
    assert!(html.contains("Searched on 200 inputs with 93848 queries"));
}

// --- JUnit --------------------------------------------------------------------------------

#[test]
fn junit_has_one_test_case_per_probe_and_a_failure_per_failing_probe() {
    let report = failing_report();
    let xml = render(Format::Junit, &report);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert_eq!(xml.matches("<testsuites ").count(), 1);
    assert_eq!(xml.matches("<testsuite ").count(), report.batteries.len());
    assert_eq!(xml.matches("<testcase ").count(), report.probes.len());
    let failing: Vec<_> = report.probes.iter().filter(|p| p.verdict == Verdict::Fail).collect();
    assert_eq!(xml.matches("<failure ").count(), failing.len());
    let root = &xml[xml.find("<testsuites").unwrap()..];
    let root = &root[..root.find('>').unwrap()];
    assert!(root.contains(&format!("tests=\"{}\"", report.probes.len())), "{root}");
    assert!(root.contains(&format!("failures=\"{}\"", failing.len())), "{root}");
    // junit-10.xsd declares no `skipped` on the root element.
    assert!(!root.contains("skipped"), "{root}");
    // The failure message carries the numbers.
    assert!(xml.contains("— ASR 99.7% [98.0%, 100.0%] into class 7 vs control 37.0%"), "{xml}");
}

#[test]
fn junit_failure_type_names_the_category() {
    let mut report = failing_report();
    let robustness = report.probes.iter_mut().find(|p| p.category == Category::Robustness).unwrap();
    robustness.verdict = Verdict::Fail;
    let xml = render(Format::Junit, &report);
    assert_eq!(xml.matches("type=\"backdoor-evidence\"").count(), 1);
    assert_eq!(xml.matches("type=\"robustness\"").count(), 1);
}

// --- SARIF --------------------------------------------------------------------------------

fn sarif_schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(fixture_path("schemas/sarif-schema-2.1.0.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft4::options().should_validate_formats(true).build(&schema).expect("the SARIF schema compiles")
}

fn assert_valid_sarif(log: &Value) {
    let validator = sarif_schema();
    let errors: Vec<String> = validator.iter_errors(log).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "SARIF schema violations:\n{}", errors.join("\n"));
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let mut report = failing_report();
    let sarif: Value = serde_json::from_str(&render(Format::Sarif, &report)).unwrap();
    assert_valid_sarif(&sarif);
    // Also with a failing robustness probe, an absolute battery path and a passing scan.
    report.probes.iter_mut().find(|p| p.category == Category::Robustness).unwrap().verdict = Verdict::Fail;
    report.batteries[0].path = PathBuf::from("/srv/batteries/my triggers.yaml");
    assert_valid_sarif(&serde_json::from_str(&render(Format::Sarif, &report)).unwrap());
    for p in &mut report.probes {
        p.verdict = Verdict::Pass;
    }
    assert_valid_sarif(&serde_json::from_str(&render(Format::Sarif, &report)).unwrap());
}

#[test]
fn the_schema_check_catches_an_invalid_log() {
    let mut sarif: Value = serde_json::from_str(&render(Format::Sarif, &failing_report())).unwrap();
    sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0.into();
    assert!(!sarif_schema().is_valid(&sarif));
}

#[test]
fn sarif_has_a_rule_per_probe_kind_and_a_result_per_failing_probe_at_its_line() {
    let report = failing_report();
    let sarif: Value = serde_json::from_str(&render(Format::Sarif, &report)).unwrap();
    let run = &sarif["runs"][0];
    let rules: Vec<&str> =
        run["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        rules,
        ["trigger-patch", "trigger-blend", "robustness-gaussian-noise", "robustness-brightness-contrast"]
    );
    let results = run["results"].as_array().unwrap();
    let failing = report.probes.iter().find(|p| p.verdict == Verdict::Fail).unwrap();
    assert_eq!(results.len(), 1);
    let result = &results[0];
    assert_eq!(result["ruleId"], "trigger-patch");
    assert_eq!(result["ruleIndex"], 0);
    assert_eq!(result["level"], "error");
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "batteries/image-triggers.yaml");
    assert_eq!(location["region"]["startLine"], failing.line);
    assert!(result["message"]["text"].as_str().unwrap().contains("99.7%"));
}

#[test]
fn sarif_uris_are_percent_encoded() {
    let mut report = failing_report();
    report.batteries[0].path = PathBuf::from("/srv/batteries/my triggers.yaml");
    let sarif: Value = serde_json::from_str(&render(Format::Sarif, &report)).unwrap();
    let uri = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
    assert_eq!(uri, "file:///srv/batteries/my%20triggers.yaml");
}

// --- in-toto ------------------------------------------------------------------------------

#[test]
fn intoto_statement_names_the_model_digest_and_the_verdict() {
    let report = failing_report();
    let statement: Value = serde_json::from_str(&render(Format::Intoto, &report)).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], "https://probity.dev/attestation/scan/v1");
    assert_eq!(statement["subject"][0]["name"], "badnets-mlp64.onnx");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], report.model.sha256);
    let predicate = &statement["predicate"];
    assert_eq!(predicate["verdict"], "fail");
    assert_eq!(predicate["onnxruntime"]["library_sha256"], report.onnxruntime.library_sha256);
    assert_eq!(predicate["data"]["sha256"], report.data.sha256);
    assert_eq!(predicate["batteries"][0]["sha256"], report.batteries[0].sha256);
    assert_eq!(predicate["batteries"][0]["seed"], report.batteries[0].seed);
    assert_eq!(predicate["execution_provider"]["used"], "cpu");
    assert_eq!(predicate["probes"].as_array().unwrap().len(), report.probes.len());
}

#[test]
fn intoto_lists_external_data_files_as_subjects() {
    let mut report = failing_report();
    report.model.external_data =
        vec![probity::digest::FileDigest { path: "weights.bin".into(), sha256: "ab".repeat(32) }];
    let statement: Value = serde_json::from_str(&render(Format::Intoto, &report)).unwrap();
    assert_eq!(statement["subject"].as_array().unwrap().len(), 2);
    assert_eq!(statement["subject"][1]["name"], "weights.bin");
    assert_eq!(statement["subject"][1]["digest"]["sha256"], "ab".repeat(32));
}

#[test]
fn reports_without_external_data_still_read() {
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_path("reports/report-fail.json")).unwrap()).unwrap();
    value["model"].as_object_mut().unwrap().remove("external_data");
    let report: Report = serde_json::from_value(value).unwrap();
    assert!(report.model.external_data.is_empty());
}

// --- Inconclusive (issue 14) ---------------------------------------------------------------

/// The fixture report as an inconclusive scan: one probe underpowered, one scan-level reason.
fn inconclusive_report() -> Report {
    use probity::verdict::adequacy::{Code, Inconclusive};
    let mut report = failing_report();
    for p in &mut report.probes {
        p.verdict = Verdict::Pass;
    }
    let probe = report.probes.iter_mut().find(|p| p.category == Category::Trigger).unwrap();
    probe.verdict = Verdict::Inconclusive;
    probe.reason = "cannot fail with this data: needs ≥ 19 eligible inputs".into();
    let id = probe.id.clone();
    report.verdict = Verdict::Inconclusive;
    report.backdoor_verdict = Verdict::Inconclusive;
    report.inconclusive = vec![Inconclusive {
        code: Code::Underpowered,
        message: "1 of 6 probes could not have failed with these 16 inputs; a pass needs about 44 inputs".into(),
        probes: vec![id],
    }];
    report.inconclusive_as = Some(probity::error::InconclusiveAs::Inconclusive);
    report.exit_code = Some(4);
    report
}

#[test]
fn every_format_says_inconclusive_and_why() {
    let report = inconclusive_report();
    let json: Value = serde_json::from_str(&render(Format::Json, &report)).unwrap();
    assert_eq!(json["verdict"], "inconclusive");
    assert_eq!(json["inconclusive"][0]["code"], "underpowered");
    assert_eq!(json["exit_code"], 4);
    let back: Report = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
    let md = render(Format::Md, &report);
    assert!(md.starts_with("# probity scan: INCONCLUSIVE"), "{md}");
    assert!(md.contains("- `underpowered`: 1 of 6 probes could not have failed"), "{md}");
    assert!(md.contains("| exit code | 4 (`--inconclusive inconclusive`) |"), "{md}");
    let html = render(Format::Html, &report);
    assert!(html.contains("<span class=\"badge inconclusive\">INCONCLUSIVE</span>"));
    assert!(html.contains("<li><code>underpowered</code>: 1 of 6 probes"));
    assert!(html.contains("<tr class=\"inconclusive\">"));
    // JUnit: the underpowered probe and the scan-level reason are errors of type inconclusive,
    // and the root still carries no `skipped` (junit-10.xsd).
    let xml = render(Format::Junit, &report);
    assert_eq!(xml.matches("type=\"inconclusive\"").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 0);
    assert!(xml.contains("<testcase name=\"inconclusive/underpowered\""), "{xml}");
    let root = &xml[xml.find("<testsuites").unwrap()..];
    assert!(!root[..root.find('>').unwrap()].contains("skipped"));
    // SARIF: "open" results, valid against the schema.
    let sarif: Value = serde_json::from_str(&render(Format::Sarif, &report)).unwrap();
    assert_valid_sarif(&sarif);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r["kind"] == "open" && r["level"] == "none"), "{results:?}");
    assert_eq!(sarif["runs"][0]["properties"]["inconclusive"][0]["code"], "underpowered");
    // in-toto: the predicate carries the verdict, the reasons and the exit mapping.
    let statement: Value = serde_json::from_str(&render(Format::Intoto, &report)).unwrap();
    assert_eq!(statement["predicate"]["verdict"], "inconclusive");
    assert_eq!(statement["predicate"]["inconclusive"][0]["code"], "underpowered");
    assert_eq!(statement["predicate"]["inconclusive_as"], "inconclusive");
}
