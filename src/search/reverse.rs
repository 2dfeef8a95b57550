//! Trigger reverse-engineering per target class, black-box.
//!
//! Neural Cleanse (Wang et al., IEEE S&P 2019) finds, for each class `t`, the smallest mask `m`
//! and pattern `p` such that `(1 − m) x + m p` is classified as `t`, minimising
//! `CE(f(x'), t) + λ |m|₁` with gradients. An ONNX file gives none, so the gradient is estimated
//! with natural evolution strategies (Wierstra et al., JMLR 2014) using antithetic pairs, as in
//! B3 (Dong et al., ICCV 2021): `ĝ = Σᵢ [L(θ + σuᵢ) − L(θ − σuᵢ)] uᵢ / (2nσ)`, `uᵢ ~ N(0, I)`,
//! followed by Adam steps. Mask and pattern are parameterised through sigmoids so they stay in
//! [0, 1]. λ follows Neural Cleanse's schedule: multiplied by 1.5 while the trigger works
//! (ASR ≥ 90% on the minibatch), divided by 1.5 while it does not. The smallest working mask
//! is kept. A class whose mask is anomalously small (anomaly index over classes, one-sided) is
//! the suspected target; the runner confirms its trigger on held-out inputs. The directions
//! `uᵢ` are drawn with the ziggurat sampler Gaussian noise uses (`transform/noise.rs`).

use ndarray::{Array1, Array2, Array3, ArrayViewMut3};
use rand::RngExt;
use rand_distr::StandardNormal;

use super::{ClassCandidate, Oracle, SearchInput, SearchOutcome, anomaly, argmax_row, attack_success, predict};
use crate::engine::EngineError;
use crate::transform::{self, MaskedTrigger, Stream};

/// Inputs per loss evaluation.
const MINIBATCH: usize = 16;
/// An attack counts as working at this success rate (Neural Cleanse's threshold is 0.99; a
/// noisy black-box optimiser on small minibatches needs some slack).
const WORKING_ASR: f64 = 0.9;
/// λ's multiplicative step (Neural Cleanse: 1.5).
const LAMBDA_STEP: f64 = 1.5;
const LAMBDA_START: f64 = 0.5;
/// Adam's moment decay rates (Kingma & Ba, 2015 defaults).
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;

/// Tunables from the battery.
pub struct Settings {
    pub budget: u64,
    pub directions: u32,
    pub sigma: f32,
    pub learning_rate: f32,
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

struct Problem<'a> {
    channels: usize,
    height: usize,
    width: usize,
    input: &'a SearchInput<'a>,
}

impl Problem<'_> {
    fn dims(&self) -> usize {
        self.height * self.width * (1 + self.channels)
    }

    fn trigger(&self, theta: &Array1<f64>) -> MaskedTrigger {
        let hw = self.height * self.width;
        let mask = Array2::from_shape_fn((self.height, self.width), |(y, x)| sigmoid(theta[y * self.width + x]) as f32);
        let pattern = Array3::from_shape_fn((self.channels, self.height, self.width), |(c, y, x)| {
            sigmoid(theta[hw + c * hw + y * self.width + x]) as f32
        });
        MaskedTrigger { mask, pattern }
    }

    /// For each of `thetas`: mean cross-entropy towards `target` plus `λ` times the mask's
    /// mean, and the ASR, over the images at `batch`. Every (theta, image) pair goes through
    /// the oracle in one packed evaluation.
    fn losses(
        &self,
        oracle: &mut dyn Oracle,
        thetas: &[Array1<f64>],
        batch: &[usize],
        target: usize,
        lambda: f64,
        queries: &mut u64,
    ) -> Result<Vec<(f64, f64)>, EngineError> {
        let triggers: Vec<MaskedTrigger> = thetas.iter().map(|theta| self.trigger(theta)).collect();
        let b = batch.len();
        let fill = |i: usize, mut image: ArrayViewMut3<'_, f32>| {
            image.assign(&self.input.images.image(batch[i % b]));
            super::stamp(image, &triggers[i / b], self.input.range);
        };
        // Per theta: summed cross-entropy and hits.
        let mut sums = vec![(0.0f64, 0usize); thetas.len()];
        oracle.classify(thetas.len() * b, &fill, &mut |i, row| {
            let sum = &mut sums[i / b];
            sum.0 += -(f64::from(row[target]).max(1e-12)).ln();
            sum.1 += usize::from(argmax_row(row) == target);
        })?;
        *queries += (thetas.len() * b) as u64;
        Ok(triggers
            .iter()
            .zip(sums)
            .map(|(trigger, (ce, hits))| {
                let size = f64::from(trigger.mask.mean().unwrap_or(0.0));
                (ce / b as f64 + lambda * size, hits as f64 / b as f64)
            })
            .collect())
    }
}

