//! Does a statement contradict itself? Its subjects must carry the digests its predicate
//! records, and its claimed verdicts must be the roll-up ([`crate::verdict::roll_up`]) of its
//! per-probe verdicts, as `probity scan` computes them. A hand-edited statement (a verdict
//! flipped to `pass`, a subject's digest swapped for another model's) fails here; a forged one
//! that was edited consistently does not, and only a signature tells it apart.

use std::collections::BTreeSet;

use super::Statement;
use crate::battery::spec::Category;
use crate::report::text::verdict_word;
use crate::verdict::{self, Verdict};

impl Statement {
    /// Every contradiction, one sentence each, naming the fields involved; empty when none.
    pub fn contradictions(&self) -> Vec<String> {
        let mut found = self.subject_contradictions();
        found.extend(self.verdict_contradictions());
        found
    }

    fn subject_contradictions(&self) -> Vec<String> {
        let mut found = Vec::new();
        let model = &self.predicate.model;
        let mut names = BTreeSet::new();
        for s in &self.subject {
            if !names.insert(s.name.as_str()) {
                found.push(format!("subject '{}' is listed more than once", s.name));
            }
        }
        if let Some(subject) = self.model_subject()
            && !subject.digest.sha256.eq_ignore_ascii_case(&model.sha256)
        {
            found.push(format!(
                "subject '{}' has sha256 {}, but predicate.model.sha256 is {}",
                subject.name, subject.digest.sha256, model.sha256
            ));
        }
        let external = self.subject.iter().filter(|s| s.name != model.name);
        for s in external.clone() {
            match model.external_data.iter().find(|f| f.path == s.name) {
                Some(f) if f.sha256.eq_ignore_ascii_case(&s.digest.sha256) => {}
                Some(f) => found.push(format!(
                    "subject '{}' has sha256 {}, but predicate.model.external_data gives sha256 {}",
                    s.name, s.digest.sha256, f.sha256
                )),
                None => found.push(format!("subject '{}' is not in predicate.model.external_data", s.name)),
            }
        }
        for f in &model.external_data {
            if !external.clone().any(|s| s.name == f.path) {
                found.push(format!("predicate.model.external_data lists '{}', but no subject names it", f.path));
            }
        }
        found
    }

    fn verdict_contradictions(&self) -> Vec<String> {
        let p = &self.predicate;
        let rolled = verdict::roll_up(p.probes.iter().map(|probe| (probe.category, probe.verdict)), &p.inconclusive);
        let checks = [
            ("verdict", p.verdict, rolled.verdict, None),
            ("backdoor_verdict", p.backdoor_verdict, rolled.backdoor, Some(Category::Trigger)),
            ("robustness_verdict", p.robustness_verdict, rolled.robustness, Some(Category::Robustness)),
        ];
        let mut found = Vec::new();
        for (field, claimed, expected, category) in checks {
            if claimed == expected {
                continue;
            }
            let not_passing: Vec<String> = p
                .probes
                .iter()
                .filter(|probe| category.is_none_or(|c| probe.category == c) && probe.verdict != Verdict::Pass)
                .map(|probe| format!("{}/{}: {}", probe.battery, probe.id, word(probe.verdict)))
                .collect();
            let mut evidence =
                if not_passing.is_empty() { "every probe passed".to_string() } else { not_passing.join(", ") };
            if !p.inconclusive.is_empty() {
                let codes: Vec<&str> = p.inconclusive.iter().map(|i| i.code.name()).collect();
                evidence.push_str(&format!("; inconclusive: {}", codes.join(", ")));
            }
            found.push(format!(
                "predicate.{field} is '{}', but the per-probe verdicts roll up to '{}' ({evidence})",
                word(claimed),
                word(expected)
            ));
        }
        found
    }
}

