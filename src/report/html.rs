//! `report.html`: one self-contained page for a person who wants to know *why* a model failed.
//! No network, no script: charts are inline SVG (drawn in `charts.rs`), example inputs are PNG
//! data URIs, the style sheet is inline.
//!
//! The page: the verdict and summary; what was scanned (digests, runtime, seeds); an overview
//! chart of every trigger probe's attack success rate with its interval against its control,
//! and of every robustness probe's flip rate against its threshold; a detail card for each
//! failing probe and the strongest passing trigger probes (the trigger a search recovered, flip
//! heatmap, confidence histograms, example inputs before and after); and a table of all
//! probes. Long scans stay readable: overview charts and cards are capped, the table is not.

use std::fmt::Write;

use super::charts::{self, RateLegend, RateRow};
use super::text::{category_word, comparison_word, escape, headline, pct, transform_kind, verdict_word, visible};
use super::{ProbeReport, Report};
use crate::battery::spec::{Category, Thresholds};
use crate::transform::text::word_spans;
use crate::verdict::Verdict;

/// Rows in an overview chart; the table lists the rest.
const OVERVIEW_ROWS: usize = 40;
/// Detail cards for failing probes.
const FAILING_CARDS: usize = 20;
/// Detail cards for the strongest passing trigger probes (by attack success rate).
const STRONGEST_PASSING_CARDS: usize = 3;

