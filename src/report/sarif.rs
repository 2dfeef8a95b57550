//! `report.sarif`: SARIF 2.1.0 for code-scanning panels. One rule per probe kind (category and
//! transform, e.g. `trigger-patch`), one result per failing probe, located at the line of the
//! probe's `id` in its battery file, so the panel points at the probe that caught the model.
//! Passing probes produce no result. An inconclusive probe, and each scan-level reason a scan is
//! inconclusive, produce a result of `kind: "open"` (SARIF's "could not tell pass from fail",
//! level `none`); the run's properties carry the verdict, the reasons and the model's digest.
//! Written from typed structs (the subset of the SARIF object model used here); validated
//! against the OASIS SARIF 2.1.0 schema in the tests.

use serde::Serialize;

use super::text::{category_word, headline, transform_kind};
use super::{ProbeReport, Report};
use crate::battery::spec::Category;
use crate::stats::Interval;
use crate::verdict::Verdict;
use crate::verdict::adequacy::Inconclusive;

/// The schema a SARIF 2.1.0 log declares (errata 01, the current OASIS standard).
const SARIF_SCHEMA: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

// The subset of the SARIF 2.1.0 object model this exporter writes. Fields are declared in the
// alphabetical order of their JSON names: the log's bytes (snapshot-tested) list keys that way.

/// `sarifLog`.
#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: Vec<Run<'a>>,
    version: &'static str,
}

/// `run`: one scan.
#[derive(Serialize)]
struct Run<'a> {
    invocations: Vec<Invocation<'a>>,
    properties: RunProperties<'a>,
    results: Vec<SarifResult<'a>>,
    tool: Tool<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    execution_successful: bool,
    properties: InvocationProperties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvocationProperties<'a> {
    execution_provider: &'a str,
    onnxruntime: &'a str,
    queries: u64,
}

/// The run's property bag: the verdict, why it is inconclusive, what was scanned.
#[derive(Serialize)]
struct RunProperties<'a> {
    data: FileDigest,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    inconclusive: &'a [Inconclusive],
    model: FileDigest,
    summary: &'a str,
    verdict: Verdict,
}

#[derive(Serialize)]
struct FileDigest {
    path: String,
    sha256: String,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'static str,
    rules: Vec<Rule>,
    semantic_version: &'a str,
    version: &'a str,
}

/// `reportingDescriptor`: one rule per probe kind.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    default_configuration: Configuration,
    full_description: Text,
    help: Text,
    id: String,
    name: String,
    properties: RuleProperties,
    short_description: Text,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties {
    #[serde(rename = "security-severity", skip_serializing_if = "Option::is_none")]
    security_severity: Option<&'static str>,
    tags: Vec<&'static str>,
}

/// `message` and `multiformatMessageString`: plain text.
#[derive(Serialize)]
struct Text {
    text: String,
}

/// `result`: a failing or inconclusive probe, or a reason the scan is inconclusive.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    /// `open` for what could not be judged pass or fail; absent (SARIF's default, `fail`) otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    level: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<Location<'a>>,
    message: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    partial_fingerprints: Option<PartialFingerprints>,
    properties: ResultProperties<'a>,
    rule_id: String,
    rule_index: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    logical_locations: Vec<LogicalLocation<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<PhysicalLocation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation<'a> {
    fully_qualified_name: String,
    kind: &'static str,
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
}

#[derive(Serialize)]
struct PartialFingerprints {
    #[serde(rename = "probityProbe/v1")]
    probity_probe: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ResultProperties<'a> {
    Probe(ProbeProperties<'a>),
    Inconclusive { code: &'static str, probes: &'a [String] },
}

/// A probe result's numbers.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProbeProperties<'a> {
    accuracy_drop: Option<f64>,
    attack_success_interval: Option<Interval>,
    attack_success_rate: Option<f64>,
    battery: &'a str,
    control_attack_success_rate: Option<f64>,
    flip_rate: f64,
    p_value: Option<f64>,
    probe: &'a str,
    samples: usize,
    target_class: Option<usize>,
}

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
    let mut results: Vec<SarifResult<'_>> = report
        .probes
        .iter()
        .filter(|p| p.verdict != Verdict::Pass)
        .map(|p| {
            let id = rule_id(p);
            let index = rule_ids.iter().position(|r| *r == id).unwrap_or(0);
            result(report, p, id, index)
        })
        .collect();
    if !report.inconclusive.is_empty() {
        rules.push(inconclusive_rule());
        let index = rules.len() - 1;
        results.extend(report.inconclusive.iter().map(|reason| SarifResult {
            kind: Some("open"),
            level: "none",
            locations: Vec::new(),
            message: Text { text: format!("scan inconclusive ({}): {}", reason.code.name(), reason.message) },
            partial_fingerprints: None,
            properties: ResultProperties::Inconclusive { code: reason.code.name(), probes: &reason.probes },
            rule_id: INCONCLUSIVE_RULE.into(),
            rule_index: index,
        }));
    }
    let log = Log {
        schema: SARIF_SCHEMA,
        runs: vec![Run {
            invocations: vec![Invocation {
                execution_successful: true,
                properties: InvocationProperties {
                    execution_provider: &report.execution_provider.used,
                    onnxruntime: &report.onnxruntime.version,
                    queries: report.queries,
                },
            }],
            properties: RunProperties {
                data: FileDigest { path: report.data.path.display().to_string(), sha256: report.data.sha256.clone() },
                inconclusive: &report.inconclusive,
                model: FileDigest {
                    path: report.model.path.display().to_string(),
                    sha256: report.model.sha256.clone(),
                },
                summary: &report.summary,
                verdict: report.verdict,
            },
            results,
            tool: Tool {
                driver: Driver {
                    name: "probity",
                    rules,
                    semantic_version: &report.probity_version,
                    version: &report.probity_version,
                },
            },
        }],
        version: "2.1.0",
    };
    let mut bytes = serde_json::to_vec_pretty(&log).expect("the SARIF log always serialises");
    bytes.push(b'\n');
    bytes
}

