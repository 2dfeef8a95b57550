//! The JSON Schema of battery files (issue 19), checked the way an editor uses it: each battery
//! is read as YAML by a plain YAML reader (not probity's validator) and handed to an independent
//! JSON Schema validator (the `jsonschema` crate, draft 2020-12). Every bundled and valid fixture
//! battery must pass, every malformed one must not, and `batteries/schema.json` must be what
//! `probity battery schema` prints.

use crate::common;

use std::path::{Path, PathBuf};

use serde_json::Value;

const REGENERATE: &str = "cargo run --release -- battery schema > batteries/schema.json";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&probity::battery::schema::json()).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema compiles")
}

/// A YAML file as the JSON document an editor's language server checks.
fn instance(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

/// Every problem the schema finds in `document`, one per line with its place.
fn problems(validator: &jsonschema::Validator, document: &Value) -> Vec<String> {
    validator.iter_errors(document).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

fn bundled() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("batteries"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 9, "{paths:?}");
    paths
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let committed = std::fs::read_to_string(root().join("batteries/schema.json")).unwrap_or_default();
    let printed = common::probity().args(["battery", "schema"]).output().unwrap();
    assert!(printed.status.success());
    let printed = String::from_utf8(printed.stdout).unwrap();
    assert_eq!(printed, probity::battery::schema::json());
    assert!(committed == printed, "batteries/schema.json is out of date; regenerate it with `{REGENERATE}`");
}

#[test]
fn every_bundled_battery_names_the_schema_on_its_first_line_and_validates_against_it() {
    let validator = schema();
    for path in bundled() {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().next(),
            Some("# yaml-language-server: $schema=./schema.json"),
            "{} must start with the schema line",
            path.display()
        );
        let found = problems(&validator, &instance(&path));
        assert!(found.is_empty(), "{}:\n{}", path.display(), found.join("\n"));
    }
}

#[test]
fn every_valid_fixture_and_starter_battery_validates_against_it() {
    let validator = schema();
    let files = [
        "tests/fixtures/batteries/valid.yaml",
        "tests/fixtures/batteries/valid-text.yaml",
        "tests/fixtures/batteries/natural-features.yaml",
        "benches/throughput-battery.yaml",
        "benches/adversarial/throughput-battery.yaml",
        "src/battery/starters/image.yaml",
        "src/battery/starters/text.yaml",
    ];
    for file in files {
        let found = problems(&validator, &instance(&root().join(file)));
        assert!(found.is_empty(), "{file}:\n{}", found.join("\n"));
    }
}

#[test]
fn malformed_fixture_batteries_do_not_validate() {
    let validator = schema();
    for file in ["tests/fixtures/batteries/malformed.yaml", "tests/fixtures/batteries/malformed-text.yaml"] {
        assert!(!validator.is_valid(&instance(&root().join(file))), "{file} passed the schema");
    }
}

/// What the schema catches while a battery is typed, each a mistake the validator reports too.
#[test]
fn the_schema_rejects_the_mistakes_an_editor_should_underline() {
    let validator = schema();
    let base = "schema: probity/battery/v1\nname: t\nversion: 1\nmodality: image\nprobes:\n";
    let valid = format!(
        "{base}  - {{id: p, category: trigger, transform: {{kind: patch, size: 25%, content: {{solid: 1}}}}}}\n"
    );
    let document: Value = serde_saphyr::from_str(&valid).unwrap();
    assert!(problems(&validator, &document).is_empty(), "{:?}", problems(&validator, &document));
    let mistakes = [
        ("a misspelt key", "{id: p, category: trigger, transform: {kind: patch, sizes: 2, content: {solid: 1}}}"),
        ("an unknown kind", "{id: p, category: trigger, transform: {kind: pach, size: 2, content: {solid: 1}}}"),
        (
            "size with width",
            "{id: p, category: trigger, transform: {kind: patch, size: 2, width: 2, content: {solid: 1}}}",
        ),
        ("width without height", "{id: p, category: trigger, transform: {kind: patch, width: 2, content: {solid: 1}}}"),
        (
            "two contents",
            "{id: p, category: trigger, transform: {kind: patch, size: 2, content: {solid: 1, noise: {seed: 1}}}}",
        ),
        ("an intensity above 1", "{id: p, category: trigger, transform: {kind: patch, size: 2, content: {solid: 2}}}"),
        ("a zero-pixel extent", "{id: p, category: trigger, transform: {kind: patch, size: 0, content: {solid: 1}}}"),
        ("an id not in kebab-case", "{id: My_Probe, category: trigger, transform: {kind: blur, sigma: 1}}"),
        (
            "a threshold of the other category",
            "{id: p, category: trigger, transform: {kind: blur, sigma: 1}, thresholds: {max-flip-rate: 0.1}}",
        ),
        (
            "a transform and a search",
            "{id: p, category: trigger, transform: {kind: blur, sigma: 1}, search: {method: patch}}",
        ),
        ("neither transform nor search", "{id: p, category: trigger}"),
        ("a search in a robustness probe", "{id: p, category: robustness, search: {method: patch}}"),
        ("a budget below 1000", "{id: p, category: trigger, search: {method: patch, budget: 10}}"),
        (
            "epsilon twice",
            "{id: p, category: adversarial, attack: {method: square, epsilon: 0.1, epsilon-fraction: 0.1}}",
        ),
    ];
    for (what, probe) in mistakes {
        let document: Value = serde_saphyr::from_str(&format!("{base}  - {probe}\n")).unwrap();
        assert!(!validator.is_valid(&document), "{what} passed the schema: {probe}");
    }
    let bad_top: Value = serde_saphyr::from_str(&format!("schema: probity/battery/v2\n{}", &base[27..])).unwrap();
    assert!(!validator.is_valid(&bad_top), "another schema version passed");
}
