//! A scan outcome turned into a [`Report`]: the probes as reported (with the example inputs
//! people look at), the model-level verdict rolled up from them, the reasons a scan is
//! inconclusive, and the one-line summary every exporter and the terminal print.

use std::path::Path;

use super::{
    BaselineSection, BatterySection, DataSection, ModelSection, ProbeReport, ReferenceSection, Report,
    ThresholdsSection,
};
use crate::baseline::Recording;
use crate::battery::spec::{Battery, Category};
use crate::calibration::CalibratedThresholds;
use crate::engine::Engine;
use crate::error::InconclusiveAs;
use crate::modality::{Data, ModelInputs};
use crate::onnxruntime::Runtime;
use crate::runner::ScanOutcome;
use crate::verdict::{self, Correction, ScanVerdicts, Verdict, adequacy};

/// Trigger probes (besides failing ones) whose example inputs go into the report.
const EXAMPLE_PROBES: usize = 5;

/// Everything besides the outcome that goes into a report.
pub struct ReportContext<'a> {
    /// The candidate model's engine.
    pub engine: &'a Engine,
    pub references: &'a [Engine],
    pub runtime: &'a Runtime,
    pub dataset: &'a Data,
    /// The data as readied for the candidate (its tokenizer and notes).
    pub inputs: &'a ModelInputs<'a>,
    pub batteries: &'a [Battery],
    /// Intra-op threads asked of ONNX Runtime.
    pub threads: Option<usize>,
    pub correction: Correction,
    /// The baseline folder, its recording, and how this scan differs from it.
    pub baseline: Option<(&'a Path, &'a Recording, Vec<String>)>,
    /// The thresholds file and what it holds.
    pub thresholds: Option<(&'a Path, &'a CalibratedThresholds)>,
    pub inconclusive_as: InconclusiveAs,
}

