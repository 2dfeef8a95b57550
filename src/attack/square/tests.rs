//! The Square Attack against a linear softmax model small enough to reason about.

use super::*;
use crate::attack::mock::{Linear, images};
use crate::transform::ValueRange;

fn run(settings: Settings, batch: usize) -> (AttackRun, Linear) {
    let images = images();
    let mut model = Linear::new(1, 6, 6, batch);
    let clean: Vec<usize> = (0..images.len()).map(|i| i % 6).collect();
    let indices: Vec<usize> = (100..100 + images.len()).collect();
    let range = ValueRange::uniform(1, 0.0, 1.0);
    let input = AttackInput {
        images: &images,
        indices: &indices,
        clean: &clean,
        classes: 6,
        range: &range,
        seed: 7,
        key: "b/p",
    };
    let run = attack(&mut model, &input, &settings).expect("the mock cannot fail");
    (run, model)
}

fn linf(epsilon: f32, queries: u32) -> Settings {
    Settings { norm: Norm::Linf, epsilon, queries, p_init: 0.3, targeted: false }
}

fn successes(run: &AttackRun) -> usize {
    run.attempts.iter().filter(|a| a.success).count()
}

#[test]
fn the_window_share_halves_on_the_papers_schedule() {
    // ART's intervals over 1,000 iterations: 0.1% is iteration 1, 0.5% iteration 5, 80% 800.
    assert_eq!(window_share(0.05, 0, 1000), 0.05);
    assert_eq!(window_share(0.05, 1, 1000), 0.05);
    assert_eq!(window_share(0.05, 2, 1000), 0.025);
    assert_eq!(window_share(0.05, 5, 1000), 0.025);
    assert_eq!(window_share(0.05, 6, 1000), 0.0125);
    assert_eq!(window_share(0.05, 800, 1000), 0.05 / 256.0);
    assert_eq!(window_share(0.05, 801, 1000), 0.05 / 512.0);
}

#[test]
fn windows_stay_inside_the_image_and_l2_windows_are_odd() {
    assert_eq!(side(Norm::Linf, 0.05, 32, 32), 7);
    assert_eq!(side(Norm::Linf, 1.0, 8, 8), 7);
    assert_eq!(side(Norm::Linf, 0.0001, 8, 8), 1);
    assert_eq!(side(Norm::L2, 0.1, 32, 32), 11);
    assert_eq!(side(Norm::L2, 0.0001, 8, 8), 3);
}

#[test]
fn bumps_have_unit_norm_and_no_mean() {
    let mut rng = sample_rng(1, "k", 0, Stream::Probe);
    for s in [1, 3, 5, 6] {
        let bump = meta_pseudo_gaussian(s, &mut rng);
        assert_eq!(bump.len(), s * s);
        assert!((Norm::L2.size(bump.iter().copied()) - 1.0).abs() < 1e-5, "s = {s}");
    }
    // Two equal halves of opposite sign.
    let bump = meta_pseudo_gaussian(4, &mut rng);
    assert!(bump.iter().sum::<f32>().abs() < 1e-5);
}

#[test]
fn nothing_succeeds_at_epsilon_zero_and_every_query_is_spent() {
    for norm in [Norm::Linf, Norm::L2] {
        let (run, model) = run(Settings { norm, ..linf(0.0, 20) }, 5);
        assert_eq!(successes(&run), 0, "{norm:?}");
        assert!(run.attempts.iter().all(|a| a.queries == 20 && a.perturbation == 0.0));
        assert_eq!(run.queries, 12 * 20);
        assert_eq!(model.images, run.queries);
    }
}

#[test]
fn queries_are_counted_exactly_and_stay_within_the_budget() {
    for (norm, budget) in [(Norm::Linf, 1), (Norm::Linf, 37), (Norm::L2, 37)] {
        let (run, model) = run(Settings { norm, ..linf(0.3, budget) }, 4);
        assert!(run.attempts.iter().all(|a| (1..=budget).contains(&a.queries)), "{norm:?}");
        assert_eq!(model.images, run.queries);
        // An input that failed spent its whole budget; one that succeeded stopped.
        assert!(run.attempts.iter().filter(|a| !a.success).all(|a| a.queries == budget));
    }
}

#[test]
fn perturbations_stay_inside_the_ball_and_the_valid_range() {
    for (norm, epsilon) in [(Norm::Linf, 0.1), (Norm::L2, 0.5)] {
        let (run, _) = run(Settings { norm, ..linf(epsilon, 50) }, 64);
        assert!(run.attempts.iter().all(|a| a.perturbation <= epsilon * (1.0 + 1e-5)), "{norm:?}");
        assert!(run.adversarial.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

#[test]
fn success_grows_with_epsilon_and_with_the_budget() {
    let by_epsilon: Vec<usize> =
        [0.0, 0.02, 0.05, 0.1, 0.2, 0.4].iter().map(|&e| successes(&run(linf(e, 60), 8).0)).collect();
    assert!(by_epsilon.windows(2).all(|w| w[0] <= w[1]), "{by_epsilon:?}");
    assert_eq!(by_epsilon[0], 0);
    assert!(by_epsilon[5] > by_epsilon[2], "{by_epsilon:?}");
    let by_budget: Vec<usize> = [1, 5, 20, 100].iter().map(|&q| successes(&run(linf(0.06, q), 8).0)).collect();
    assert!(by_budget.windows(2).all(|w| w[0] <= w[1]), "{by_budget:?}");
    assert!(by_budget[0] < by_budget[3], "{by_budget:?}");
}

#[test]
fn a_success_really_is_one_by_the_model() {
    let (run, mut model) = run(linf(0.1, 60), 8);
    let clean: Vec<usize> = (0..12).map(|i| i % 6).collect();
    let size = 36;
    let fill = |i: usize, mut view: ndarray::ArrayViewMut3<'_, f32>| {
        view.as_slice_mut().unwrap().copy_from_slice(&run.adversarial[i * size..(i + 1) * size]);
    };
    let predicted = crate::search::predict(&mut model, 12, &fill).unwrap();
    for (i, a) in run.attempts.iter().enumerate() {
        assert_eq!(a.class, predicted[i]);
        assert_eq!(a.success, predicted[i] != clean[i]);
    }
}

#[test]
fn targeted_attacks_aim_at_another_class_and_succeed_only_there() {
    let (run, _) = run(Settings { targeted: true, ..linf(0.3, 200) }, 8);
    for (i, a) in run.attempts.iter().enumerate() {
        let target = a.target.expect("targeted");
        assert_ne!(target, i % 6);
        assert_eq!(a.success, a.class == target);
    }
    assert!(successes(&run) > 0);
}

#[test]
fn results_do_not_depend_on_batch_size_or_threads() {
    for norm in [Norm::Linf, Norm::L2] {
        let settings = Settings { norm, ..linf(0.08, 40) };
        let (one, _) = run(settings, 1);
        let (five, _) = run(settings, 5);
        assert_eq!(one, five, "{norm:?}");
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let (threads, _) = pool.install(|| run(settings, 64));
        assert_eq!(one, threads, "{norm:?}");
    }
}
