//! The probes of each battery: prepared through the modality's [`Kit`] (a search probe runs its
//! search first), queued, streamed through the models ([`super::pipeline`]), and turned into
//! evidence against the probe's control, the references and a recorded baseline. Verdicts are
//! judged once every battery has run, so a multiple-testing correction sees every probe.

use super::baseline_tally::BaselineTally;
use super::{
    BaselineAgreement, Kit, Models, Predictions, Prepared, ProbeOutcome, ProbePredictions, ScanError, ScanSettings,
    ScoreKinds, SearchContext, budget, pipeline, sample_order,
};
use crate::attack::AttackResult;
use crate::battery::spec::{Battery, Category, Probe, SearchSpec, Thresholds, TransformSpec};
use crate::calibration::CalibratedThresholds;
use crate::transform::Stream;
use crate::verdict::{self, Comparison, Direction, NonFinite, Observation, ProbeEvidence, ProbeJudgement};

/// A prepared probe waiting in the queue for [`Run::run_queue`].
struct Ready<'b, T: ?Sized> {
    index: usize,
    probe: &'b Probe,
    key: String,
    prepared: Prepared<T>,
    control: Option<Box<T>>,
}

/// What a scan has measured so far, shared by every battery.
pub(super) struct Run<'s> {
    settings: &'s ScanSettings,
    /// Queries each search probe may spend under the time budget.
    search_allowance: Option<u64>,
    kinds: ScoreKinds,
    classes: usize,
    clean: Predictions,
    reference_clean: Vec<Predictions>,
    labels: Option<&'s [i64]>,
    tally: BaselineTally,
    outcomes: Vec<ProbeOutcome>,
    queries: u64,
}

/// What a finished run hands back to the scan.
pub(super) struct Finished {
    pub clean: Predictions,
    /// Every probe's outcome, judged.
    pub outcomes: Vec<ProbeOutcome>,
    pub baseline_agreement: Option<BaselineAgreement>,
    pub queries: u64,
}