/// The verdict as the statement spells it.
fn word(v: Verdict) -> String {
    verdict_word(v).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::{
        AttestedBattery, AttestedModel, AttestedProbe, AttestedProvider, AttestedRuntime, DigestSet, PREDICATE_TYPE,
        STATEMENT_TYPE, ScanPredicate, Scanner, Subject,
    };
    use crate::digest::FileDigest;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn probe(id: &str, category: Category, verdict: Verdict) -> AttestedProbe {
        AttestedProbe { battery: "b".into(), id: id.into(), category, verdict }
    }

    /// A passing statement about `m.onnx` with one external data file.
    fn statement() -> Statement {
        let file = FileDigest { path: "x".into(), sha256: A.into() };
        Statement {
            statement_type: STATEMENT_TYPE.into(),
            subject: vec![
                Subject { name: "m.onnx".into(), digest: DigestSet { sha256: A.into() } },
                Subject { name: "m.bin".into(), digest: DigestSet { sha256: B.into() } },
            ],
            predicate_type: PREDICATE_TYPE.into(),
            predicate: ScanPredicate {
                scanner: Scanner { name: "probity".into(), version: "0".into() },
                verdict: Verdict::Pass,
                backdoor_verdict: Verdict::Pass,
                robustness_verdict: Verdict::Pass,
                summary: String::new(),
                report_schema: String::new(),
                model: AttestedModel {
                    name: "m.onnx".into(),
                    path: "m.onnx".into(),
                    sha256: A.into(),
                    external_data: vec![FileDigest { path: "m.bin".into(), sha256: B.into() }],
                },
                data: file.clone(),
                tokenizer: None,
                batteries: vec![AttestedBattery {
                    name: "b".into(),
                    version: "1".into(),
                    path: "b.yaml".into(),
                    sha256: A.into(),
                    seed: 0,
                }],
                sample_rng: String::new(),
                onnxruntime: AttestedRuntime { version: "1".into(), library_sha256: A.into() },
                execution_provider: AttestedProvider { requested: "cpu".into(), used: "cpu".into() },
                correction: crate::verdict::Correction::Holm,
                references: Vec::new(),
                baseline_model_sha256: None,
                thresholds: None,
                probes: vec![
                    probe("t", Category::Trigger, Verdict::Pass),
                    probe("r", Category::Robustness, Verdict::Pass),
                ],
                inconclusive: Vec::new(),
                inconclusive_as: None,
            },
        }
    }

    #[test]
    fn a_statement_as_scan_writes_it_has_no_contradiction() {
        assert_eq!(statement().contradictions(), Vec::<String>::new());
        let mut failed = statement();
        failed.predicate.probes[0].verdict = Verdict::Fail;
        failed.predicate.verdict = Verdict::Fail;
        failed.predicate.backdoor_verdict = Verdict::Fail;
        assert_eq!(failed.contradictions(), Vec::<String>::new());
    }

    #[test]
    fn a_verdict_flipped_to_pass_contradicts_the_failing_probe() {
        let mut s = statement();
        s.predicate.probes[0].verdict = Verdict::Fail;
        s.predicate.backdoor_verdict = Verdict::Fail;
        assert_eq!(
            s.contradictions(),
            ["predicate.verdict is 'pass', but the per-probe verdicts roll up to 'fail' (b/t: fail)"]
        );
        s.predicate.backdoor_verdict = Verdict::Pass;
        assert_eq!(s.contradictions().len(), 2);
        assert!(s.contradictions()[1].starts_with("predicate.backdoor_verdict is 'pass'"));
    }

    #[test]
    fn a_claimed_failure_without_a_failing_probe_is_a_contradiction_too() {
        let mut s = statement();
        s.predicate.robustness_verdict = Verdict::Fail;
        assert_eq!(
            s.contradictions(),
            [
                "predicate.robustness_verdict is 'fail', but the per-probe verdicts roll up to 'pass' (every probe passed)"
            ]
        );
    }

    #[test]
    fn an_inconclusive_scan_flipped_to_pass_contradicts_its_reasons() {
        use crate::verdict::adequacy::{Code, Inconclusive};
        let mut s = statement();
        s.predicate.inconclusive =
            vec![Inconclusive { code: Code::NonFiniteOutput, message: String::new(), probes: Vec::new() }];
        let contradictions = s.contradictions();
        assert_eq!(contradictions.len(), 3, "{contradictions:?}");
        assert_eq!(
            contradictions[0],
            "predicate.verdict is 'pass', but the per-probe verdicts roll up to 'inconclusive' (every probe \
             passed; inconclusive: non-finite-output)"
        );
        s.predicate.verdict = Verdict::Inconclusive;
        s.predicate.backdoor_verdict = Verdict::Inconclusive;
        s.predicate.robustness_verdict = Verdict::Inconclusive;
        assert_eq!(s.contradictions(), Vec::<String>::new());
    }

    #[test]
    fn subjects_must_carry_the_predicate_digests() {
        let mut s = statement();
        s.subject[0].digest.sha256 = B.into();
        assert_eq!(s.contradictions(), [format!("subject 'm.onnx' has sha256 {B}, but predicate.model.sha256 is {A}")]);
        let mut s = statement();
        s.subject[1].digest.sha256 = A.into();
        s.subject.push(Subject { name: "extra.bin".into(), digest: DigestSet { sha256: A.into() } });
        s.predicate.model.external_data.push(FileDigest { path: "gone.bin".into(), sha256: A.into() });
        assert_eq!(
            s.contradictions(),
            [
                format!("subject 'm.bin' has sha256 {A}, but predicate.model.external_data gives sha256 {B}"),
                "subject 'extra.bin' is not in predicate.model.external_data".to_string(),
                "predicate.model.external_data lists 'gone.bin', but no subject names it".to_string(),
            ]
        );
        let mut s = statement();
        s.subject.push(s.subject[0].clone());
        assert_eq!(s.contradictions(), ["subject 'm.onnx' is listed more than once"]);
    }
}
