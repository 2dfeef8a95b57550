//! `report.junit.xml`: JUnit XML for CI test panels, one `<testsuite>` per battery and one
//! `<testcase>` per probe. A failing probe is a `<failure>` whose message carries its numbers
//! and reason; an inconclusive probe (too little data to fail) an `<error>` of type
//! `inconclusive`, and each scan-level inconclusive reason an errored case in a `scan` suite;
//! a passing probe's numbers are in its `<system-out>`. Written with `quick-junit`; the result validates against the Jenkins xunit
//! `junit-10.xsd` (see `docs/reports.md`).

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::text::{category_word, headline};
use super::{ProbeReport, Report};
use crate::battery::spec::Category;
use crate::verdict::Verdict;

pub fn render(report: &Report) -> Vec<u8> {
    let mut junit = quick_junit::Report::new("probity");
    if let Ok(time) = Duration::try_from_secs_f64(report.elapsed_seconds) {
        junit.set_time(time);
    }
    let mut names: Vec<&str> = report.batteries.iter().map(|b| b.name.as_str()).collect();
    // Probes of a battery the report does not describe still get a suite.
    for p in &report.probes {
        if !names.contains(&p.battery.as_str()) {
            names.push(&p.battery);
        }
    }
    for name in names {
        let mut suite = TestSuite::new(name);
        suite.add_properties(suite_properties(report, name));
        suite.add_test_cases(report.probes.iter().filter(|p| p.battery == name).map(test_case));
        junit.add_test_suite(suite);
    }
    if !report.inconclusive.is_empty() {
        // Reasons the whole scan cannot pass (a NaN model, too little data) are not any one
        // probe's: they get a suite of their own, one errored case per reason.
        let mut suite = TestSuite::new("scan");
        suite.add_test_cases(report.inconclusive.iter().map(|reason| {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(reason.message.clone()).set_type("inconclusive");
            let mut case = TestCase::new(format!("inconclusive/{}", reason.code.name()), status);
            case.set_classname("scan.inconclusive");
            case
        }));
        junit.add_test_suite(suite);
    }
    let xml = junit.to_string().expect("quick-junit serialises any report to a string");
    drop_root_skipped(xml).into_bytes()
}

fn suite_properties(report: &Report, battery: &str) -> Vec<Property> {
    let mut properties = vec![
        Property::new("model", report.model.path.display().to_string()),
        Property::new("model.sha256", report.model.sha256.clone()),
        Property::new("data.sha256", report.data.sha256.clone()),
        Property::new("onnxruntime", report.onnxruntime.version.clone()),
        Property::new("execution-provider", report.execution_provider.used.clone()),
        Property::new("verdict", super::text::verdict_word(report.verdict)),
    ];
    if let Some(b) = report.batteries.iter().find(|b| b.name == battery) {
        properties.push(Property::new("battery.path", b.path.display().to_string()));
        properties.push(Property::new("battery.sha256", b.sha256.clone()));
        properties.push(Property::new("battery.version", b.version.clone()));
        properties.push(Property::new("seed", b.seed.to_string()));
    }
    properties
}

fn test_case(p: &ProbeReport) -> TestCase {
    let numbers = headline(p);
    let status = match p.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        // Ran, but its data could not have shown a failure: an error (not a skip, which would
        // say it never ran), so a CI panel does not count it as passed.
        Verdict::Inconclusive => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(format!("{} — {numbers}", p.reason)).set_type("inconclusive");
            status
        }
        Verdict::Fail => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(format!("{} — {numbers}", p.reason))
                .set_type(match p.category {
                    Category::Trigger => "backdoor-evidence",
                    Category::Robustness => "robustness",
                    Category::Adversarial => "adversarial-robustness",
                })
                .set_description(format!(
                    "{} probe '{}' (battery {}, line {}) failed.\n{}\n{}\n",
                    category_word(p.category),
                    p.id,
                    p.battery,
                    p.line,
                    numbers,
                    p.reason
                ));
            status
        }
    };
    let mut case = TestCase::new(p.id.as_str(), status);
    case.set_classname(format!("{}.{}", p.battery, category_word(p.category)));
    if p.verdict != Verdict::Fail {
        case.set_system_out(format!("{numbers}\n{}\n", p.reason));
    }
    case
}

/// quick-junit always writes a `skipped` count on `<testsuites>`, which the JUnit XSD
/// (Jenkins xunit `junit-10.xsd`) does not declare; probity never skips a probe, so the
/// attribute says nothing and is removed from the root element only.
fn drop_root_skipped(xml: String) -> String {
    let Some(start) = xml.find("<testsuites") else { return xml };
    let end = xml[start..].find('>').map_or(xml.len(), |e| start + e);
    match xml[start..end].find(" skipped=\"0\"") {
        Some(at) => format!("{}{}", &xml[..start + at], &xml[start + at + " skipped=\"0\"".len()..]),
        None => xml,
    }
}