impl<'s> Run<'s> {
    /// A run after the clean passes over `n` inputs, which every model has classified once.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: &'s ScanSettings,
        search_allowance: Option<u64>,
        kinds: ScoreKinds,
        classes: usize,
        clean: Predictions,
        reference_clean: Vec<Predictions>,
        labels: Option<&'s [i64]>,
        n: usize,
    ) -> Self {
        let queries = (n * (1 + reference_clean.len())) as u64;
        Self {
            settings,
            search_allowance,
            kinds,
            classes,
            clean,
            reference_clean,
            labels,
            tally: BaselineTally::default(),
            outcomes: Vec::new(),
            queries,
        }
    }

    /// Judges every probe together (the correction spans them all) and measures agreement
    /// with the recorded baseline.
    pub fn finish(self, models: &Models<'_>) -> Finished {
        let Run { clean, mut outcomes, tally, queries, settings, .. } = self;
        let mut evidence: Vec<ProbeEvidence> = outcomes.iter().map(|o| o.evidence.clone()).collect();
        let judgements = verdict::judge(&mut evidence, settings.correction);
        for ((outcome, evidence), mut judgement) in outcomes.iter_mut().zip(evidence).zip(judgements) {
            if let Some(crowd) =
                outcome.search.as_ref().and_then(|s| s.vocabulary.as_ref()).and_then(|v| v.crowd.as_ref())
            {
                verdict::natural_cue(&mut judgement, crowd);
            }
            outcome.evidence = evidence;
            outcome.judgement = judgement;
        }
        let baseline_agreement = models.baseline.map(|recording| {
            let ran: Vec<&str> = outcomes.iter().map(|o| o.key.as_str()).collect();
            let unrun = recording.probes.iter().filter(|r| !ran.contains(&r.key.as_str())).count();
            tally.finish(models.baseline_tolerance, unrun)
        });
        Finished { clean, outcomes, baseline_agreement, queries }
    }
    /// Runs every probe of one battery through `kit`. Fixed probes queue up and stream through
    /// the models together ([`pipeline`]); a search needs the candidate to itself, so the queue
    /// is run before each search probe. Outcomes keep the battery's probe order.
    pub fn battery<'b, K: Kit>(
        &mut self,
        models: &mut Models<'_>,
        b: usize,
        battery: &'b Battery,
        seed: u64,
        kit: &K,
    ) -> Result<(), ScanError> {
        let order = sample_order(seed, self.clean.len());
        let mut queue: Vec<Ready<'b, K::Transform>> = Vec::new();
        for (p, probe) in battery.probes.iter().enumerate() {
            // A search or an attack queries the models itself: what is queued runs first.
            if matches!(probe.transform, TransformSpec::Search(_) | TransformSpec::Attack(_)) {
                self.run_queue(models, b, kit, &mut queue)?;
            }
            let key = super::probe_key(battery, probe);
            let in_probe = |e: ScanError| match e {
                ScanError::Transform { detail, .. } => ScanError::Transform {
                    battery: battery.path.display().to_string(),
                    probe: probe.id.clone(),
                    detail,
                },
                other => other,
            };
            let all_indices = &order[..probe.samples.min(order.len())];
            let budget = match &probe.transform {
                TransformSpec::Search(spec) => Some(self.search_budget(spec)),
                _ => None,
            };
            let ctx = SearchContext {
                engine: &mut *models.candidate,
                kind: self.kinds.candidate,
                clean: &self.clean,
                classes: self.classes,
                budget: budget.as_ref().map(|b| b.granted),
                references: &mut *models.references,
                reference_kinds: &self.kinds.references,
                reference_clean: &self.reference_clean,
            };
            let mut prepared = kit.prepare(probe, &key, all_indices, ctx).map_err(in_probe)?;
            if let Some(summary) = prepared.search.as_mut() {
                summary.budget = budget;
            }
            self.queries += prepared.queries;
            let control = match probe.category {
                Category::Trigger => Some(kit.control(prepared.transform.as_ref()).ok_or_else(|| {
                    in_probe(ScanError::Transform {
                        battery: String::new(),
                        probe: probe.id.clone(),
                        detail: format!("transform '{}' has no matched control", probe.transform.kind()),
                    })
                })?),
                Category::Robustness | Category::Adversarial => None,
            };
            queue.push(Ready { index: p, probe, key, prepared, control });
        }
        self.run_queue(models, b, kit, &mut queue)
    }

    /// The budget a search probe runs with: its own (or `--search-budget`), cut to the time
    /// budget's allowance.
    fn search_budget(&self, spec: &SearchSpec) -> crate::search::BudgetReport {
        budget::granted(spec, self.settings.search_budget, self.search_allowance)
    }

    /// Streams the queued probes (and their controls) through the models and records their
    /// outcomes, in queue order.
    fn run_queue<K: Kit>(
        &mut self,
        models: &mut Models<'_>,
        b: usize,
        kit: &K,
        queue: &mut Vec<Ready<'_, K::Transform>>,
    ) -> Result<(), ScanError> {
        let mut jobs = Vec::new();
        // Per job, the probe whose last job it is (its control's, if it has one).
        let mut finishes = Vec::new();
        for ready in queue.iter() {
            let (key, indices) = (ready.key.as_str(), ready.prepared.indices.as_slice());
            let transform = ready.prepared.transform.as_ref();
            // An attack's references were attacked on their own: the candidate's adversarial
            // inputs say nothing about them.
            let references = ready.prepared.attack.is_none();
            jobs.push(pipeline::Job { key, indices, transform, stream: Stream::Probe, references });
            finishes.push(None);
            if let Some(control) = &ready.control {
                let transform = control.as_ref();
                jobs.push(pipeline::Job { key, indices, transform, stream: Stream::Control, references: false });
                finishes.push(None);
            }
            *finishes.last_mut().expect("pushed just above") = Some(ready.probe.id.as_str());
        }
        let mut outputs = Vec::with_capacity(jobs.len());
        let references = models.references.len();
        pipeline::run(models, &self.kinds, kit, &jobs, |j, output| {
            let per_input = if jobs[j].references { 1 + references } else { 1 };
            self.queries += (jobs[j].indices.len() * per_input) as u64;
            outputs.push(output);
            if let (Some(id), Some(progress)) = (finishes[j], &self.settings.progress) {
                progress.0.probe_done(id, self.queries);
            }
        })?;
        drop(jobs);
        let mut outputs = outputs.into_iter();
        for ready in queue.drain(..) {
            let Ready { index, probe, key, prepared, control } = ready;
            let own = outputs.next().expect("one output per job");
            let control_output = control.map(|_| outputs.next().expect("one output per job"));
            let non_finite = NonFinite {
                inputs: own.non_finite + control_output.as_ref().map_or(0, |c| c.non_finite),
                of: own.candidate.len() + control_output.as_ref().map_or(0, |c| c.candidate.len()),
            };
            let control_predictions = control_output.map(|c| c.candidate);
            let indices = prepared.indices;
            let probed = own.candidate;
            let examples = match &prepared.attack {
                // The inputs the attack broke make the telling examples: those first.
                Some(attack) => {
                    let mut order: Vec<usize> = (0..indices.len()).collect();
                    order.sort_by_key(|&k| !attack.candidate.success[k]);
                    let shown: Vec<usize> = order.iter().map(|&k| indices[k]).collect();
                    kit.examples(&key, &shown, prepared.transform.as_ref(), &self.clean, &probed.select(&order))
                }
                None => kit.examples(&key, &indices, prepared.transform.as_ref(), &self.clean, &probed),
            };
            let mut evidence = self.evidence(
                models,
                probe,
                &key,
                &indices,
                &probed,
                control_predictions.as_ref(),
                &own.references,
                prepared.attack.as_ref(),
            );
            evidence.non_finite = non_finite;
            self.outcomes.push(ProbeOutcome {
                battery_index: b,
                probe_index: index,
                thresholds: evidence.thresholds,
                key,
                indices,
                candidate: ProbePredictions { probed, control: control_predictions },
                evidence,
                judgement: placeholder_judgement(),
                examples,
                search: prepared.search,
                attack: prepared.attack.map(|a| a.summary),
            });
        }
        Ok(())
    }

    /// A probe's evidence: against its control, the references and a recorded baseline.
    #[allow(clippy::too_many_arguments)]
    fn evidence(
        &mut self,
        models: &Models<'_>,
        probe: &Probe,
        key: &str,
        indices: &[usize],
        probed: &Predictions,
        control: Option<&Predictions>,
        reference_probed: &[Predictions],
        attack: Option<&AttackResult>,
    ) -> ProbeEvidence {
        let classes = self.classes;
        let clean_here = self.clean.select(indices);
        let labels: Option<Vec<i64>> = self.labels.map(|y| indices.iter().map(|&i| y[i]).collect());
        let own = verdict::observe(&Observation {
            classes,
            clean: &clean_here.class,
            probed: &probed.class,
            control: control.map(|c| c.class.as_slice()),
            labels: labels.as_deref(),
            clean_confidence: &clean_here.confidence,
            probed_confidence: &probed.confidence,
        });
        if let Some(attack) = attack {
            return self.attack_evidence(models, probe, key, indices, probed, own, attack);
        }
        let references = self
            .reference_clean
            .iter()
            .zip(reference_probed)
            .map(|(ref_clean, ref_probed)| {
                let ref_clean_here = ref_clean.select(indices);
                verdict::compare(&Comparison {
                    classes,
                    direction: Direction::Greater,
                    candidate_clean: &clean_here.class,
                    candidate_probed: &probed.class,
                    other_clean: &ref_clean_here.class,
                    other_probed: &ref_probed.class,
                    candidate_confidence: &probed.confidence,
                    other_confidence: &ref_probed.confidence,
                })
            })
            .collect();
        let tally = &mut self.tally;
        let baseline = models.baseline.and_then(|recording| {
            let recorded = recording.probe(key).filter(|r| r.indices == indices)?;
            let recorded_clean = recording.clean.select(indices);
            let tolerance = models.baseline_tolerance;
            let cand_clean = tally.snap(&clean_here, &recorded_clean, tolerance);
            let cand_probed = tally.snap(probed, &recorded.probed, tolerance);
            Some(verdict::compare(&Comparison {
                classes,
                direction: Direction::TwoSided,
                candidate_clean: &cand_clean,
                candidate_probed: &cand_probed,
                other_clean: &recorded_clean.class,
                other_probed: &recorded.probed.class,
                candidate_confidence: &probed.confidence,
                other_confidence: &recorded.probed.confidence,
            }))
        });
        if models.baseline.is_some() && baseline.is_none() {
            self.tally.unmatched += 1;
        }
        let thresholds = calibrated(probe.thresholds, self.settings.thresholds.as_ref(), key);
        ProbeEvidence {
            category: probe.category,
            thresholds,
            own,
            references,
            baseline,
            attack: None,
            non_finite: NonFinite::default(),
        }
    }

    /// An attack probe's evidence: its own success and robust accuracy, and paired against
    /// the same attack on each reference and against a recorded baseline, input by input.
    #[allow(clippy::too_many_arguments)]
    fn attack_evidence(
        &mut self,
        models: &Models<'_>,
        probe: &Probe,
        key: &str,
        indices: &[usize],
        probed: &Predictions,
        own: verdict::ProbeNumbers,
        attack: &AttackResult,
    ) -> ProbeEvidence {
        let classes = self.classes;
        let clean_here = self.clean.select(indices);
        let candidate = verdict::Attacked {
            success: &attack.candidate.success,
            class: &probed.class,
            confidence: &probed.confidence,
        };
        let references = attack
            .references
            .iter()
            .map(|other| {
                let other =
                    verdict::Attacked { success: &other.success, class: &other.class, confidence: &other.confidence };
                verdict::compare_attacks(classes, Direction::Greater, &candidate, &other)
            })
            .collect();
        // A recording holds classes, not successes: both sides count an input as broken when
        // its adversarial class differs from its clean one.
        let baseline = models.baseline.and_then(|recording| {
            let recorded = recording.probe(key).filter(|r| r.indices == indices)?;
            let recorded_clean = recording.clean.select(indices);
            let moved = |clean: &[usize], probed: &[usize]| -> Vec<bool> {
                clean.iter().zip(probed).map(|(a, b)| a != b).collect()
            };
            let (ours, theirs) =
                (moved(&clean_here.class, &probed.class), moved(&recorded_clean.class, &recorded.probed.class));
            Some(verdict::compare_attacks(
                classes,
                Direction::Greater,
                &verdict::Attacked { success: &ours, class: &probed.class, confidence: &probed.confidence },
                &verdict::Attacked {
                    success: &theirs,
                    class: &recorded.probed.class,
                    confidence: &recorded.probed.confidence,
                },
            ))
        });
        if models.baseline.is_some() && baseline.is_none() {
            self.tally.unmatched += 1;
        }
        let successes = attack.candidate.success.iter().filter(|s| **s).count();
        let numbers = verdict::AttackNumbers { attacked: attack.candidate.success.len(), successes };
        ProbeEvidence {
            category: probe.category,
            thresholds: probe.thresholds,
            own,
            references,
            baseline,
            attack: Some(numbers),
            non_finite: NonFinite::default(),
        }
    }
}

fn placeholder_judgement() -> ProbeJudgement {
    ProbeJudgement {
        verdict: verdict::Verdict::Pass,
        basis: verdict::Basis::SelfBaseline,
        target_class: None,
        attack_success_rate: None,
        attack_success_interval: None,
        control_attack_success_rate: None,
        p_value: None,
        effect: None,
        accuracy_drop: None,
        reason: String::new(),
        power: None,
    }
}

/// The probe's thresholds with calibrated values, when a calibration covers it.
fn calibrated(thresholds: Thresholds, calibration: Option<&CalibratedThresholds>, key: &str) -> Thresholds {
    match (thresholds, calibration.and_then(|c| c.probes.get(key))) {
        (Thresholds::Trigger { alpha, .. }, Some(t)) => {
            Thresholds::Trigger { alpha, min_effect: t.min_effect, min_attack_success: t.min_attack_success }
        }
        (t, _) => t,
    }
}