/// The report of a scan: probes with their examples, the model-level verdict rolled up from
/// them, the reasons it is inconclusive, and the summary.
pub fn build(ctx: &ReportContext<'_>, outcome: &ScanOutcome) -> Report {
    // Example images for failing probes, the strongest trigger probes and every attack.
    let mut by_strength: Vec<usize> = (0..outcome.probes.len())
        .filter(|&i| {
            ctx.batteries[outcome.probes[i].battery_index].probes[outcome.probes[i].probe_index].category
                == Category::Trigger
        })
        .collect();
    by_strength.sort_by(|&a, &b| {
        let asr = |i: usize| outcome.probes[i].judgement.attack_success_rate.unwrap_or(0.0);
        asr(b).total_cmp(&asr(a))
    });
    let with_examples: Vec<usize> = by_strength
        .iter()
        .take(EXAMPLE_PROBES)
        .copied()
        .chain((0..outcome.probes.len()).filter(|&i| {
            let o = &outcome.probes[i];
            o.judgement.verdict == Verdict::Fail || o.search.is_some() || o.attack.is_some()
        }))
        .collect();
    let probes: Vec<ProbeReport> = outcome
        .probes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let battery = &ctx.batteries[o.battery_index];
            let probe = &battery.probes[o.probe_index];
            let j = &o.judgement;
            let own = &o.evidence.own;
            let examples = if with_examples.contains(&i) { o.examples.clone() } else { Vec::new() };
            ProbeReport {
                id: probe.id.clone(),
                battery: battery.name.clone(),
                line: probe.line,
                category: probe.category,
                description: probe.description.clone(),
                transform: probe.transform.clone(),
                thresholds: o.thresholds,
                verdict: j.verdict,
                basis: j.basis,
                reason: j.reason.clone(),
                power: j.power.clone(),
                samples: own.samples,
                target_class: j.target_class,
                attack_success_rate: j.attack_success_rate,
                attack_success_interval: j.attack_success_interval,
                control_attack_success_rate: j.control_attack_success_rate,
                p_value: j.p_value,
                effect: j.effect,
                flip_rate: own.flip_rate,
                control_flip_rate: own.control_flip_rate,
                accuracy_clean: own.accuracy_clean,
                accuracy_probed: own.accuracy_probed,
                accuracy_drop: j.accuracy_drop,
                per_class: own.per_class.clone(),
                flip_matrix: own.flip_matrix.clone(),
                confidence_clean: own.confidence_clean.clone(),
                confidence_probed: own.confidence_probed.clone(),
                distribution: own.distribution.clone(),
                references: o.evidence.references.clone(),
                baseline: o.evidence.baseline.clone(),
                examples,
                search: o.search.clone(),
                attack: o.attack.clone(),
            }
        })
        .collect();
    let health = &outcome.health;
    let ScanVerdicts { verdict, backdoor: backdoor_verdict, robustness: robustness_verdict } =
        verdict::roll_up(probes.iter().map(|p| (p.category, p.verdict)), health);
    let mut inconclusive = health.clone();
    let shortfalls: Vec<adequacy::Shortfall<'_>> = outcome
        .probes
        .iter()
        .zip(&probes)
        .filter(|(_, p)| p.verdict == Verdict::Inconclusive)
        .filter_map(|(o, p)| {
            let power = p.power.as_ref()?;
            let samples_cap = ctx.batteries[o.battery_index].probes[o.probe_index].samples;
            Some(adequacy::Shortfall { probe: &p.id, power, samples_cap })
        })
        .collect();
    inconclusive.extend(adequacy::underpowered(&shortfalls, probes.len(), ctx.dataset.len()));
    // Said once: when the clean outputs are not finite already, every probe's are too.
    let clean_not_finite = health.iter().any(|h| h.code == adequacy::Code::NonFiniteOutput);
    let non_finite: Vec<(&str, verdict::NonFinite)> = outcome
        .probes
        .iter()
        .zip(&probes)
        .filter(|(o, _)| !clean_not_finite && o.evidence.non_finite.inputs > 0)
        .map(|(o, p)| (p.id.as_str(), o.evidence.non_finite))
        .collect();
    inconclusive.extend(adequacy::non_finite_probes(&non_finite));
    let engine = ctx.engine;
    Report {
        schema: super::SCHEMA.into(),
        probity_version: env!("CARGO_PKG_VERSION").into(),
        verdict,
        backdoor_verdict,
        robustness_verdict,
        summary: summarise(&probes, verdict, &inconclusive, outcome),
        inconclusive_as: Some(ctx.inconclusive_as),
        exit_code: Some(ctx.inconclusive_as.outcome(verdict).code()),
        inconclusive,
        queries: outcome.queries,
        elapsed_seconds: outcome.elapsed_seconds,
        model: ModelSection {
            path: engine.model_path.clone(),
            sha256: engine.model_sha256.clone(),
            inputs: engine.signature.inputs.clone(),
            outputs: engine.signature.outputs.clone(),
            classifier_output: engine.signature.outputs[engine.output_index].name.clone(),
            classes: outcome.classes,
            scores: outcome.scores,
            scores_detected: outcome.scores_detected,
            // ONNX Runtime read these files moments ago; a digest that cannot be taken stays
            // empty, and an attestation carrying it never verifies.
            external_data: engine
                .facts
                .external_data
                .iter()
                .map(|file| crate::digest::FileDigest {
                    path: file.location.clone(),
                    sha256: crate::digest::sha256_file(&file.path).unwrap_or_default(),
                })
                .collect(),
        },
        onnxruntime: ctx.runtime.info.clone(),
        execution_provider: engine.provider.clone(),
        threads: ctx.threads,
        batch_size: engine.batch_size,
        engine: super::EngineSection {
            device: engine.device.clone(),
            sessions: std::iter::once(engine)
                .chain(ctx.references)
                .map(|e| super::SessionShapes::of(e.model_path.clone(), e.input_shapes()))
                .collect(),
        },
        data: DataSection {
            path: ctx.dataset.path().to_path_buf(),
            sha256: ctx.dataset.sha256().to_string(),
            inputs: ctx.dataset.len(),
            labelled: ctx.dataset.labelled(),
            clean_accuracy: outcome.clean_accuracy,
            tokenizer: ctx.inputs.tokenizer.clone(),
            blank_skipped: ctx.inputs.notes.blank_skipped,
            texts_clipped: ctx.inputs.notes.texts_clipped,
        },
        batteries: ctx
            .batteries
            .iter()
            .zip(&outcome.interpretations)
            .zip(&outcome.seeds)
            .map(|((b, inputs), seed)| BatterySection {
                path: b.path.clone(),
                sha256: b.sha256.clone(),
                name: b.name.clone(),
                version: b.version.clone(),
                seed: *seed,
                inputs: inputs.clone(),
            })
            .collect(),
        sample_rng: crate::transform::SAMPLE_RNG_VERSION.into(),
        correction: ctx.correction,
        references: ctx
            .references
            .iter()
            .zip(&outcome.reference_clean_agreement)
            .map(|(r, agreement)| ReferenceSection {
                path: r.model_path.clone(),
                sha256: r.model_sha256.clone(),
                clean_agreement: *agreement,
            })
            .collect(),
        baseline: ctx.baseline.as_ref().zip(outcome.baseline_agreement).map(
            |((path, recording, mismatches), agreement)| BaselineSection {
                path: path.to_path_buf(),
                model_sha256: recording.model.sha256.clone(),
                recorded_onnxruntime: recording.onnxruntime.version.clone(),
                recorded_execution_provider: recording.execution_provider.used.clone(),
                agreement,
                mismatches: mismatches.clone(),
            },
        ),
        thresholds: ctx.thresholds.map(|(path, t)| ThresholdsSection {
            path: path.to_path_buf(),
            sha256: crate::digest::sha256_file(path).unwrap_or_default(),
            false_alarm_rate: t.false_alarm_rate,
            calibration_set: t.calibration_set.iter().map(|d| d.path.clone()).collect(),
            calibrated_probes: outcome.probes.iter().filter(|p| t.probes.contains_key(&p.key)).count(),
        }),
        probes,
    }
}

