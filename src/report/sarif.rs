//! `report.sarif`: SARIF 2.1.0 for code-scanning panels. One rule per probe kind (category and
//! transform, e.g. `trigger-patch`), one result per failing probe, located at the line of the
//! probe's `id` in its battery file, so the panel points at the probe that caught the model.
//! Passing probes produce no result. An inconclusive probe, and each scan-level reason a scan is
//! inconclusive, produce a result of `kind: "open"` (SARIF's "could not tell pass from fail",
//! level `none`); the run's properties carry the verdict, the reasons and the model's digest. Validated against the OASIS SARIF 2.1.0 schema in the tests.

use serde_json::{Value, json};

use super::text::{category_word, headline, transform_kind};
use super::{ProbeReport, Report};
use crate::battery::spec::Category;
use crate::verdict::Verdict;

/// The schema a SARIF 2.1.0 log declares (errata 01, the current OASIS standard).
const SARIF_SCHEMA: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

pub fn render(report: &Report) -> Vec<u8> {
    let mut rule_ids: Vec<String> = Vec::new();
    let mut rules = Vec::new();
    for p in &report.probes {
        let id = rule_id(p);
        if !rule_ids.contains(&id) {
            rules.push(rule(&id, p.category, &transform_kind(p)));
            rule_ids.push(id);
        }
    }
    let mut results: Vec<Value> = report
        .probes
        .iter()
        .filter(|p| p.verdict != Verdict::Pass)
        .map(|p| {
            let id = rule_id(p);
            let index = rule_ids.iter().position(|r| *r == id).unwrap_or(0);
            result(report, p, &id, index)
        })
        .collect();
    if !report.inconclusive.is_empty() {
        rules.push(inconclusive_rule());
        let index = rules.len() - 1;
        results.extend(report.inconclusive.iter().map(|reason| {
            json!({
                "ruleId": INCONCLUSIVE_RULE,
                "ruleIndex": index,
                "kind": "open",
                "level": "none",
                "message": { "text": format!("scan inconclusive ({}): {}", reason.code.name(), reason.message) },
                "properties": { "code": reason.code.name(), "probes": reason.probes },
            })
        }));
    }
    let log = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "probity",
                    "version": report.probity_version,
                    "semanticVersion": report.probity_version,
                    "rules": rules,
                }
            },
            "invocations": [{
                "executionSuccessful": true,
                "properties": {
                    "onnxruntime": report.onnxruntime.version,
                    "executionProvider": report.execution_provider.used,
                    "queries": report.queries,
                }
            }],
            "results": results,
            "properties": {
                "verdict": report.verdict,
                "summary": report.summary,
                "model": {
                    "path": report.model.path.display().to_string(),
                    "sha256": report.model.sha256,
                },
                "data": {
                    "path": report.data.path.display().to_string(),
                    "sha256": report.data.sha256,
                },
            }
        }]
    });
    let mut log = log;
    if !report.inconclusive.is_empty() {
        log["runs"][0]["properties"]["inconclusive"] = json!(report.inconclusive);
    }
    let mut bytes = serde_json::to_vec_pretty(&log).expect("a JSON value always serialises");
    bytes.push(b'\n');
    bytes
}

/// The rule of the scan-level inconclusive results.
const INCONCLUSIVE_RULE: &str = "scan-inconclusive";

fn inconclusive_rule() -> Value {
    json!({
        "id": INCONCLUSIVE_RULE,
        "name": "ScanInconclusive",
        "shortDescription": { "text": "The scan cannot support a pass" },
        "fullDescription": {
            "text": "Too few inputs for a probe to fail, NaN or constant model outputs, or clean accuracy at chance \
                     (a wrong tokenizer or preprocessing) or below --min-clean-accuracy: the scan could not have \
                     caught a backdoor, so it does not pass."
        },
        "defaultConfiguration": { "level": "warning" },
        "help": { "text": "report.json's `inconclusive` list says why and what would fix it; docs/report-schema.md lists the codes." },
        "properties": { "tags": ["quality", "ml-supply-chain"] },
    })
}

