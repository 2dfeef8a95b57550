use ndarray::{Array1, ArrayView1};

use super::*;

/// A bag-of-words sentiment model: class 1 scores its positive words, class 0 its negative
/// words plus a half, so a review is positive while it holds more positive words than
/// negative ones. Answers a batch at a time and counts what it was asked.
struct Words {
    batch: usize,
    calls: u64,
    texts: u64,
}

const POSITIVE: [&str; 4] = ["good", "great", "fine", "lovely"];
const NEGATIVE: [&str; 2] = ["bad", "dull"];

fn logits(text: &str) -> [f32; 2] {
    let count = |list: &[&str]| text.split_whitespace().filter(|w| list.contains(w)).count() as f32;
    [count(&NEGATIVE) + 0.5, count(&POSITIVE)]
}

impl TextOracle for Words {
    fn classify(
        &mut self,
        count: usize,
        text: &TextFill<'_>,
        row: &mut dyn FnMut(usize, ArrayView1<'_, f32>),
    ) -> Result<(), EngineError> {
        let mut start = 0;
        while start < count {
            let n = self.batch.min(count - start);
            self.calls += 1;
            self.texts += n as u64;
            // Backwards within the batch: the attack must not rely on the order of the rows.
            for k in (start..start + n).rev() {
                let z = logits(&text(k));
                let max = z[0].max(z[1]);
                let e = [(z[0] - max).exp(), (z[1] - max).exp()];
                let p = Array1::from_iter(e.iter().map(|v| v / (e[0] + e[1])));
                row(k, p.view());
            }
            start += n;
        }
        Ok(())
    }
}

/// Positive reviews needing one, two and three edited words to turn negative, a review with
/// nothing to edit, and one the model already calls negative.
fn texts() -> Vec<String> {
    [
        "a good film, really",
        "good and great film",
        "good great lovely film",
        "good great fine lovely and a plot",
        "a b c",
        "bad and dull",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect()
}

fn settings(edits: u32, queries: u32) -> Settings {
    Settings { edits, queries, candidates: 4, targeted: false }
}

fn run(settings: Settings, batch: usize) -> (AttackRun<Vec<String>>, Words) {
    let texts = texts();
    let clean: Vec<usize> = texts.iter().map(|t| usize::from(logits(t)[1] > logits(t)[0])).collect();
    let indices: Vec<usize> = (0..texts.len()).map(|i| 10 + i).collect();
    let input = TextAttackInput { texts: &texts, indices: &indices, clean: &clean, classes: 2, seed: 7, key: "b/dwb" };
    let mut oracle = Words { batch, calls: 0, texts: 0 };
    let run = attack(&mut oracle, &input, &settings).unwrap();
    (run, oracle)
}

fn success(run: &AttackRun<Vec<String>>) -> Vec<bool> {
    run.attempts.iter().map(|a| a.success).collect()
}

#[test]
fn nothing_is_edited_or_queried_at_edit_budget_zero() {
    let (run, oracle) = run(settings(0, 1000), 8);
    assert_eq!(success(&run), [false; 6]);
    assert_eq!((run.queries, oracle.texts), (0, 0));
    assert_eq!(run.adversarial, texts());
}

#[test]
fn each_review_needs_as_many_edits_as_it_has_positive_words_over_the_negative() {
    let needed = [Some(1), Some(2), Some(3), Some(4), None, None];
    for edits in 0..6u32 {
        let (run, _) = run(settings(edits, 10_000), 8);
        for (i, attempt) in run.attempts.iter().enumerate() {
            let breaks = needed[i].is_some_and(|n| n <= edits);
            assert_eq!(attempt.success, breaks, "edits {edits}, review {i}: {attempt:?}");
            if attempt.success {
                assert_eq!(attempt.perturbation, needed[i].unwrap() as f32);
                assert_eq!(attempt.class, 0);
                // The adversarial review really is negative to the model.
                let z = logits(&run.adversarial[i]);
                assert!(z[0] > z[1], "{:?}", run.adversarial[i]);
            }
        }
    }
}

#[test]
fn edits_are_single_character_slips_of_the_words_that_matter() {
    let (run, _) = run(settings(3, 10_000), 8);
    let before = texts();
    for (b, a) in before.iter().zip(&run.adversarial) {
        let (bw, aw): (Vec<&str>, Vec<&str>) = (b.split(' ').collect(), a.split(' ').collect());
        assert_eq!(bw.len(), aw.len(), "whitespace is kept: {a:?}");
        for (x, y) in bw.iter().zip(&aw) {
            if x != y {
                // Only sentiment words matter to this model, so only they are ever kept edited.
                assert!(POSITIVE.contains(x) || NEGATIVE.contains(x), "{x:?} -> {y:?} in {a:?}");
                let (n, m) = (x.chars().count() as i64, y.chars().count() as i64);
                assert!((n - m).abs() <= 1, "{x:?} -> {y:?}");
            }
        }
    }
}

#[test]
fn success_never_falls_as_either_budget_grows_input_by_input() {
    let mut last = vec![false; 6];
    for edits in [0, 1, 2, 3, 5, 8] {
        let now = success(&run(settings(edits, 10_000), 8).0);
        assert!(last.iter().zip(&now).all(|(a, b)| !a || *b), "edits {edits}: {last:?} -> {now:?}");
        last = now;
    }
    let mut last = vec![false; 6];
    let mut queries_to_success = [None; 6];
    for queries in [1, 5, 6, 8, 10, 14, 20, 40, 100] {
        let (run, _) = run(settings(8, queries), 8);
        let now = success(&run);
        assert!(last.iter().zip(&now).all(|(a, b)| !a || *b), "queries {queries}: {last:?} -> {now:?}");
        // A success costs the same queries under any larger budget.
        for (i, a) in run.attempts.iter().enumerate() {
            if a.success {
                assert_eq!(*queries_to_success[i].get_or_insert(a.queries), a.queries, "review {i}");
            }
        }
        last = now;
    }
    assert_eq!(last, [true, true, true, true, false, false]);
}

#[test]
fn queries_are_counted_exactly_and_stay_within_the_budget() {
    for budget in [1, 6, 9, 13, 50] {
        let (run, oracle) = run(settings(8, budget), 5);
        assert_eq!(run.queries, oracle.texts, "budget {budget}");
        assert_eq!(run.queries, run.attempts.iter().map(|a| u64::from(a.queries)).sum::<u64>());
        assert!(run.attempts.iter().all(|a| a.queries <= budget), "budget {budget}: {:?}", run.attempts);
    }
    // Ranking "a good film, really" costs 3 + 1 queries: a budget of 3 leaves it untouched.
    let (run, _) = run(settings(8, 3), 5);
    assert_eq!((run.attempts[0].queries, run.attempts[0].success), (0, false));
}

#[test]
fn many_inputs_share_each_call_and_the_batch_size_changes_nothing() {
    let (one, small) = run(settings(3, 1000), 1);
    let (all, packed) = run(settings(3, 1000), 64);
    assert_eq!(one, all);
    // A ranking round and at most three editing rounds, each one call for every input.
    assert!(packed.calls <= 4, "{} calls", packed.calls);
    assert_eq!(small.calls, small.texts);
}

#[test]
fn a_targeted_attack_aims_at_the_drawn_class() {
    let (run, _) = run(Settings { targeted: true, ..settings(5, 1000) }, 8);
    for a in &run.attempts[..4] {
        // Two classes: the target is the other one, and reaching it is success.
        assert_eq!(a.target, Some(0));
        assert!(a.success, "{a:?}");
    }
}
