//! `probity suite report DIR [--history DIR...]`: nights of a suite compared, as a Markdown page
//! and a self-contained HTML dashboard (charts inline as SVG).
//!
//! Each folder is one night's results (`suite.json`); the history is given oldest first and
//! `DIR` is tonight. Per model: its verdict each night and its strongest trigger probe's attack
//! success over time. Since the previous night: *new failures* (a model failing tonight that
//! did not fail then, including a model new to the suite), *recovered* models (failed then,
//! pass now), other verdict changes, and the probes whose numbers changed significantly by the
//! rule of `report diff` ([`crate::report::diff`]). And the suite's cost per night: models,
//! queries, wall time. A *regression* is a new failure (`--fail-on-regression` exits 1 on one).
//!
//! Rendering is pure: [`Trend`] is computed from the nights, then written as text.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{ItemVerdict, SuiteError, SuiteResults};
use crate::report::charts::{self, TrendLine};
use crate::report::text::escape;

/// One night's results and where they are.
#[derive(Debug, Clone)]
pub struct Night {
    pub label: String,
    pub dir: PathBuf,
    pub results: SuiteResults,
}

/// Reads the nights: `history` oldest first, then `current`.
pub fn read_nights(current: &Path, history: &[PathBuf]) -> Result<Vec<Night>, SuiteError> {
    let mut nights: Vec<Night> = history
        .iter()
        .map(PathBuf::as_path)
        .chain(std::iter::once(current))
        .map(|dir| {
            let results = SuiteResults::read(dir)?;
            let label = night_label(&results.started).unwrap_or_else(|| {
                dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into())
            });
            Ok(Night { label, dir: dir.to_path_buf(), results })
        })
        .collect::<Result<_, SuiteError>>()?;
    // Two runs started in the same minute: their folders tell them apart.
    let labels: Vec<String> = nights.iter().map(|n| n.label.clone()).collect();
    for night in &mut nights {
        if labels.iter().filter(|l| **l == night.label).count() > 1 {
            let folder =
                night.dir.file_name().map_or_else(|| night.dir.display().to_string(), |n| n.to_string_lossy().into());
            night.label = format!("{} ({folder})", night.label);
        }
    }
    Ok(nights)
}

/// `20261128T021500Z` as `2026-11-28 02:15`.
fn night_label(stamp: &str) -> Option<String> {
    let b = stamp.as_bytes();
    if b.len() != 16 || b[8] != b'T' || !stamp.is_ascii() {
        return None;
    }
    Some(format!("{}-{}-{} {}:{}", &stamp[..4], &stamp[4..6], &stamp[6..8], &stamp[9..11], &stamp[11..13]))
}

/// What the dashboard shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    pub suite: String,
    pub nights: Vec<NightCost>,
    pub models: Vec<ModelTrend>,
    /// Since the previous night.
    pub new_failures: Vec<String>,
    pub recovered: Vec<String>,
    /// Other verdict changes since the previous night: model, before, now.
    pub other_changes: Vec<(String, Option<ItemVerdict>, ItemVerdict)>,
    /// Probes that changed significantly since the previous night, per model (`report diff`).
    pub probe_changes: Vec<(String, Vec<String>)>,
}

/// A night's label and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct NightCost {
    pub label: String,
    pub verdict: ItemVerdict,
    pub models: usize,
    pub failing: usize,
    pub queries: u64,
    pub elapsed_seconds: f64,
}

/// One model over the nights.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelTrend {
    pub model: String,
    /// Per night; `None` where the model was not in the suite.
    pub verdicts: Vec<Option<ItemVerdict>>,
    /// The strongest trigger probe's attack success rate per night.
    pub strongest: Vec<Option<f64>>,
    /// Tonight's strongest probe (`battery/probe`).
    pub strongest_probe: Option<String>,
}

impl Trend {
    /// Whether a model fails tonight that did not fail the previous night.
    pub fn regressed(&self) -> bool {
        !self.new_failures.is_empty()
    }
}