/// Reverse-engineers one trigger per class within the query budget.
pub fn search(
    oracle: &mut dyn Oracle,
    input: &SearchInput<'_>,
    settings: &Settings,
) -> Result<SearchOutcome, EngineError> {
    let (channels, height, width) = if input.images.count() == 0 { (1, 1, 1) } else { input.images.image(0).dim() };
    let problem = Problem { channels, height, width, input };
    let dims = problem.dims();
    let n = settings.directions.max(1) as usize;
    let sigma = f64::from(settings.sigma);
    let mut queries = 0u64;
    let per_class = settings.budget / input.classes.max(1) as u64;
    let mut candidates = Vec::new();
    for target in 0..input.classes {
        let eligible: Vec<usize> = (0..input.images.count()).filter(|&i| input.clean[i] != target).collect();
        if eligible.is_empty() {
            let trigger = problem.trigger(&Array1::from_elem(dims, 0.0));
            let l1 = f64::from(trigger.mask_l1());
            candidates.push(ClassCandidate {
                class: target,
                trigger,
                attack_success_rate: 0.0,
                statistic: l1,
                description: "no eligible inputs".into(),
            });
            continue;
        }
        let batch_size = MINIBATCH.min(eligible.len());
        let per_iteration = ((2 * n + 1) * batch_size) as u64;
        let iterations = (per_class.saturating_sub(eligible.len() as u64) / per_iteration).max(1);
        let mut rng = transform::sample_rng(input.seed, input.key, target as u64, Stream::Probe);
        // Start from a small, centred mask (logit −2 ≈ 0.12 coverage) and a grey pattern.
        let mut theta = Array1::from_shape_fn(dims, |j| if j < height * width { -2.0 } else { 0.0 });
        let (mut m, mut v) = (Array1::<f64>::zeros(dims), Array1::<f64>::zeros(dims));
        let mut lambda = LAMBDA_START;
        let mut best: Option<(f64, Array1<f64>)> = None;
        for step in 1..=iterations {
            let batch: Vec<usize> = (0..batch_size).map(|_| eligible[rng.random_range(0..eligible.len())]).collect();
            let mut gradient = Array1::<f64>::zeros(dims);
            // The antithetic pairs θ ± σu of every direction, evaluated together.
            let directions: Vec<Array1<f64>> =
                (0..n).map(|_| Array1::from_shape_fn(dims, |_| rng.sample::<f64, _>(StandardNormal))).collect();
            let thetas: Vec<Array1<f64>> =
                directions.iter().flat_map(|u| [&theta + &(u * sigma), &theta - &(u * sigma)]).collect();
            let losses = problem.losses(oracle, &thetas, &batch, target, lambda, &mut queries)?;
            drop(thetas);
            for (u, pair) in directions.iter().zip(losses.chunks(2)) {
                gradient.scaled_add((pair[0].0 - pair[1].0) / (2.0 * n as f64 * sigma), u);
            }
            // Adam.
            m = &m * BETA1 + &(&gradient * (1.0 - BETA1));
            v = &v * BETA2 + &(gradient.mapv(|g| g * g) * (1.0 - BETA2));
            let m_hat = &m / (1.0 - BETA1.powi(step as i32));
            let v_hat = &v / (1.0 - BETA2.powi(step as i32));
            theta = &theta - &(m_hat / (v_hat.mapv(f64::sqrt) + 1e-8) * f64::from(settings.learning_rate));
            let (_, asr) =
                problem.losses(oracle, std::slice::from_ref(&theta), &batch, target, lambda, &mut queries)?[0];
            if asr >= WORKING_ASR {
                let l1 = f64::from(problem.trigger(&theta).mask_l1());
                if best.as_ref().is_none_or(|(b, _)| l1 < *b) {
                    best = Some((l1, theta.clone()));
                }
                lambda *= LAMBDA_STEP;
            } else {
                lambda /= LAMBDA_STEP;
            }
        }
        // Measure the kept trigger on every eligible search input.
        let theta = best.map_or(theta, |(_, t)| t);
        let trigger = problem.trigger(&theta);
        let fill = |i: usize, mut image: ArrayViewMut3<'_, f32>| {
            image.assign(&input.images.image(eligible[i]));
            super::stamp(image, &trigger, input.range);
        };
        let predicted = predict(oracle, eligible.len(), &fill)?;
        queries += eligible.len() as u64;
        let clean: Vec<usize> = eligible.iter().map(|&i| input.clean[i]).collect();
        let (into, total) = attack_success(&clean, &predicted, target);
        let asr = into as f64 / total.max(1) as f64;
        // The statistic is the mask size, inflated for a trigger that falls short of working
        // (by the shortfall in success rate), so every class gets a comparable number.
        let shortfall = (asr / WORKING_ASR).clamp(0.01, 1.0);
        let l1 = f64::from(trigger.mask_l1()) / shortfall;
        candidates.push(ClassCandidate {
            class: target,
            description: format!("mask of {:.1} px, ASR {:.0}% on the search inputs", trigger.mask_l1(), 100.0 * asr),
            trigger,
            attack_success_rate: asr,
            statistic: l1,
        });
    }
    let statistic: Vec<f64> = candidates.iter().map(|c| c.statistic).collect();
    let anomaly_index = anomaly(&statistic, false);
    let chosen =
        (0..candidates.len()).min_by(|&a, &b| statistic[a].total_cmp(&statistic[b]).then(a.cmp(&b))).unwrap_or(0);
    Ok(SearchOutcome {
        method: "reverse-engineer",
        coverage: None,
        statistic: "mask L1 (pixels) / min(1, ASR / 0.9)",
        candidates,
        anomaly_index,
        chosen,
        queries,
    })
}
