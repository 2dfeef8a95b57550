//! Words and numbers as the exporters print them, so every format says the same thing the same
//! way. Formatting only: nothing here computes a statistic.

use super::ProbeReport;
use crate::battery::spec::Category;
use crate::verdict::{Basis, Verdict};

pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Inconclusive => "INCONCLUSIVE",
    }
}

pub fn category_word(c: Category) -> &'static str {
    match c {
        Category::Trigger => "trigger",
        Category::Robustness => "robustness",
        Category::Adversarial => "adversarial",
    }
}

/// What the probe's `control_attack_success_rate` was measured on.
pub fn comparison_word(basis: Basis) -> &'static str {
    match basis {
        Basis::Reference => "reference",
        Basis::Baseline => "recorded baseline",
        Basis::SelfBaseline | Basis::Robustness => "control",
    }
}

/// A share as a percentage with one decimal, `–` when absent.
pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{:.1}%", 100.0 * v))
}

/// The transform's kind (`patch`, `blend`, …) as battery files spell it.
pub fn transform_kind(p: &ProbeReport) -> String {
    p.transform.kind().to_string()
}

/// The probe's numbers in one line, e.g. `ASR 99.7% [98.1%, 100.0%] into class 7 vs control
/// 37.0%, corrected p = 1.72e-66; flip rate 63.0%`.
pub fn headline(p: &ProbeReport) -> String {
    let mut parts = Vec::new();
    if p.category == Category::Trigger || p.attack_success_rate.is_some() {
        let mut asr = format!("ASR {}", pct(p.attack_success_rate));
        if let Some(ci) = p.attack_success_interval {
            asr.push_str(&format!(" [{}, {}]", pct(Some(ci.lower)), pct(Some(ci.upper))));
        }
        if let Some(class) = p.target_class {
            asr.push_str(&format!(" into class {class}"));
        }
        if p.control_attack_success_rate.is_some() {
            asr.push_str(&format!(" vs {} {}", comparison_word(p.basis), pct(p.control_attack_success_rate)));
        }
        if let Some(pv) = p.p_value {
            asr.push_str(&format!(", corrected p = {pv:.2e}"));
        }
        parts.push(asr);
    }
    let mut flips = format!("flip rate {}", pct(Some(p.flip_rate)));
    if p.control_flip_rate.is_some() {
        flips.push_str(&format!(" (control {})", pct(p.control_flip_rate)));
    }
    parts.push(flips);
    if let Some(drop) = p.accuracy_drop {
        parts.push(format!("accuracy drop {:.1} pts", 100.0 * drop));
    }
    parts.join("; ")
}

/// Rows of a vocabulary sweep's ranking table, best first, as text cells: rank, into class,
/// flip-into rate, its 95% interval, the control tokens' rate, the Fisher p-value and the robust
/// z-score. Tokens are left to the exporter, which quotes them its own way.
pub fn token_rows(sweep: &crate::search::vocabulary::Sweep, most: usize) -> Vec<(&[String], [String; 7])> {
    sweep
        .ranked
        .iter()
        .take(most)
        .enumerate()
        .map(|(rank, c)| {
            let cells = [
                (rank + 1).to_string(),
                c.class.to_string(),
                pct(Some(c.flip_into_rate)),
                format!("{:.1}–{:.1}%", 100.0 * c.interval[0], 100.0 * c.interval[1]),
                pct(Some(c.control_rate)),
                format!("{:.2e}", c.p_value),
                format!("{:.1}", c.robust_z),
            ];
            (c.tokens.as_slice(), cells)
        })
        .collect()
}

/// One line on a sweep's size and throughput (with the half of the samples it used when that is
/// the uncertain one, the group screen's coverage first, and the
/// chosen token against the natural cues of its class last, when the vocabulary was screened).
pub fn sweep_line(sweep: &crate::search::vocabulary::Sweep) -> String {
    let screen = sweep.screen.as_ref().map_or(String::new(), |s| {
        format!(
            "Group screen: {} of {} tokens tried in groups of {}, {} ruled out, {} outranked, {} shortlisted \
             ({} levels on {} inputs, {} queries); ",
            s.tried,
            sweep.vocabulary,
            s.group_size,
            s.ruled_out,
            s.outranked,
            s.shortlisted,
            s.levels,
            s.inputs,
            s.queries
        )
    });
    let units = sweep.units.as_ref().map_or(String::new(), |u| {
        format!(
            "Multi-piece words swept as units (pieces inserted together): {} from the data, {} from the word \
             list ({} list entries of one piece, swept as tokens); ",
            u.from_data, u.from_list, u.single_piece
        )
    });
    // Said only for the uncertain half: the default's line reads as it always has.
    let inputs = match sweep.inputs {
        crate::battery::spec::SweepInputs::Confident => "",
        crate::battery::spec::SweepInputs::Uncertain => {
            "Swept and confirmed on the uncertain half of the samples (clean confidence below the median), \
             with its own control tokens; "
        }
    };
    inputs.to_string()
        + &screen
        + &units
        + &format!(
            "{} of {} tokens swept, {} queries in {:.2} s ({:.0} queries/s); first rung {} inputs, {} rungs, \
         ranked on {} inputs against {} control tokens; {} pairs tried.",
            sweep.swept,
            sweep.vocabulary,
            sweep.queries,
            sweep.seconds,
            sweep.queries_per_second,
            sweep.first_rung_samples,
            sweep.rungs,
            sweep.final_samples,
            sweep.control_tokens,
            sweep.pairs_tried
        )
        + &sweep.crowd.as_ref().map_or(String::new(), crowd_sentence)
        + &positions_sentence(sweep)
        + &sweep.differential.as_ref().map_or(String::new(), differential_sentence)
}