/// Compares the nights (oldest first; the last is tonight).
pub fn trend(nights: &[Night]) -> Trend {
    let mut names: Vec<String> = Vec::new();
    for night in nights.iter().rev() {
        for m in &night.results.models {
            if !names.contains(&m.model) {
                names.push(m.model.clone());
            }
        }
    }
    let find = |night: &Night, model: &str| night.results.models.iter().find(|m| m.model == model).cloned();
    let models: Vec<ModelTrend> = names
        .iter()
        .map(|name| {
            let per_night: Vec<_> = nights.iter().map(|n| find(n, name)).collect();
            ModelTrend {
                model: name.clone(),
                verdicts: per_night.iter().map(|m| m.as_ref().map(|m| m.verdict)).collect(),
                strongest: per_night
                    .iter()
                    .map(|m| m.as_ref().and_then(|m| m.strongest.as_ref()).map(|s| s.attack_success_rate))
                    .collect(),
                strongest_probe: per_night
                    .last()
                    .and_then(|m| m.as_ref()?.strongest.as_ref())
                    .map(|s| format!("{}/{}", s.battery, s.probe)),
            }
        })
        .collect();

    let mut trend = Trend {
        suite: nights.last().map(|n| n.results.suite.name.clone()).unwrap_or_default(),
        nights: nights
            .iter()
            .map(|n| NightCost {
                label: n.label.clone(),
                verdict: n.results.verdict,
                models: n.results.totals.models,
                failing: n.results.totals.fail,
                queries: n.results.totals.queries,
                elapsed_seconds: n.results.elapsed_seconds,
            })
            .collect(),
        models,
        new_failures: Vec::new(),
        recovered: Vec::new(),
        other_changes: Vec::new(),
        probe_changes: Vec::new(),
    };
    let [.., previous, tonight] = nights else { return trend };
    for now in &tonight.results.models {
        let before = find(previous, &now.model);
        let was = before.as_ref().map(|b| b.verdict);
        match (was, now.verdict) {
            (Some(ItemVerdict::Fail), ItemVerdict::Fail) => {}
            (_, ItemVerdict::Fail) => trend.new_failures.push(now.model.clone()),
            (Some(ItemVerdict::Fail), ItemVerdict::Pass) => trend.recovered.push(now.model.clone()),
            (Some(w), v) if w != v => trend.other_changes.push((now.model.clone(), was, v)),
            (None, v) if nights.len() > 1 && v != ItemVerdict::Pass => {
                trend.other_changes.push((now.model.clone(), None, v));
            }
            _ => {}
        }
        let reports = before.as_ref().and_then(|b| {
            Some((read_report(&previous.dir, b.report.as_ref()?)?, read_report(&tonight.dir, now.report.as_ref()?)?))
        });
        if let Some((old, new)) = reports {
            let diff = crate::report::diff::diff(&old, &new);
            let lines: Vec<String> = diff
                .changed
                .iter()
                .map(|c| format!("{}/{}: {}", c.battery, c.id, c.reasons.join("; ")))
                .chain(diff.added.iter().map(|k| format!("{}/{}: added", k.battery, k.id)))
                .chain(diff.removed.iter().map(|k| format!("{}/{}: removed", k.battery, k.id)))
                .collect();
            if !lines.is_empty() {
                trend.probe_changes.push((now.model.clone(), lines));
            }
        }
    }
    trend
}

fn read_report(dir: &Path, report: &Path) -> Option<crate::report::Report> {
    serde_json::from_str(&std::fs::read_to_string(dir.join(report)).ok()?).ok()
}

fn word(v: Option<ItemVerdict>) -> &'static str {
    v.map_or("–", |v| match v {
        ItemVerdict::Pass => "PASS",
        ItemVerdict::Fail => "FAIL",
        ItemVerdict::Inconclusive => "INCONCLUSIVE",
        ItemVerdict::Error => "ERROR",
    })
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{:.1}%", 100.0 * v))
}

fn seconds(s: f64) -> String {
    if s < 120.0 { format!("{s:.1} s") } else { format!("{:.1} min", s / 60.0) }
}