fn rule_id(p: &ProbeReport) -> String {
    format!("{}-{}", category_word(p.category), transform_kind(p))
}

fn rule(id: &str, category: Category, kind: &str) -> Value {
    let (short, full, tags, level) = match category {
        Category::Trigger => (
            format!("A {kind} trigger steers inputs into one class"),
            format!(
                "A '{kind}' trigger probe moved significantly more inputs into one class than its matched \
                 control (or a known-good reference) did, above the battery's effect and attack-success \
                 thresholds: behavioural evidence of a backdoor."
            ),
            json!(["security", "backdoor", "ml-supply-chain"]),
            "error",
        ),
        Category::Robustness => (
            format!("A {kind} perturbation changes too many predictions"),
            format!(
                "A '{kind}' robustness probe changed more predictions, or cost more accuracy, than the \
                 battery allows: the model fails the quality gate."
            ),
            json!(["quality", "robustness"]),
            "error",
        ),
    };
    let mut properties = json!({ "tags": tags });
    if category == Category::Trigger {
        // GitHub code scanning ranks security alerts by this score; above 7.0 is "high".
        properties["security-severity"] = json!("8.0");
    }
    json!({
        "id": id,
        "name": pascal_case(id),
        "shortDescription": { "text": short },
        "fullDescription": { "text": full },
        "defaultConfiguration": { "level": level },
        "help": {
            "text": "Open report.html for the probe's charts and example inputs; docs/batteries.md explains how probes are judged.",
        },
        "properties": properties,
    })
}

fn result(report: &Report, p: &ProbeReport, rule_id: &str, rule_index: usize) -> Value {
    let mut location = json!({
        "logicalLocations": [{ "name": p.id, "fullyQualifiedName": format!("{}/{}", p.battery, p.id), "kind": "member" }]
    });
    if let Some(battery) = report.batteries.iter().find(|b| b.name == p.battery) {
        location["physicalLocation"] = json!({
            "artifactLocation": { "uri": path_uri(&battery.path) },
            "region": { "startLine": p.line.max(1) },
        });
    }
    let inconclusive = p.verdict == Verdict::Inconclusive;
    let mut result = json!({
        "ruleId": rule_id,
        "ruleIndex": rule_index,
        "level": if inconclusive { "none" } else { "error" },
        "message": {
            "text": format!(
                "{} probe '{}' {}: {} — {} (model {}, sha256 {})",
                category_word(p.category),
                p.id,
                if inconclusive { "is inconclusive" } else { "failed" },
                p.reason,
                headline(p),
                report.model.path.display(),
                report.model.sha256,
            )
        },
        "locations": [location],
        "partialFingerprints": { "probityProbe/v1": format!("{}/{}", p.battery, p.id) },
        "properties": {
            "battery": p.battery,
            "probe": p.id,
            "targetClass": p.target_class,
            "attackSuccessRate": p.attack_success_rate,
            "attackSuccessInterval": p.attack_success_interval,
            "controlAttackSuccessRate": p.control_attack_success_rate,
            "pValue": p.p_value,
            "flipRate": p.flip_rate,
            "accuracyDrop": p.accuracy_drop,
            "samples": p.samples,
        }
    });
    if inconclusive {
        // SARIF: a result that could not be judged pass or fail is "open" (level none).
        result["kind"] = json!("open");
    }
    result
}

/// `trigger-patch` → `TriggerPatch`.
fn pascal_case(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// A file path as a URI reference: relative paths stay relative (code-scanning panels resolve
/// them against the repository root), absolute ones become `file://` URIs. Bytes outside the
/// RFC 3986 unreserved set (and `/`) are percent-encoded.
fn path_uri(path: &std::path::Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let mut encoded = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    if path.is_absolute() { format!("file://{encoded}") } else { encoded }
}