/// Which references a differential sweep searched against; empty for a self-baseline sweep.
fn differential_sentence(d: &crate::search::vocabulary::differential::DifferentialSweep) -> String {
    let names: Vec<String> = d.references.iter().map(|r| format!("'{r}'")).collect();
    format!(
        " Differential: every edit was also scored on the reference{} {}, and the tokens were ranked by the \
         candidate's response beyond the nearest reference's ({} model queries per edit, counted above).",
        if names.len() == 1 { "" } else { "s" },
        names.join(", "),
        d.queries_per_edit
    )
}

/// The searches at one place (`positions:`), and where the chosen token works; empty without.
fn positions_sentence(sweep: &crate::search::vocabulary::Sweep) -> String {
    use crate::search::vocabulary::crowd::Placement;
    let place = |p: Placement| match p {
        Placement::Drawn => "drawn boundaries",
        Placement::Start => "the start",
        Placement::End => "the end",
    };
    let mut out = String::new();
    for s in &sweep.positions {
        let best = match (&s.chosen, &s.crowd) {
            (Some(c), Some(t)) => format!(
                "; strongest '{}' raises the margin of class {} by {:.1} there, against {:.1} for the words put \
                 there (median), so it {}",
                c.tokens.join(" "),
                t.class,
                t.effect,
                t.crowd_median,
                if t.stands_out == Some(true) { "stands out" } else { "is a natural cue" }
            ),
            _ => String::new(),
        };
        out += &format!(
            " Searched at {}: {} tokens tried alone, {} kept, {} queries{best}.",
            place(s.placement),
            s.tried,
            s.kept,
            s.queries
        );
    }
    if let Some(p) = sweep.placement {
        out += &format!(" The chosen token works at {} and is confirmed there, against controls put there.", place(p));
    }
    out
}

/// What a search covered and the budget it had, in one sentence (`None` when the report
/// predates both).
pub fn search_scope_line(search: &crate::search::SearchSummary) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(c) = &search.coverage {
        if c.grid < c.space {
            let steps: Vec<String> = c.steps.iter().map(|[dy, dx]| format!("{dy}x{dx}")).collect();
            parts.push(format!(
                "{} candidates asked for; positions coarsened to steps of {} px, {} candidates",
                c.space,
                steps.join(" / "),
                c.grid
            ));
        }
        let share = if c.grid == 0 { 0.0 } else { 100.0 * c.evaluated as f64 / c.grid as f64 };
        let skipped = c.grid - c.evaluated.min(c.grid);
        parts.push(format!(
            "searched {} of {} ({share:.1}%; {skipped} skipped to fit the budget), {} rungs from {} inputs each",
            c.evaluated, c.grid, c.rungs, c.first_rung_samples
        ));
    }
    if let Some(b) = &search.budget {
        let why = b.limited_by.as_ref().map_or_else(String::new, |w| format!(", cut by the {w}"));
        // The vocabulary sweep's searches at one place are outside its budget (docs/batteries.md).
        let placed: u64 = search.vocabulary.iter().flat_map(|v| &v.positions).map(|p| p.queries).sum();
        let outside = if placed > 0 {
            format!(" ({placed} of them in the searches at one place, outside the budget)")
        } else {
            String::new()
        };
        parts.push(format!(
            "budget {} of {} queries requested{why}; spent {}{outside}",
            b.granted, b.requested, search.queries
        ));
    }
    if parts.is_empty() { None } else { Some(parts.join("; ")) }
}

/// Text made safe inside HTML and SVG markup (element content and quoted attributes).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text with invisible and bidirectional-control characters spelled out (`<U+200B>`), so a
/// reader sees what a probe inserted.
pub fn visible(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' => {
                format!("<U+{:04X}>", c as u32)
            }
            c => c.to_string(),
        })
        .collect()
}

/// The chosen token against the crowd of its class, and the natural cues the sweep saw.
fn crowd_sentence(c: &crate::search::vocabulary::crowd::CrowdTest) -> String {
    let list = |cues: &[crate::search::vocabulary::crowd::Cue]| -> String {
        let items: Vec<String> =
            cues.iter().map(|c| format!("'{}' {:.1} into class {}", c.tokens.join(" "), c.effect, c.class)).collect();
        if items.is_empty() { "none".into() } else { items.join(", ") }
    };
    let judged = match (c.anomaly_index, c.stands_out) {
        (Some(z), Some(true)) => {
            format!(
                "stands out from them (anomaly index {z:.1}) and overrides the strongest content ({:.1})",
                c.content
            )
        }
        (Some(z), _) => {
            format!("is a natural cue (anomaly index {z:.1}; strongest content {:.1}, to override)", c.content)
        }
        _ => "too few other movers to compare with; the confirmation alone decides".into(),
    };
    format!(
        " Chosen {} raises the margin of class {} by {:.1} (drawn / start / end: {:.1} / {:.1} / {:.1}); the natural \
         cues of that class raise it by {:.1} (median; {}); it {judged}. Other natural cues seen: {}.",
        c.tokens.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(" + "),
        c.class,
        c.effect,
        c.effects[0],
        c.effects[1],
        c.effects[2],
        c.crowd_median,
        list(&c.crowd),
        list(&c.other_cues)
    )
}
