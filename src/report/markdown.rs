//! `report.md`: a summary a person reads in a CI log or a pull-request comment.

use std::fmt::Write;

use super::text::{pct, verdict_word};
use super::{ProbeReport, Report};
use crate::battery::spec::Category;
use crate::verdict::Verdict;

pub fn render(report: &Report) -> Vec<u8> {
    let mut s = String::new();
    let _ = writeln!(s, "# probity scan: {}\n", verdict_word(report.verdict));
    let _ = writeln!(s, "{}\n", report.summary);
    if !report.inconclusive.is_empty() {
        let _ = writeln!(s, "## Why this scan cannot support a pass\n");
        for reason in &report.inconclusive {
            let _ = writeln!(s, "- `{}`: {}", reason.code.name(), reason.message);
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| model | `{}` |", report.model.path.display());
    let _ = writeln!(s, "| model sha256 | `{}` |", report.model.sha256);
    let _ = writeln!(s, "| data | `{}` ({} inputs) |", report.data.path.display(), report.data.inputs);
    if let Some(acc) = report.data.clean_accuracy {
        let _ = writeln!(s, "| clean accuracy | {:.1}% |", 100.0 * acc);
    }
    let batteries: Vec<String> = report.batteries.iter().map(|b| format!("{} v{}", b.name, b.version)).collect();
    let _ = writeln!(s, "| batteries | {} |", batteries.join(", "));
    let seeds: Vec<String> = report.batteries.iter().map(|b| b.seed.to_string()).collect();
    let _ = writeln!(s, "| seed | {} |", seeds.join(", "));
    let ep = &report.execution_provider;
    let _ = writeln!(s, "| execution provider | {} (requested {}) |", ep.used, ep.requested);
    let _ = writeln!(s, "| ONNX Runtime | {} |", report.onnxruntime.version);
    let _ = writeln!(s, "| queries | {} in {:.1} s |", report.queries, report.elapsed_seconds);
    if let (Some(code), Some(mapped)) = (report.exit_code, report.inconclusive_as) {
        let _ = writeln!(s, "| exit code | {code} (`--inconclusive {}`) |", mapped.name());
    }

    let triggers: Vec<&ProbeReport> = report.probes.iter().filter(|p| p.category == Category::Trigger).collect();
    let robustness: Vec<&ProbeReport> = report.probes.iter().filter(|p| p.category == Category::Robustness).collect();
    let attacks: Vec<&ProbeReport> = report.probes.iter().filter(|p| p.attack.is_some()).collect();
    if !triggers.is_empty() {
        let _ = writeln!(s, "\n## Backdoor evidence (trigger probes): {}\n", verdict_word(report.backdoor_verdict));
        let _ = writeln!(s, "| probe | verdict | target class | ASR (CI) | comparison ASR | corrected p | reason |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        let mut sorted = triggers.clone();
        sorted.sort_by_key(|p| (p.verdict == Verdict::Pass, p.id.clone()));
        for p in sorted {
            let ci = p
                .attack_success_interval
                .map_or_else(String::new, |i| format!(" ({:.1}–{:.1}%)", 100.0 * i.lower, 100.0 * i.upper));
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {}{} | {} | {} | {} |",
                p.id,
                verdict_word(p.verdict),
                p.target_class.map_or_else(|| "–".into(), |c| c.to_string()),
                pct(p.attack_success_rate),
                ci,
                pct(p.control_attack_success_rate),
                p.p_value.map_or_else(|| "–".into(), |v| format!("{v:.2e}")),
                p.reason
            );
        }
    }
    for p in &triggers {
        if let Some(line) = p.search.as_ref().and_then(super::text::search_scope_line) {
            let _ = writeln!(s, "\nSearch `{}`: {line}.", p.id);
        }
        if let Some(sweep) = p.search.as_ref().and_then(|x| x.vocabulary.as_ref()) {
            vocabulary_section(&mut s, p, sweep);
        }
    }
    for p in report.probes.iter().filter(|p| p.examples.iter().any(|e| !e.changes.is_empty())) {
        changes_section(&mut s, p);
    }
    if !robustness.is_empty() {
        let _ = writeln!(s, "\n## Quality gate (robustness probes): {}\n", verdict_word(report.robustness_verdict));
        let _ = writeln!(s, "| probe | verdict | flip rate | accuracy drop | reason |");
        let _ = writeln!(s, "|---|---|---|---|---|");
        for p in robustness {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} |",
                p.id,
                verdict_word(p.verdict),
                pct(Some(p.flip_rate)),
                p.accuracy_drop.map_or_else(|| "–".into(), |d| format!("{:.1} pts", 100.0 * d)),
                p.reason
            );
        }
    }
    if !attacks.is_empty() {
        attack_section(&mut s, &attacks);
    }
    s.into_bytes()
}

/// The adversarial probes: attack success with its interval, robust accuracy, median queries
/// and perturbation size to success.
fn attack_section(s: &mut String, attacks: &[&ProbeReport]) {
    let _ = writeln!(s, "\n## Adversarial probes\n");
    let _ = writeln!(
        s,
        "| probe | verdict | attack | broken (CI) | robust accuracy | median queries to success | median perturbation | reason |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for p in attacks {
        let Some(a) = &p.attack else { continue };
        let ci = p
            .attack_success_interval
            .map_or_else(String::new, |i| format!(" ({:.1}–{:.1}%)", 100.0 * i.lower, 100.0 * i.upper));
        let _ = writeln!(
            s,
            "| `{}` | {} | {} {} ε = {}, {} queries{} | {}{} | {} | {} | {} | {} |",
            p.id,
            verdict_word(p.verdict),
            a.method,
            a.norm.name(),
            a.epsilon,
            a.queries_per_input,
            if a.targeted { ", targeted" } else { "" },
            pct(p.attack_success_rate),
            ci,
            pct(p.accuracy_probed),
            a.queries_to_success.map_or_else(|| "–".into(), |q| format!("{:.0}", q.median)),
            a.perturbation.map_or_else(|| "–".into(), |q| format!("{:.4}", q.median)),
            p.reason
        );
    }
}

/// The best tokens of a vocabulary sweep, with its size and throughput.
fn vocabulary_section(s: &mut String, p: &ProbeReport, sweep: &crate::search::vocabulary::Sweep) {
    let _ = writeln!(s, "\n### Vocabulary sweep `{}`\n\n{}\n", p.id, super::text::sweep_line(sweep));
    let _ = writeln!(s, "| rank | tokens | into class | flip-into | 95% CI | control tokens | p (Fisher) | robust z |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for (tokens, [rank, class, rate, ci, control, p, z]) in super::text::token_rows(sweep, 10) {
        let tokens: Vec<String> = tokens.iter().map(|t| format!("`{}`", t.replace('|', "\\|"))).collect();
        let _ = writeln!(s, "| {rank} | {} | {class} | {rate} | {ci} | {control} | {p} | {z} |", tokens.join(" + "));
    }
}

/// Table rows before and after a probe: the features it changed.
fn changes_section(s: &mut String, p: &ProbeReport) {
    let _ = writeln!(s, "\n### Example inputs `{}`, before and after\n", p.id);
    let _ = writeln!(s, "| input | feature | clean | probed | class |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    let cell = |v: &str| v.replace('|', "\\|");
    for e in &p.examples {
        for c in &e.changes {
            let _ = writeln!(
                s,
                "| {} | `{}` | {} | {} | {} → {} |",
                e.index,
                cell(&c.feature),
                cell(&c.clean),
                cell(&c.probed),
                e.clean_class,
                e.probed_class
            );
        }
    }
}
