//! `probity report diff OLD NEW`: what changed between two scans (nightly trends).
//!
//! A probe (matched by battery name and probe id) changed *significantly* when
//! - its verdict changed, or
//! - its attack success rate moved outside the other run's Clopper–Pearson interval, both ways:
//!   the new rate lies outside the old run's interval *and* the old rate outside the new run's
//!   (the intervals are at confidence 1 − alpha; asking both keeps a rate of 0 against a
//!   neighbouring 0.3% from counting, since an interval around 0 starts at 0), or
//! - its flip rate moved by more than [`FLIP_RATE_CHANGE`] (absolute).
//!
//! Probes present in only one run are listed as added or removed. A change of model, data or
//! battery digest is reported as context: it explains changes, it is not one. This module
//! compares numbers the reports already hold; it computes no statistic.

use std::fmt::Write;

use serde::Serialize;

use super::text::{pct, verdict_word};
use super::{ProbeReport, Report};
use crate::verdict::Verdict;

/// Flip-rate change (absolute share of samples) that counts as significant. Flip rates carry no
/// interval in the report; 0.1 is ten points, beyond the run-to-run spread of the bundled
/// clean fixtures.
pub const FLIP_RATE_CHANGE: f64 = 0.1;

/// Two scans compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportDiff {
    pub old_verdict: Verdict,
    pub new_verdict: Verdict,
    /// Differences in what was scanned (model, data, batteries, runtime), for context.
    pub context: Vec<String>,
    pub changed: Vec<ProbeChange>,
    pub added: Vec<ProbeKey>,
    pub removed: Vec<ProbeKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeKey {
    pub battery: String,
    pub id: String,
    pub verdict: Verdict,
}

/// A probe whose verdict or numbers changed significantly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeChange {
    pub battery: String,
    pub id: String,
    pub old_verdict: Verdict,
    pub new_verdict: Verdict,
    pub old_attack_success_rate: Option<f64>,
    pub new_attack_success_rate: Option<f64>,
    pub old_flip_rate: f64,
    pub new_flip_rate: f64,
    /// Why the change is significant, one sentence each.
    pub reasons: Vec<String>,
}

impl ReportDiff {
    /// No verdict, probe, or probe set changed.
    pub fn is_empty(&self) -> bool {
        self.old_verdict == self.new_verdict
            && self.changed.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
    }

    /// A plain-text listing for a terminal or a CI log.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        if self.old_verdict == self.new_verdict {
            let _ = writeln!(s, "verdict: {} (unchanged)", verdict_word(self.new_verdict));
        } else {
            let _ = writeln!(s, "verdict: {} -> {}", verdict_word(self.old_verdict), verdict_word(self.new_verdict));
        }
        for line in &self.context {
            let _ = writeln!(s, "note: {line}");
        }
        for c in &self.changed {
            let verdict = if c.old_verdict == c.new_verdict {
                verdict_word(c.new_verdict).to_string()
            } else {
                format!("{} -> {}", verdict_word(c.old_verdict), verdict_word(c.new_verdict))
            };
            let _ = writeln!(s, "changed  {}/{} [{verdict}]: {}", c.battery, c.id, c.reasons.join("; "));
        }
        for k in &self.added {
            let _ = writeln!(s, "added    {}/{} [{}]", k.battery, k.id, verdict_word(k.verdict));
        }
        for k in &self.removed {
            let _ = writeln!(s, "removed  {}/{} [{}]", k.battery, k.id, verdict_word(k.verdict));
        }
        if self.is_empty() {
            let _ = writeln!(s, "no significant change");
        } else {
            let _ = writeln!(
                s,
                "{} changed, {} added, {} removed",
                self.changed.len(),
                self.added.len(),
                self.removed.len()
            );
        }
        s
    }
}

/// Compares `new` with `old`.
pub fn diff(old: &Report, new: &Report) -> ReportDiff {
    let key = |p: &ProbeReport| ProbeKey { battery: p.battery.clone(), id: p.id.clone(), verdict: p.verdict };
    let find = |report: &'_ Report, p: &ProbeReport| -> Option<usize> {
        report.probes.iter().position(|q| q.battery == p.battery && q.id == p.id)
    };
    let changed = new
        .probes
        .iter()
        .filter_map(|n| find(old, n).map(|i| (&old.probes[i], n)))
        .filter_map(|(o, n)| compare(o, n))
        .collect();
    let added = new.probes.iter().filter(|n| find(old, n).is_none()).map(key).collect();
    let removed = old.probes.iter().filter(|o| find(new, o).is_none()).map(key).collect();
    ReportDiff {
        old_verdict: old.verdict,
        new_verdict: new.verdict,
        context: context(old, new),
        changed,
        added,
        removed,
    }
}

fn compare(old: &ProbeReport, new: &ProbeReport) -> Option<ProbeChange> {
    let mut reasons = Vec::new();
    if old.verdict != new.verdict {
        reasons.push(format!("verdict {} -> {}", verdict_word(old.verdict), verdict_word(new.verdict)));
    }
    if let (Some(o), Some(n)) = (old.attack_success_rate, new.attack_success_rate) {
        let outside = |rate: f64, interval: Option<crate::stats::Interval>| {
            interval.is_some_and(|i| rate < i.lower || rate > i.upper)
        };
        if outside(n, old.attack_success_interval) && outside(o, new.attack_success_interval) {
            let classes = match (old.target_class, new.target_class) {
                (Some(a), Some(b)) if a != b => format!(" (target class {a} -> {b})"),
                _ => String::new(),
            };
            reasons.push(format!(
                "ASR {} -> {}{classes}, each outside the other run's interval",
                pct(Some(o)),
                pct(Some(n))
            ));
        }
    }
    if (new.flip_rate - old.flip_rate).abs() > FLIP_RATE_CHANGE {
        reasons.push(format!("flip rate {} -> {}", pct(Some(old.flip_rate)), pct(Some(new.flip_rate))));
    }
    (!reasons.is_empty()).then(|| ProbeChange {
        battery: new.battery.clone(),
        id: new.id.clone(),
        old_verdict: old.verdict,
        new_verdict: new.verdict,
        old_attack_success_rate: old.attack_success_rate,
        new_attack_success_rate: new.attack_success_rate,
        old_flip_rate: old.flip_rate,
        new_flip_rate: new.flip_rate,
        reasons,
    })
}

fn context(old: &Report, new: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    let mut differs = |what: &str, a: &str, b: &str| {
        if a != b {
            notes.push(format!("{what} differs: {a} -> {b}"));
        }
    };
    differs("model sha256", &old.model.sha256, &new.model.sha256);
    differs("data sha256", &old.data.sha256, &new.data.sha256);
    differs("ONNX Runtime", &old.onnxruntime.version, &new.onnxruntime.version);
    differs("execution provider", &old.execution_provider.used, &new.execution_provider.used);
    let batteries = |r: &Report| -> String {
        r.batteries
            .iter()
            .map(|b| format!("{}@{}:{}", b.name, b.sha256.chars().take(12).collect::<String>(), b.seed))
            .collect::<Vec<_>>()
            .join(", ")
    };
    differs("batteries (name@sha256:seed)", &batteries(old), &batteries(new));
    differs("sample generators", &old.sample_rng, &new.sample_rng);
    notes
}