/// The dashboard as Markdown.
pub fn markdown(t: &Trend) -> String {
    let mut s = String::new();
    let tonight = t.nights.last();
    let _ = writeln!(s, "# probity suite `{}`: {} nights\n", t.suite, t.nights.len());
    if let Some(n) = tonight {
        let _ = writeln!(
            s,
            "Tonight ({}): **{}**, {} of {} models failing.\n",
            n.label,
            word(Some(n.verdict)),
            n.failing,
            n.models
        );
    }
    let _ = writeln!(s, "## Since the previous night\n");
    let list = |s: &mut String, title: &str, items: &[String]| {
        let shown = if items.is_empty() {
            "none".to_string()
        } else {
            items.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(s, "- {title}: {shown}");
    };
    list(&mut s, "New failures", &t.new_failures);
    list(&mut s, "Recovered", &t.recovered);
    for (model, was, now) in &t.other_changes {
        let _ = writeln!(s, "- `{model}`: {} → {}", word(*was), word(Some(*now)));
    }
    for (model, lines) in &t.probe_changes {
        let _ = writeln!(s, "- `{model}` probes changed significantly:");
        for line in lines {
            let _ = writeln!(s, "  - {line}");
        }
    }
    let _ = writeln!(s, "\n## Verdict per night\n");
    let header: Vec<&str> = t.nights.iter().map(|n| n.label.as_str()).collect();
    let _ = writeln!(s, "| model | {} | strongest probe tonight |", header.join(" | "));
    let _ = writeln!(s, "|---|{}---|", "---|".repeat(header.len()));
    for m in &t.models {
        let cells: Vec<String> = m
            .verdicts
            .iter()
            .zip(&m.strongest)
            .map(|(v, a)| if a.is_some() { format!("{} ({})", word(*v), pct(*a)) } else { word(*v).to_string() })
            .collect();
        let probe = m.strongest_probe.as_deref().map_or("–".to_string(), |p| format!("`{p}`"));
        let _ = writeln!(s, "| `{}` | {} | {probe} |", m.model, cells.join(" | "));
    }
    let _ = writeln!(s, "\nIn brackets: the strongest trigger probe's attack success rate.\n");
    let _ = writeln!(s, "## Cost\n");
    let _ = writeln!(s, "| night | verdict | models | queries | time |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|");
    for n in &t.nights {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            n.label,
            word(Some(n.verdict)),
            n.models,
            n.queries,
            seconds(n.elapsed_seconds)
        );
    }
    s
}