/// The views a probe's detail card shows, in order; each returns `None` when the probe has
/// nothing to show. A new per-probe view is one more function here.
const PANELS: [fn(&ProbeReport) -> Option<String>; 6] =
    [search_panel, attack_panel, flip_panel, confidence_panel, examples_panel, comparisons_panel];

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d1d1f; margin: 0; background: #f6f7f9; }
main { max-width: 1120px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 8px; }
h2 { font-size: 1.25rem; margin: 32px 0 8px; border-bottom: 1px solid #d8dbe0; padding-bottom: 4px; }
h3 { font-size: 1.05rem; margin: 0 0 6px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.88em; word-break: break-all; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 4px; font-weight: 700; color: #fff; }
.badge.pass { background: #2f7d32; } .badge.fail { background: #c42828; }
.verdict { font-size: 1.1rem; margin: 0 0 12px; }
.summary { font-size: 1.02rem; background: #fff; border-left: 4px solid #888; padding: 10px 14px; margin: 8px 0 16px; }
.summary.fail { border-color: #c42828; } .summary.pass { border-color: #2f7d32; }
.badge.inconclusive { background: #9a6700; } .summary.inconclusive { border-color: #9a6700; }
tr.inconclusive td { background: #fff8e1; }
table { border-collapse: collapse; background: #fff; width: 100%; font-size: 0.86rem; }
th, td { border: 1px solid #e1e4e8; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef0f3; }
tr.fail td { background: #fdecea; }
td.probe { min-width: 230px; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.facts th { width: 210px; }
.chart { background: #fff; border: 1px solid #e1e4e8; padding: 8px; overflow-x: auto; margin: 8px 0; }
.card { background: #fff; border: 1px solid #e1e4e8; border-left: 4px solid #2660b0; padding: 12px 16px; margin: 16px 0; }
.card.fail { border-left-color: #c42828; }
.card .reason { margin: 4px 0; }
.panels { display: flex; flex-wrap: wrap; gap: 16px; margin-top: 8px; }
.panel { flex: 0 1 auto; max-width: 100%; overflow-x: auto; }
.panel h4 { margin: 4px 0; font-size: 0.92rem; color: #444; }
.examples { display: flex; flex-wrap: wrap; gap: 12px; }
.examples figure { margin: 0; text-align: center; font-size: 0.8rem; }
.examples img { width: 96px; height: 96px; image-rendering: pixelated; border: 1px solid #ccc; }
.note { color: #555; font-size: 0.86rem; }
footer { color: #666; font-size: 0.8rem; margin-top: 32px; }
"#;

pub fn render(report: &Report) -> Vec<u8> {
    let mut s = String::new();
    let verdict = verdict_word(report.verdict);
    let class = verdict.to_ascii_lowercase();
    let model_name = report
        .model
        .path
        .file_name()
        .map_or_else(|| report.model.path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>probity {verdict}: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&model_name)
    );
    let _ = writeln!(s, "<h1>probity scan: <code>{}</code></h1>", escape(&model_name));
    let _ = writeln!(
        s,
        "<p class=\"verdict\"><span class=\"badge {class}\">{verdict}</span> backdoor evidence: {} · quality gate: {}</p>",
        verdict_word(report.backdoor_verdict),
        verdict_word(report.robustness_verdict)
    );
    let _ = writeln!(s, "<p class=\"summary {class}\">{}</p>", escape(&report.summary));
    inconclusive(&mut s, report);
    facts(&mut s, report);
    overview(&mut s, report);
    details(&mut s, report);
    table(&mut s, report);
    let _ = writeln!(
        s,
        "<footer>probity {} · report schema {} · every number on this page is in report.json</footer>\n</main>\n</body>\n</html>",
        escape(&report.probity_version),
        escape(&report.schema)
    );
    s.into_bytes()
}

/// Escapes text for HTML element content and double-quoted attributes.
/// Why the scan cannot support a pass, one item per reason (nothing when it can).
fn inconclusive(s: &mut String, report: &Report) {
    if report.inconclusive.is_empty() {
        return;
    }
    let _ = writeln!(s, "<h2>Why this scan cannot support a pass</h2>\n<ul>");
    for reason in &report.inconclusive {
        let _ = writeln!(s, "<li><code>{}</code>: {}</li>", reason.code.name(), escape(&reason.message));
    }
    let _ = writeln!(s, "</ul>");
    if let (Some(code), Some(mapped)) = (report.exit_code, report.inconclusive_as) {
        let _ = writeln!(s, "<p class=\"note\">Exit code {code} (<code>--inconclusive {}</code>).</p>", mapped.name());
    }
}

/// An element id for a probe's card.
fn anchor(p: &ProbeReport) -> String {
    let raw = format!("probe-{}-{}", p.battery, p.id);
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn facts(s: &mut String, report: &Report) {
    let mut rows: Vec<(String, String)> = Vec::new();
    let code = |t: &str| format!("<code>{}</code>", escape(t));
    rows.push(("model".into(), code(&report.model.path.display().to_string())));
    rows.push(("model sha256".into(), code(&report.model.sha256)));
    for f in &report.model.external_data {
        rows.push((format!("external data <code>{}</code>", escape(&f.path)), code(&f.sha256)));
    }
    rows.push((
        "classifier output".into(),
        format!(
            "{} ({} classes, {})",
            code(&report.model.classifier_output),
            report.model.classes,
            escape(
                &serde_json::to_value(report.model.scores)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )
        ),
    ));
    let accuracy =
        report.data.clean_accuracy.map_or_else(String::new, |a| format!(", clean accuracy {}", pct(Some(a))));
    rows.push((
        "data".into(),
        format!("{} ({} inputs{accuracy})", code(&report.data.path.display().to_string()), report.data.inputs),
    ));
    rows.push(("data sha256".into(), code(&report.data.sha256)));
    for b in &report.batteries {
        rows.push((
            format!("battery {} v{}", escape(&b.name), escape(&b.version)),
            format!("{} seed {} · sha256 {}", code(&b.path.display().to_string()), b.seed, code(&b.sha256)),
        ));
    }
    let rt = &report.onnxruntime;
    rows.push((
        "ONNX Runtime".into(),
        format!("{} · library sha256 {}", escape(&rt.version), code(&rt.library_sha256)),
    ));
    let ep = &report.execution_provider;
    let fallback = ep.fallback_reason.as_deref().map_or_else(String::new, |r| format!(" — fell back: {}", escape(r)));
    rows.push((
        "execution provider".into(),
        format!("{} (requested {}){fallback}", escape(&ep.used), escape(&ep.requested)),
    ));
    rows.push((
        "queries".into(),
        format!("{} in {:.1} s, batch size {}", report.queries, report.elapsed_seconds, report.batch_size),
    ));
    for r in &report.references {
        rows.push((
            "reference model".into(),
            format!(
                "{} sha256 {} · clean agreement {}",
                code(&r.path.display().to_string()),
                code(&r.sha256),
                pct(Some(r.clean_agreement))
            ),
        ));
    }
    if let Some(b) = &report.baseline {
        rows.push((
            "recorded baseline".into(),
            format!(
                "{} (model sha256 {}) · exact agreement {}",
                code(&b.path.display().to_string()),
                code(&b.model_sha256),
                pct(Some(b.agreement.exact))
            ),
        ));
    }
    if let Some(t) = &report.thresholds {
        rows.push((
            "calibrated thresholds".into(),
            format!(
                "{} · false-alarm rate {} · {} probes calibrated",
                code(&t.path.display().to_string()),
                pct(Some(t.false_alarm_rate)),
                t.calibrated_probes
            ),
        ));
    }
    let _ = writeln!(s, "<h2>What was scanned</h2>\n<table class=\"facts\">");
    for (k, v) in rows {
        let _ = writeln!(s, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    let _ = writeln!(s, "</table>");
}

/// Failing probes first, then by attack success rate (highest first), then by flip rate.
fn by_strength<'a>(probes: impl Iterator<Item = &'a ProbeReport>) -> Vec<&'a ProbeReport> {
    let mut sorted: Vec<&ProbeReport> = probes.collect();
    sorted.sort_by(|a, b| {
        (b.verdict == Verdict::Fail)
            .cmp(&(a.verdict == Verdict::Fail))
            .then(b.attack_success_rate.unwrap_or(0.0).total_cmp(&a.attack_success_rate.unwrap_or(0.0)))
            .then(b.flip_rate.total_cmp(&a.flip_rate))
    });
    sorted
}

fn overview(s: &mut String, report: &Report) {
    let triggers = by_strength(report.probes.iter().filter(|p| p.category == Category::Trigger));
    if !triggers.is_empty() {
        let _ = writeln!(s, "<h2>Trigger probes: attack success against the control</h2>");
        let _ = writeln!(
            s,
            "<p class=\"note\">Share of eligible inputs each probe moved into its target class (dot, with its \
             Clopper–Pearson interval), the same share under the comparison (cross: the matched control, or a \
             reference or recorded baseline), and the attack-success threshold (tick). Red probes failed.</p>"
        );
        let rows: Vec<RateRow> = triggers
            .iter()
            .take(OVERVIEW_ROWS)
            .map(|p| RateRow {
                label: p.id.clone(),
                value: p.attack_success_rate.unwrap_or(0.0),
                interval: p.attack_success_interval.map(|i| (i.lower, i.upper)),
                comparison: p.control_attack_success_rate,
                threshold: match p.thresholds {
                    Thresholds::Trigger { min_attack_success, .. } => Some(min_attack_success),
                    Thresholds::Robustness { .. } | Thresholds::Adversarial { .. } => None,
                },
                failing: p.verdict == Verdict::Fail,
            })
            .collect();
        let legend =
            RateLegend { value: "attack success (interval)", comparison: "comparison", threshold: "threshold" };
        let _ = writeln!(s, "<div class=\"chart\">{}</div>", charts::rates("attack success rate", &legend, &rows));
        more_note(s, triggers.len());
    }
    let robustness = by_strength(report.probes.iter().filter(|p| p.category == Category::Robustness));
    if !robustness.is_empty() {
        let _ = writeln!(s, "<h2>Robustness probes: changed predictions</h2>");
        let _ = writeln!(
            s,
            "<p class=\"note\">Share of inputs whose prediction the perturbation changed (dot), under the matched \
             control (cross), and the largest share the battery allows (tick).</p>"
        );
        let rows: Vec<RateRow> = robustness
            .iter()
            .take(OVERVIEW_ROWS)
            .map(|p| RateRow {
                label: p.id.clone(),
                value: p.flip_rate,
                interval: None,
                comparison: p.control_flip_rate,
                threshold: match p.thresholds {
                    Thresholds::Robustness { max_flip_rate, .. } => Some(max_flip_rate),
                    Thresholds::Trigger { .. } | Thresholds::Adversarial { .. } => None,
                },
                failing: p.verdict == Verdict::Fail,
            })
            .collect();
        let legend = RateLegend { value: "flip rate", comparison: "control", threshold: "max flip rate" };
        let _ = writeln!(s, "<div class=\"chart\">{}</div>", charts::rates("flip rate", &legend, &rows));
        more_note(s, robustness.len());
    }
}

fn more_note(s: &mut String, total: usize) {
    if total > OVERVIEW_ROWS {
        let _ = writeln!(
            s,
            "<p class=\"note\">The chart shows the {OVERVIEW_ROWS} strongest of {total} probes; the table below lists all.</p>"
        );
    }
}

/// The probes that get a detail card: failing ones (strongest first, capped), then the
/// strongest passing trigger probes, then every attack that did not fail.
fn carded(report: &Report) -> (Vec<&ProbeReport>, usize) {
    let failing = by_strength(report.probes.iter().filter(|p| p.verdict == Verdict::Fail));
    let strongest =
        by_strength(report.probes.iter().filter(|p| p.verdict == Verdict::Pass && p.category == Category::Trigger));
    let attacks = report.probes.iter().filter(|p| p.verdict != Verdict::Fail && p.attack.is_some());
    let left_out = failing.len().saturating_sub(FAILING_CARDS);
    let cards = failing
        .into_iter()
        .take(FAILING_CARDS)
        .chain(strongest.into_iter().take(STRONGEST_PASSING_CARDS))
        .chain(attacks.take(FAILING_CARDS));
    (cards.collect(), left_out)
}

fn details(s: &mut String, report: &Report) {
    let (cards, left_out) = carded(report);
    let _ = writeln!(s, "<h2>Probe details</h2>");
    if !report.probes.iter().any(|p| p.verdict == Verdict::Fail) {
        let _ = writeln!(s, "<p class=\"note\">No probe failed. The strongest trigger probes:</p>");
    }
    for p in cards {
        card(s, report, p);
    }
    if left_out > 0 {
        let _ = writeln!(s, "<p class=\"note\">{left_out} more failing probes are listed in the table below.</p>");
    }
}

fn card(s: &mut String, report: &Report, p: &ProbeReport) {
    let class = verdict_word(p.verdict).to_ascii_lowercase();
    let battery_path = report
        .batteries
        .iter()
        .find(|b| b.name == p.battery)
        .map_or_else(|| p.battery.clone(), |b| b.path.display().to_string());
    let _ = writeln!(s, "<section class=\"card {class}\" id=\"{}\">", anchor(p));
    let _ = writeln!(
        s,
        "<h3><span class=\"badge {class}\">{}</span> <code>{}</code></h3>",
        verdict_word(p.verdict),
        escape(&p.id)
    );
    let transform = serde_json::to_string(&p.transform).unwrap_or_default();
    let _ = writeln!(
        s,
        "<p class=\"note\">{} probe · <code>{}:{}</code> · {} inputs · transform <code>{}</code></p>",
        category_word(p.category),
        escape(&battery_path),
        p.line,
        p.samples,
        escape(&transform)
    );
    if !p.description.is_empty() {
        let _ = writeln!(s, "<p>{}</p>", escape(&p.description));
    }
    let _ = writeln!(s, "<p class=\"reason\"><strong>{}</strong></p>", escape(&p.reason));
    let _ = writeln!(s, "<p class=\"mono\">{}</p>", escape(&headline(p)));
    let _ = writeln!(s, "<div class=\"panels\">");
    for panel in PANELS {
        if let Some(html) = panel(p) {
            let _ = writeln!(s, "<div class=\"panel\">{html}</div>");
        }
    }
    let _ = writeln!(s, "</div>\n</section>");
}

/// What an attack did: success with its interval, robust accuracy, queries and perturbation
/// sizes to success, and the same attack on each reference.
fn attack_panel(p: &ProbeReport) -> Option<String> {
    let a = p.attack.as_ref()?;
    let quartiles = |q: Option<crate::attack::Quartiles>, digits: usize| {
        q.map_or_else(|| "–".to_string(), |q| format!("{:.digits$} / {:.digits$} / {:.digits$}", q.q1, q.median, q.q3))
    };
    let interval = p
        .attack_success_interval
        .map_or_else(String::new, |i| format!(" ({}–{})", pct(Some(i.lower)), pct(Some(i.upper))));
    let mut s = format!(
        "<h4>Attack: {} {}, ε = {}{}</h4><table class=\"facts\">",
        escape(&a.method),
        a.norm.name(),
        a.epsilon,
        if a.targeted { ", targeted" } else { "" }
    );
    let mut row = |name: &str, value: String| {
        let _ = write!(s, "<tr><th>{name}</th><td>{value}</td></tr>");
    };
    row("inputs broken", format!("{} of {}: {}{interval}", a.successes, a.attacked, pct(p.attack_success_rate)));
    row("robust accuracy", pct(p.accuracy_probed));
    row("queries to success (q1 / median / q3)", quartiles(a.queries_to_success, 0));
    row("perturbation size (q1 / median / q3)", quartiles(a.perturbation, 4));
    row("queries", format!("{} spent, {} per input at most", a.queries, a.queries_per_input));
    for (r, successes) in a.reference_successes.iter().enumerate() {
        row(&format!("reference {}: broken", r + 1), format!("{successes} of {}", a.attacked));
    }
    s.push_str("</table>");
    Some(s)
}

/// The trigger a search recovered: its mask and pattern, and every class's search evidence.
fn search_panel(p: &ProbeReport) -> Option<String> {
    let search = p.search.as_ref()?;
    // The "any class" entry (class = the class count) is a consistent mapping, not one class.
    let target = if p.per_class.last().is_some_and(|c| c.class == search.chosen_class) {
        "any class (all-to-all mapping)".to_string()
    } else {
        format!("class {}", search.chosen_class)
    };
    let mut s = format!("<h4>Recovered trigger: {} search, {target}</h4>", escape(&search.method));
    if is_base64(&search.mask_png) && is_base64(&search.pattern_png) {
        let _ = write!(
            s,
            "<div class=\"examples\"><figure><img src=\"data:image/png;base64,{}\" alt=\"recovered mask\">\
             <figcaption>mask ({:.0} px)</figcaption></figure><figure><img src=\"data:image/png;base64,{}\" \
             alt=\"recovered pattern\"><figcaption>pattern through the mask</figcaption></figure></div>",
            search.mask_png, search.mask_l1, search.pattern_png
        );
    }
    let _ = write!(
        s,
        "<p class=\"note\">Searched on {} inputs with {} queries; the numbers above were measured on {} other \
         inputs. Per class ({}):</p><table><tr><th>class</th><th>statistic</th><th>anomaly index</th>\
         <th>ASR</th><th>best trigger</th></tr>",
        search.search_samples,
        search.queries,
        search.confirmation_samples,
        escape(&search.statistic)
    );
    for c in &search.per_class {
        let class = if c.class == search.chosen_class { " class=\"fail\"" } else { "" };
        let _ = write!(
            s,
            "<tr{class}><td class=\"num\">{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.2}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            c.class,
            c.statistic,
            c.anomaly_index,
            pct(Some(c.attack_success_rate)),
            escape(&c.description)
        );
    }
    s.push_str("</table>");
    if let Some(line) = super::text::search_scope_line(search) {
        let _ = write!(s, "<p class=\"note\">{}</p>", escape(&line));
    }
    if let Some(sweep) = &search.vocabulary {
        let _ = write!(
            s,
            "<p class=\"note\">{}</p><table><tr><th>rank</th><th>tokens</th><th>into class</th><th>flip-into</th>\
             <th>95% CI</th><th>control</th><th>p (Fisher)</th><th>robust z</th></tr>",
            escape(&super::text::sweep_line(sweep))
        );
        for (tokens, [rank, class, rate, ci, control, p, z]) in super::text::token_rows(sweep, 10) {
            let tokens: Vec<String> = tokens.iter().map(|t| format!("<code>{}</code>", escape(t))).collect();
            let _ = write!(
                s,
                "<tr><td class=\"num\">{rank}</td><td>{}</td><td class=\"num\">{class}</td><td class=\"num\">{rate}</td>\
                 <td class=\"num\">{ci}</td><td class=\"num\">{control}</td><td class=\"num\">{p}</td>\
                 <td class=\"num\">{z}</td></tr>",
                tokens.join(" + ")
            );
        }
        s.push_str("</table>");
    }
    Some(s)
}

fn flip_panel(p: &ProbeReport) -> Option<String> {
    if p.flip_matrix.is_empty() {
        return None;
    }
    let shown = charts::heatmap_classes(&p.flip_matrix);
    let note = if shown.len() < p.flip_matrix.len() {
        format!(" ({} of {} classes: those with the most changes)", shown.len(), p.flip_matrix.len())
    } else {
        String::new()
    };
    Some(format!("<h4>Clean → probed predictions{note}</h4>{}", charts::flip_heatmap(&p.flip_matrix, &shown)))
}

fn confidence_panel(p: &ProbeReport) -> Option<String> {
    if p.confidence_clean.is_empty() && p.confidence_probed.is_empty() {
        return None;
    }
    Some(format!(
        "<h4>Confidence, clean vs probed</h4>{}",
        charts::confidence_histograms(&p.confidence_clean, &p.confidence_probed)
    ))
}

/// Table rows: each example's changed features, clean and probed values side by side.
fn changes_panel(p: &ProbeReport) -> Option<String> {
    let rows: Vec<_> = p.examples.iter().filter(|e| !e.changes.is_empty()).collect();
    if rows.is_empty() {
        return None;
    }
    let mut s = String::from(
        "<h4>Example inputs, before and after</h4><table><tr><th>input</th><th>feature</th>\
         <th>clean</th><th>probed</th><th>class</th></tr>",
    );
    for e in rows {
        for c in &e.changes {
            let _ = write!(
                s,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td></tr>",
                e.index,
                escape(&c.feature),
                escape(&c.clean),
                escape(&c.probed),
                e.clean_class,
                e.probed_class
            );
        }
    }
    s.push_str("</table>");
    Some(s)
}

/// Base64 text only: anything else in a (tampered) report is not put into the page.
fn is_base64(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

fn examples_panel(p: &ProbeReport) -> Option<String> {
    if let Some(s) = changes_panel(p) {
        return Some(s);
    }
    let texts: Vec<_> = p.examples.iter().filter(|e| e.clean_text.is_some()).collect();
    if !texts.is_empty() {
        let mut s = String::from(
            "<h4>Example inputs, before and after</h4><table><tr><th>input</th><th>clean text</th>\
             <th>probed text</th><th>tokens the model received</th><th>class</th></tr>",
        );
        for e in texts {
            let tokens = e.probed_tokens.as_deref().unwrap_or_default().join(" ");
            let _ = write!(
                s,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{} → {}</td></tr>",
                e.index,
                escape(e.clean_text.as_deref().unwrap_or_default()),
                probed_text(
                    p,
                    e.clean_text.as_deref().unwrap_or_default(),
                    e.probed_text.as_deref().unwrap_or_default()
                ),
                escape(&tokens),
                e.clean_class,
                e.probed_class
            );
        }
        s.push_str("</table>");
        return Some(s);
    }
    let examples: Vec<_> = p.examples.iter().filter(|e| is_base64(&e.clean_png) && is_base64(&e.probed_png)).collect();
    if examples.is_empty() {
        return None;
    }
    let mut s = String::from("<h4>Example inputs, before and after</h4><div class=\"examples\">");
    for e in examples {
        let _ = write!(
            s,
            "<figure><img src=\"data:image/png;base64,{}\" alt=\"input {} clean, class {}\"> \
             <img src=\"data:image/png;base64,{}\" alt=\"input {} probed, class {}\">\
             <figcaption>input {}: class {} → {}</figcaption></figure>",
            e.clean_png,
            e.index,
            e.clean_class,
            e.probed_png,
            e.index,
            e.probed_class,
            e.index,
            e.clean_class,
            e.probed_class
        );
    }
    s.push_str("</div>");
    Some(s)
}

/// A probed text as the examples show it: for an attack, a diff of the clean text with the
/// edited characters highlighted; otherwise the text, invisible characters made visible.
fn probed_text(p: &ProbeReport, clean: &str, probed: &str) -> String {
    if p.attack.is_none() {
        return escape(&visible(probed));
    }
    let (before, after) = (word_spans(clean), word_spans(probed));
    if before.len() != after.len() {
        return edited(clean, probed);
    }
    // Word by word (an attack edits words in place), so each edit is marked on its own.
    let mut out = String::new();
    let mut at = 0;
    for (b, a) in before.iter().zip(&after) {
        out.push_str(&escape(&visible(&probed[at..a.start])));
        out.push_str(&edited(&clean[b.clone()], &probed[a.clone()]));
        at = a.end;
    }
    out.push_str(&escape(&visible(&probed[at..])));
    out
}

/// `after` as an edit of `before`: what they share at either end as it is, the rest of
/// `before` struck out (`<del>`) and of `after` highlighted (`<mark>`).
fn edited(before: &str, after: &str) -> String {
    let (b, a): (Vec<char>, Vec<char>) = (before.chars().collect(), after.chars().collect());
    let prefix = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let limit = b.len().min(a.len()) - prefix;
    let suffix = b.iter().rev().zip(a.iter().rev()).take(limit).take_while(|(x, y)| x == y).count();
    let text = |chars: &[char]| escape(&visible(&chars.iter().collect::<String>()));
    let mut out = text(&a[..prefix]);
    if b.len() > prefix + suffix {
        let _ = write!(out, "<del>{}</del>", text(&b[prefix..b.len() - suffix]));
    }
    if a.len() > prefix + suffix {
        let _ = write!(out, "<mark>{}</mark>", text(&a[prefix..a.len() - suffix]));
    }
    out.push_str(&text(&a[a.len() - suffix..]));
    out
}

fn comparisons_panel(p: &ProbeReport) -> Option<String> {
    if p.references.is_empty() && p.baseline.is_none() {
        return None;
    }
    let mut s = String::from(
        "<h4>Agreement with known-good behaviour</h4><table><tr><th>compared with</th><th>clean inputs</th><th>probed inputs</th></tr>",
    );
    let rows = p
        .references
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("reference {}", i + 1), r))
        .chain(p.baseline.iter().map(|b| ("recorded baseline".to_string(), b)));
    for (name, numbers) in rows {
        let _ = write!(
            s,
            "<tr><td>{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            pct(Some(numbers.agreement_clean)),
            pct(Some(numbers.agreement_probed))
        );
    }
    s.push_str("</table>");
    Some(s)
}

fn table(s: &mut String, report: &Report) {
    let _ = writeln!(s, "<h2>All probes ({})</h2>", report.probes.len());
    let _ = writeln!(
        s,
        "<table>\n<tr><th>probe</th><th>kind</th><th>verdict</th><th>target</th><th>ASR [interval]</th><th>compared with</th><th>corrected p</th><th>flip rate</th><th>accuracy drop</th><th>reason</th></tr>"
    );
    let mut sorted: Vec<&ProbeReport> = report.probes.iter().collect();
    sorted.sort_by_key(|p| (p.verdict == Verdict::Pass, p.category == Category::Robustness));
    let carded: Vec<String> = carded(report).0.into_iter().map(anchor).collect();
    for p in sorted {
        let class = match p.verdict {
            Verdict::Fail => " class=\"fail\"",
            Verdict::Inconclusive => " class=\"inconclusive\"",
            Verdict::Pass => "",
        };
        let id = if carded.contains(&anchor(p)) {
            format!("<a href=\"#{}\"><code>{}</code></a>", anchor(p), escape(&p.id))
        } else {
            format!("<code>{}</code>", escape(&p.id))
        };
        let interval = p
            .attack_success_interval
            .map_or_else(String::new, |i| format!(" [{}, {}]", pct(Some(i.lower)), pct(Some(i.upper))));
        let compared = match p.control_attack_success_rate {
            Some(c) => format!("{} {}", comparison_word(p.basis), pct(Some(c))),
            None => "–".into(),
        };
        let _ = writeln!(
            s,
            "<tr{class}><td class=\"probe\">{id}<br><span class=\"note\">{}:{}</span></td><td>{} {}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}{interval}</td><td class=\"num\">{compared}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&p.battery),
            p.line,
            category_word(p.category),
            escape(&transform_kind(p)),
            verdict_word(p.verdict),
            p.target_class.map_or_else(|| "–".into(), |c| c.to_string()),
            pct(p.attack_success_rate),
            p.p_value.map_or_else(|| "–".into(), |v| format!("{v:.2e}")),
            pct(Some(p.flip_rate)),
            p.accuracy_drop.map_or_else(|| "–".into(), |d| format!("{:.1} pts", 100.0 * d)),
            escape(&p.reason)
        );
    }
    let _ = writeln!(s, "</table>");
}

#[cfg(test)]
mod tests {
    use super::edited;

    #[test]
    fn an_edit_marks_only_the_characters_it_changed() {
        // Substitution, repetition, drop, swap: the changed characters alone are marked.
        assert_eq!(edited("good", "gpod"), "g<del>o</del><mark>p</mark>od");
        assert_eq!(edited("good", "goood"), "goo<mark>o</mark>d");
        assert_eq!(edited("great", "geat"), "g<del>r</del>eat");
        assert_eq!(edited("film", "flim"), "f<del>il</del><mark>li</mark>m");
        assert_eq!(edited("same", "same"), "same");
        assert_eq!(edited("<b>", "<p>"), "&lt;<del>b</del><mark>p</mark>&gt;");
    }
}