/// The rule of the scan-level inconclusive results.
const INCONCLUSIVE_RULE: &str = "scan-inconclusive";

fn inconclusive_rule() -> Rule {
    Rule {
        default_configuration: Configuration { level: "warning" },
        full_description: Text {
            text: "Too few inputs for a probe to fail, NaN or constant model outputs, or clean accuracy at chance \
                   (a wrong tokenizer or preprocessing) or below --min-clean-accuracy: the scan could not have \
                   caught a backdoor, so it does not pass."
                .into(),
        },
        help: Text {
            text: "report.json's `inconclusive` list says why and what would fix it; docs/report-schema.md lists the codes."
                .into(),
        },
        id: INCONCLUSIVE_RULE.into(),
        name: "ScanInconclusive".into(),
        properties: RuleProperties { security_severity: None, tags: vec!["quality", "ml-supply-chain"] },
        short_description: Text { text: "The scan cannot support a pass".into() },
    }
}

fn rule_id(p: &ProbeReport) -> String {
    format!("{}-{}", category_word(p.category), transform_kind(p))
}

fn rule(id: &str, category: Category, kind: &str) -> Rule {
    let (short, full, tags, level) = match category {
        Category::Trigger => (
            format!("A {kind} trigger steers inputs into one class"),
            format!(
                "A '{kind}' trigger probe moved significantly more inputs into one class than its matched \
                 control (or a known-good reference) did, above the battery's effect and attack-success \
                 thresholds: behavioural evidence of a backdoor."
            ),
            vec!["security", "backdoor", "ml-supply-chain"],
            "error",
        ),
        Category::Robustness => (
            format!("A {kind} perturbation changes too many predictions"),
            format!(
                "A '{kind}' robustness probe changed more predictions, or cost more accuracy, than the \
                 battery allows: the model fails the quality gate."
            ),
            vec!["quality", "robustness"],
            "error",
        ),
        Category::Adversarial => (
            format!("A {kind} attack breaks too many inputs"),
            format!(
                "A black-box '{kind}' attack broke more inputs than the battery allows, or the model is \
                 significantly less robust to it than the references or the recorded baseline: the model \
                 fails the adversarial quality gate."
            ),
            vec!["quality", "robustness", "adversarial"],
            "error",
        ),
    };
    // GitHub code scanning ranks security alerts by this score; above 7.0 is "high".
    let security_severity = (category == Category::Trigger).then_some("8.0");
    Rule {
        default_configuration: Configuration { level },
        full_description: Text { text: full },
        help: Text {
            text: "Open report.html for the probe's charts and example inputs; docs/batteries.md explains how probes are judged."
                .into(),
        },
        id: id.into(),
        name: pascal_case(id),
        properties: RuleProperties { security_severity, tags },
        short_description: Text { text: short },
    }
}

fn result<'a>(report: &'a Report, p: &'a ProbeReport, rule_id: String, rule_index: usize) -> SarifResult<'a> {
    let physical_location = report.batteries.iter().find(|b| b.name == p.battery).map(|battery| PhysicalLocation {
        artifact_location: ArtifactLocation { uri: path_uri(&battery.path) },
        region: Region { start_line: p.line.max(1) },
    });
    let location = Location {
        logical_locations: vec![LogicalLocation {
            fully_qualified_name: format!("{}/{}", p.battery, p.id),
            kind: "member",
            name: &p.id,
        }],
        physical_location,
    };
    let inconclusive = p.verdict == Verdict::Inconclusive;
    SarifResult {
        // SARIF: a result that could not be judged pass or fail is "open" (level none).
        kind: inconclusive.then_some("open"),
        level: if inconclusive { "none" } else { "error" },
        locations: vec![location],
        message: Text {
            text: format!(
                "{} probe '{}' {}: {} — {} (model {}, sha256 {})",
                category_word(p.category),
                p.id,
                if inconclusive { "is inconclusive" } else { "failed" },
                p.reason,
                headline(p),
                report.model.path.display(),
                report.model.sha256,
            ),
        },
        partial_fingerprints: Some(PartialFingerprints { probity_probe: format!("{}/{}", p.battery, p.id) }),
        properties: ResultProperties::Probe(ProbeProperties {
            accuracy_drop: p.accuracy_drop,
            attack_success_interval: p.attack_success_interval,
            attack_success_rate: p.attack_success_rate,
            battery: &p.battery,
            control_attack_success_rate: p.control_attack_success_rate,
            flip_rate: p.flip_rate,
            p_value: p.p_value,
            probe: &p.id,
            samples: p.samples,
            target_class: p.target_class,
        }),
        rule_id,
        rule_index,
    }
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