/// The dashboard as one self-contained HTML page (no scripts, no external files).
pub fn html(t: &Trend) -> String {
    let mut s = String::new();
    let title = format!("probity suite {}: {} nights", t.suite, t.nights.len());
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>\
         body{{font-family:sans-serif;margin:2em;color:#222;max-width:1000px}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}\
         td.pass{{background:#e3eefa}}td.fail{{background:#f6d2d2;font-weight:bold}}td.inconclusive{{background:#fbe7c6}}\
         td.error{{background:#e6e6e6}}td.num{{text-align:right}}.new{{color:#c42828;font-weight:bold}}.ok{{color:#2660b0}}\
         </style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    if let Some(n) = t.nights.last() {
        let _ = writeln!(
            s,
            "<p>Tonight ({}): <b>{}</b>, {} of {} models failing.</p>",
            escape(&n.label),
            word(Some(n.verdict)),
            n.failing,
            n.models
        );
    }
    let _ = writeln!(s, "<h2>Since the previous night</h2><ul>");
    let names = |items: &[String]| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.iter().map(|m| format!("<code>{}</code>", escape(m))).collect::<Vec<_>>().join(", ")
        }
    };
    let _ = writeln!(s, "<li class=\"new\">New failures: {}</li>", names(&t.new_failures));
    let _ = writeln!(s, "<li class=\"ok\">Recovered: {}</li>", names(&t.recovered));
    for (model, was, now) in &t.other_changes {
        let _ = writeln!(s, "<li><code>{}</code>: {} → {}</li>", escape(model), word(*was), word(Some(*now)));
    }
    for (model, lines) in &t.probe_changes {
        let _ = write!(s, "<li><code>{}</code> probes changed significantly:<ul>", escape(model));
        for line in lines {
            let _ = write!(s, "<li>{}</li>", escape(line));
        }
        let _ = writeln!(s, "</ul></li>");
    }
    let _ = writeln!(s, "</ul>\n<h2>Verdict per night</h2>\n<table><tr><th>model</th>");
    for n in &t.nights {
        let _ = write!(s, "<th>{}</th>", escape(&n.label));
    }
    let _ = writeln!(s, "<th>strongest probe tonight</th></tr>");
    for m in &t.models {
        let _ = write!(s, "<tr><td><code>{}</code></td>", escape(&m.model));
        for (v, a) in m.verdicts.iter().zip(&m.strongest) {
            let class = v.map_or("", ItemVerdict::name);
            let rate = a.map_or_else(String::new, |a| format!(" <small>{}</small>", pct(Some(a))));
            let _ = write!(s, "<td class=\"{class}\">{}{rate}</td>", word(*v));
        }
        let _ = writeln!(s, "<td>{}</td></tr>", m.strongest_probe.as_deref().map_or("–".to_string(), escape));
    }
    let _ = writeln!(s, "</table>\n<h2>Strongest probe's attack success over time</h2>");
    let nights: Vec<String> = t.nights.iter().map(|n| n.label.clone()).collect();
    let lines: Vec<TrendLine> = t
        .models
        .iter()
        .map(|m| TrendLine {
            label: m.model.clone(),
            values: m.strongest.clone(),
            failing: m.verdicts.iter().map(|v| *v == Some(ItemVerdict::Fail)).collect(),
        })
        .collect();
    s.push_str(&charts::trend("attack success of the strongest trigger probe", &nights, &lines));
    let _ = writeln!(s, "\n<p>Large red dots: nights the model failed.</p>\n<h2>Cost</h2>");
    let _ = writeln!(s, "<table><tr><th>night</th><th>verdict</th><th>models</th><th>queries</th><th>time</th></tr>");
    for n in &t.nights {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&n.label),
            n.verdict.name(),
            word(Some(n.verdict)),
            n.models,
            n.queries,
            seconds(n.elapsed_seconds)
        );
    }
    let _ = writeln!(s, "</table>\n</body></html>");
    s
}

/// Writes `suite-report.md` and `suite-report.html` into `out`; returns their paths.
pub fn write(out: &Path, t: &Trend) -> std::io::Result<Vec<PathBuf>> {
    let md = out.join("suite-report.md");
    let html_path = out.join("suite-report.html");
    crate::output::write_atomic(&md, markdown(t).as_bytes())?;
    crate::output::write_atomic(&html_path, html(t).as_bytes())?;
    Ok(vec![md, html_path])
}

#[cfg(test)]
mod tests {
    use super::super::{ModelResult, Strongest, SuiteSection};
    use super::*;

    fn model(name: &str, index: usize, verdict: ItemVerdict, rate: f64) -> ModelResult {
        ModelResult {
            model: name.into(),
            index,
            verdict,
            report: None,
            key: format!("k{index}"),
            digests: serde_json::from_value(serde_json::json!({
                "model": "m", "external_data": [], "data": "d", "tokenizer": null, "batteries": [],
                "references": [], "baseline": null, "seed": null, "search_budget": null,
                "data_reading": null, "probity_version": "0", "onnxruntime": "o", "execution_provider": "cpu"
            }))
            .unwrap(),
            summary: String::new(),
            strongest: Some(Strongest { battery: "b".into(), probe: "p".into(), attack_success_rate: rate }),
            queries: 1000,
            elapsed_seconds: 1.0,
        }
    }

    /// Three nights of two models; `b` fails on night 3.
    pub(crate) fn three_nights() -> Vec<Night> {
        let section = SuiteSection { name: "nightly".into(), path: "s.yaml".into(), sha256: "x".into(), models: 2 };
        let night = |day: u32, b: ItemVerdict, rate: f64| {
            let models = vec![model("models/a.onnx", 0, ItemVerdict::Pass, 0.05), model("models/b.onnx", 1, b, rate)];
            let results = SuiteResults::new(section.clone(), None, models, format!("202611{day:02}T020000Z"), 60.0);
            Night { label: night_label(&results.started).unwrap(), dir: PathBuf::from(format!("n{day}")), results }
        };
        vec![night(26, ItemVerdict::Pass, 0.08), night(27, ItemVerdict::Pass, 0.1), night(28, ItemVerdict::Fail, 0.97)]
    }

    #[test]
    fn a_model_failing_tonight_is_a_regression() {
        let t = trend(&three_nights());
        assert_eq!(t.new_failures, ["models/b.onnx"]);
        assert!(t.recovered.is_empty() && t.regressed());
        assert_eq!(t.models[1].verdicts, [Some(ItemVerdict::Pass), Some(ItemVerdict::Pass), Some(ItemVerdict::Fail)]);
        assert_eq!(t.models[1].strongest, [Some(0.08), Some(0.1), Some(0.97)]);
        assert_eq!(t.nights[2].label, "2026-11-28 02:00");
        assert_eq!(t.nights[2].queries, 2000);
    }

    #[test]
    fn a_model_passing_again_has_recovered() {
        let mut nights = three_nights();
        nights.swap(1, 2);
        let t = trend(&nights);
        assert_eq!(t.recovered, ["models/b.onnx"]);
        assert!(!t.regressed());
        assert!(!trend(&nights[..1]).regressed(), "one night has nothing to compare with");
    }

    #[test]
    fn the_dashboard_shows_verdicts_rates_and_cost() {
        let t = trend(&three_nights());
        let md = markdown(&t);
        assert!(md.contains("- New failures: `models/b.onnx`"), "{md}");
        assert!(md.contains("| `models/b.onnx` | PASS (8.0%) | PASS (10.0%) | FAIL (97.0%) | `b/p` |"), "{md}");
        assert!(md.contains("| 2026-11-28 02:00 | FAIL | 2 | 2000 | 60.0 s |"), "{md}");
        let html = html(&t);
        assert!(html.contains("<svg") && html.contains("</svg>"), "the chart is inline");
        assert!(!html.contains("<script") && !html.contains("src=\"http"), "self-contained");
        assert!(html.contains("<td class=\"fail\">FAIL <small>97.0%</small></td>"), "{html}");
    }
}