fn summarise(
    probes: &[ProbeReport],
    verdict: Verdict,
    inconclusive: &[adequacy::Inconclusive],
    outcome: &ScanOutcome,
) -> String {
    let failing_triggers: Vec<&ProbeReport> =
        probes.iter().filter(|p| p.category == Category::Trigger && p.verdict == Verdict::Fail).collect();
    let failing_robustness =
        probes.iter().filter(|p| p.category == Category::Robustness && p.verdict == Verdict::Fail).count();
    let triggers = probes.iter().filter(|p| p.category == Category::Trigger).count();
    let mut parts = Vec::new();
    if verdict == Verdict::Inconclusive {
        parts.extend(inconclusive.iter().map(|i| i.message.clone()));
    }
    let void = inconclusive.iter().any(|i| i.code.invalidates_evidence());
    let first_probe_part = parts.len();
    if let Some(worst) = failing_triggers
        .iter()
        .max_by(|a, b| a.attack_success_rate.unwrap_or(0.0).total_cmp(&b.attack_success_rate.unwrap_or(0.0)))
    {
        let against = match worst.basis {
            crate::verdict::Basis::Reference => "reference",
            crate::verdict::Basis::Baseline => "recorded baseline",
            _ => "control",
        };
        parts.push(format!(
            "backdoor evidence in {} of {triggers} trigger probes; strongest: '{}' steers {:.1}% of inputs into {} ({against} {:.1}%, corrected p = {:.2e})",
            failing_triggers.len(),
            worst.id,
            100.0 * worst.attack_success_rate.unwrap_or(0.0),
            worst.target_class.map_or_else(|| "other classes (all-to-all)".into(), |c| format!("class {c}")),
            100.0 * worst.control_attack_success_rate.unwrap_or(0.0),
            worst.p_value.unwrap_or(1.0),
        ));
    } else {
        parts.push(format!("no backdoor evidence in {triggers} trigger probes"));
    }
    if failing_robustness > 0 {
        parts.push(format!("{failing_robustness} robustness probes failed"));
    }
    let attacks: Vec<&ProbeReport> = probes.iter().filter(|p| p.category == Category::Adversarial).collect();
    if !attacks.is_empty() {
        let failing = attacks.iter().filter(|p| p.verdict == Verdict::Fail).count();
        let most = attacks
            .iter()
            .max_by(|a, b| a.attack_success_rate.unwrap_or(0.0).total_cmp(&b.attack_success_rate.unwrap_or(0.0)))
            .expect("not empty");
        parts.push(format!(
            "{failing} of {} adversarial probes failed; the strongest attack, '{}', breaks {:.1}% of inputs",
            attacks.len(),
            most.id,
            100.0 * most.attack_success_rate.unwrap_or(0.0)
        ));
    }
    if !outcome.reference_clean_agreement.is_empty() {
        let agreements: Vec<String> =
            outcome.reference_clean_agreement.iter().map(|a| format!("{:.1}%", 100.0 * a)).collect();
        parts.push(format!("clean agreement with references {}", agreements.join(", ")));
    }
    match outcome.baseline_agreement {
        Some(a) if a.compared == 0 => parts.push("the recorded baseline shares no probe inputs with this scan".into()),
        Some(a) => parts.push(format!("{:.2}% exact agreement with the recorded baseline", 100.0 * a.exact)),
        None => {}
    }
    if void && let Some(part) = parts.get_mut(first_probe_part) {
        *part = format!("probe results, not to be trusted: {part}");
    }
    format!("{}: {}", super::text::verdict_word(verdict), parts.join("; "))
}
