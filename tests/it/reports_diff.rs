//! `report diff`'s significance rule, on the committed fixture report: a verdict change, an
//! attack success rate outside the other run's interval (both ways), a flip-rate move of more
//! than 0.1, and probes added or removed.

use std::path::PathBuf;

use probity::report::Report;
use probity::report::diff::diff;
use probity::stats::Interval;
use probity::verdict::Verdict;

fn report() -> Report {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports/report-fail.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Index of a passing trigger probe with an attack success rate of 57.2% [50.3%, 63.9%].
fn checker(r: &Report) -> usize {
    r.probes.iter().position(|p| p.id == "patch-checker-1of4-bottom-right").unwrap()
}

#[test]
fn a_report_compared_with_itself_has_no_change() {
    let d = diff(&report(), &report());
    assert!(d.is_empty());
    assert!(d.render_text().contains("no significant change"));
}

#[test]
fn a_verdict_change_is_significant() {
    let old = report();
    let mut new = report();
    let i = checker(&new);
    new.probes[i].verdict = Verdict::Fail;
    let d = diff(&old, &new);
    assert_eq!(d.changed.len(), 1);
    assert_eq!(d.changed[0].id, "patch-checker-1of4-bottom-right");
    assert!(d.changed[0].reasons[0].contains("verdict PASS -> FAIL"), "{:?}", d.changed[0].reasons);
}

#[test]
fn an_attack_success_rate_inside_the_other_interval_is_noise() {
    let old = report();
    let mut new = report();
    let i = checker(&new);
    new.probes[i].attack_success_rate = Some(0.60);
    new.probes[i].attack_success_interval = Some(Interval { lower: 0.53, upper: 0.67 });
    assert!(diff(&old, &new).is_empty());
}

#[test]
fn an_attack_success_rate_outside_each_others_interval_is_significant() {
    let old = report();
    let mut new = report();
    let i = checker(&new);
    new.probes[i].attack_success_rate = Some(0.75);
    new.probes[i].attack_success_interval = Some(Interval { lower: 0.69, upper: 0.80 });
    let d = diff(&old, &new);
    assert_eq!(d.changed.len(), 1);
    assert!(d.changed[0].reasons[0].contains("ASR 57.2% -> 75.0%"), "{:?}", d.changed[0].reasons);
}

#[test]
fn a_rate_outside_only_one_interval_is_not_enough() {
    // The new rate leaves the old interval, but the old rate is inside the new (wide) one.
    let old = report();
    let mut new = report();
    let i = checker(&new);
    new.probes[i].attack_success_rate = Some(0.66);
    new.probes[i].attack_success_interval = Some(Interval { lower: 0.50, upper: 0.80 });
    assert!(diff(&old, &new).is_empty());
}

#[test]
fn flip_rate_moves_count_above_a_tenth() {
    let old = report();
    let mut small = report();
    let mut large = report();
    let i = checker(&old);
    small.probes[i].flip_rate = old.probes[i].flip_rate + 0.09;
    large.probes[i].flip_rate = old.probes[i].flip_rate + 0.11;
    assert!(diff(&old, &small).is_empty());
    let d = diff(&old, &large);
    assert_eq!(d.changed.len(), 1);
    assert!(d.changed[0].reasons[0].starts_with("flip rate 52.0% -> 63.0%"), "{:?}", d.changed[0].reasons);
}

#[test]
fn added_and_removed_probes_are_listed() {
    let old = report();
    let mut new = report();
    let removed = new.probes.remove(0);
    let mut added = new.probes[0].clone();
    added.id = "patch-new".into();
    new.probes.push(added);
    let d = diff(&old, &new);
    assert_eq!(d.removed.len(), 1);
    assert_eq!(d.removed[0].id, removed.id);
    assert_eq!(d.added.len(), 1);
    assert_eq!(d.added[0].id, "patch-new");
    assert!(!d.is_empty());
    let text = d.render_text();
    assert!(text.contains(&format!("removed  image-triggers/{}", removed.id)), "{text}");
    assert!(text.contains("added    image-triggers/patch-new"), "{text}");
}

#[test]
fn a_different_model_is_context_not_a_change() {
    let old = report();
    let mut new = report();
    new.model.sha256 = "0".repeat(64);
    let d = diff(&old, &new);
    assert!(d.is_empty());
    assert!(d.context[0].starts_with("model sha256 differs"), "{:?}", d.context);
}
