//! HopSkipJump against a linear softmax model whose decision boundaries are known exactly.

use super::*;
use crate::attack::mock::{Linear, images};
use crate::transform::ValueRange;

fn setup(batch: usize) -> (Vec<ndarray::Array3<f32>>, Linear, Vec<usize>, Vec<usize>, ValueRange) {
    let images = images();
    let clean: Vec<usize> = (0..images.len()).map(|i| i % 6).collect();
    let indices: Vec<usize> = (100..100 + images.len()).collect();
    (images, Linear::new(1, 6, 6, batch), clean, indices, ValueRange::uniform(1, 0.0, 1.0))
}

fn run(settings: Settings, batch: usize) -> (AttackRun, Linear) {
    let (images, mut model, clean, indices, range) = setup(batch);
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

fn l2(epsilon: f32, queries: u32) -> Settings {
    Settings { epsilon, queries, targeted: false, init_evals: 20 }
}

fn successes(run: &AttackRun) -> usize {
    run.attempts.iter().filter(|a| a.success).count()
}

/// The smallest L2 change that moves image `i` out of its class: the linear model scores row
/// k's sum ×4, so moving rows c and j towards each other changes their gap by 4·√12 per unit of
/// L2 (6 pixels each), and the closest boundary is the smallest gap's.
fn nearest_boundary(image: &ndarray::Array3<f32>, class: usize) -> f64 {
    let sums: Vec<f64> = (0..6).map(|y| (0..6).map(|x| f64::from(image[[0, y, x]])).sum()).collect();
    let gap = (0..6).filter(|&j| j != class).map(|j| sums[class] - sums[j]).fold(f64::INFINITY, f64::min);
    gap / 12f64.sqrt()
}

#[test]
fn nothing_succeeds_at_epsilon_zero_and_every_query_is_spent() {
    let (run, model) = run(l2(0.0, 60), 5);
    assert_eq!(successes(&run), 0);
    assert!(run.attempts.iter().all(|a| a.queries == 60 && a.perturbation == 0.0));
    assert_eq!(run.queries, 12 * 60);
    assert_eq!(model.images, run.queries);
    // An input the attack did not bring within ε is replayed as its clean self.
    let (images, ..) = setup(1);
    for (i, image) in images.iter().enumerate() {
        assert_eq!(run.image(i), image.as_slice().unwrap());
    }
}

#[test]
fn queries_are_counted_exactly_and_stay_within_the_budget() {
    for budget in [1, 2, 37, 250] {
        let (run, model) = run(l2(0.3, budget), 4);
        assert!(run.attempts.iter().all(|a| (1..=budget).contains(&a.queries)), "{budget}");
        assert_eq!(model.images, run.queries);
        assert!(run.attempts.iter().filter(|a| !a.success).all(|a| a.queries == budget));
    }
}

#[test]
fn the_walk_approaches_the_nearest_boundary_and_never_crosses_it() {
    let (images, mut model, clean, indices, range) = setup(64);
    let input = AttackInput {
        images: &images,
        indices: &indices,
        clean: &clean,
        classes: 6,
        range: &range,
        seed: 7,
        key: "b/p",
    };
    let walk = walk(&mut model, &input, &l2(0.0, 1500), None).unwrap();
    let mut ratios = Vec::new();
    for (i, a) in walk.attempts.iter().enumerate() {
        let optimum = nearest_boundary(&images[i], clean[i]);
        let found = f64::from(a.perturbation);
        assert!(walk.found[i]);
        // Nothing adversarial lies closer than the boundary (up to f32 rounding).
        assert!(found >= optimum * (1.0 - 1e-4), "input {i}: {found} < {optimum}");
        ratios.push(found / optimum);
        assert_ne!(a.class, clean[i]);
    }
    // Most inputs end within a few percent of their nearest boundary; one that starts near two
    // boundaries at once walks more slowly.
    ratios.sort_by(f64::total_cmp);
    assert!(ratios[6] < 1.05 && ratios[11] < 1.5, "{ratios:?}");
}

#[test]
fn perturbations_stay_inside_the_ball_and_the_valid_range() {
    let (run, _) = run(l2(0.3, 400), 64);
    assert!(successes(&run) > 0);
    assert!(run.attempts.iter().all(|a| a.perturbation <= 0.3));
    assert!(run.adversarial.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn success_grows_with_epsilon_and_with_the_budget() {
    let by_epsilon: Vec<usize> =
        [0.0, 0.05, 0.1, 0.2, 0.4, 0.8].iter().map(|&e| successes(&run(l2(e, 300), 8).0)).collect();
    assert!(by_epsilon.windows(2).all(|w| w[0] <= w[1]), "{by_epsilon:?}");
    assert_eq!(by_epsilon[0], 0);
    assert!(by_epsilon[5] > by_epsilon[1], "{by_epsilon:?}");
    let by_budget: Vec<usize> = [1, 20, 100, 400, 1500].iter().map(|&q| successes(&run(l2(0.2, q), 8).0)).collect();
    assert!(by_budget.windows(2).all(|w| w[0] <= w[1]), "{by_budget:?}");
    assert!(by_budget[0] < by_budget[4], "{by_budget:?}");
}

#[test]
fn a_success_really_is_one_by_the_model() {
    let (run, mut model) = run(l2(0.3, 400), 8);
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
    let (run, _) = run(Settings { targeted: true, ..l2(0.6, 600) }, 8);
    for (i, a) in run.attempts.iter().enumerate() {
        let target = a.target.expect("targeted");
        assert_ne!(target, i % 6);
        assert_eq!(a.success, a.class == target);
    }
    assert!(successes(&run) > 0);
}

#[test]
fn results_do_not_depend_on_batch_size_or_threads() {
    let settings = l2(0.15, 300);
    let (one, _) = run(settings, 1);
    let (five, _) = run(settings, 5);
    assert_eq!(one, five);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    let (threads, _) = pool.install(|| run(settings, 64));
    assert_eq!(one, threads);
}
