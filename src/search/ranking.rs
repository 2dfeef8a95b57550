//! How the sweeps (vocabulary, feature values) rank and single out candidates, shared so that
//! both read the same numbers:
//!
//! - [`lower_bound`]: the Clopper–Pearson lower bound (one-sided 90%) of a flip-into rate,
//!   which the halving rungs rank by, so that a candidate judged on few inputs is not
//!   preferred for a lucky streak;
//! - [`Outlier`]: per class, the median and the scale of a population of candidate scores and
//!   the signed anomaly index of one score against it (the robust z-score of
//!   [`crate::stats::anomaly_indices`], 1.4826 · MAD; Rousseeuw & Croux, 1993), the scale
//!   floored so that a population of inert candidates does not turn a few inputs into an
//!   outlier.

use crate::stats::{clopper_pearson, mad, median};

/// Two-sided alpha of the ranking lower bound (one-sided 90%).
pub const RANKING_ALPHA: f64 = 0.2;
/// The scale that makes the MAD a consistent estimator of a normal standard deviation.
pub const MAD_SCALE: f64 = 1.4826;

/// Lower bound of the flip-into rate `moved / eligible` for ranking (0 with nothing eligible).
pub fn lower_bound(moved: u64, eligible: u64) -> f64 {
    thread_local! {
        // Thousands of candidates share a handful of (moved, eligible) pairs, and each exact
        // bound costs a bisection of binomial tails (~20 µs at n = 400).
        static BOUNDS: std::cell::RefCell<std::collections::HashMap<(u64, u64), f64>> = Default::default();
    }
    if eligible == 0 {
        return 0.0;
    }
    BOUNDS.with(|cache| {
        *cache
            .borrow_mut()
            .entry((moved, eligible))
            .or_insert_with(|| clopper_pearson(moved, eligible, RANKING_ALPHA).lower)
    })
}

/// Per class, the median and floored robust scale of a population of scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Outlier {
    median: Vec<f64>,
    scale: Vec<f64>,
}

impl Outlier {
    /// `population[k]`: the scores toward class `k`; the scale of class `k` is
    /// `1.4826 · MAD`, at least `min_scale(k)`.
    pub fn new(population: &[Vec<f64>], min_scale: impl Fn(usize) -> f64) -> Self {
        let median = population.iter().map(|p| median(p).unwrap_or(0.0)).collect();
        let scale =
            population.iter().enumerate().map(|(k, p)| (MAD_SCALE * mad(p).unwrap_or(0.0)).max(min_scale(k))).collect();
        Self { median, scale }
    }

    /// How many scales `score` lies above the median of class `class` (negative below it).
    pub fn z(&self, class: usize, score: f64) -> f64 {
        (score - self.median[class]) / self.scale[class]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_anomaly_index_is_the_robust_z_score_with_a_floor() {
        // Median 2, MAD 1: scale 1.4826; a score of 5 lies 3 / 1.4826 = 2.0235 scales above.
        let o = Outlier::new(&[vec![1.0, 2.0, 3.0, 2.0, 5.0], vec![0.0; 4]], |_| 0.05);
        assert!((o.z(0, 5.0) - 3.0 / 1.4826).abs() < 1e-12);
        // All-equal population: the floor is the scale.
        assert!((o.z(1, 0.3) - 6.0).abs() < 1e-12);
        assert!(o.z(0, 1.0) < 0.0);
    }

    #[test]
    fn the_ranking_bound_matches_clopper_pearson_and_is_zero_with_nothing_eligible() {
        assert_eq!(lower_bound(3, 0), 0.0);
        // scipy.stats.beta.ppf(0.1, 8, 3) = 0.55039611...: the one-sided 90% bound of 8/10.
        assert!((lower_bound(8, 10) - 0.550_396_1).abs() < 1e-6, "{}", lower_bound(8, 10));
        assert_eq!(lower_bound(8, 10), clopper_pearson(8, 10, RANKING_ALPHA).lower);
    }
}
