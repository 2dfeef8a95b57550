//! Tabular transforms: edits of one feature row (`[F]` float32, NaN = missing).
//!
//! - [`SetFeatures`]: set one feature, or several jointly, to given values (a candidate
//!   trigger: a magic value, or a combination of two features);
//! - [`FeatureNoise`]: add Gaussian noise to every present value, scaled by each feature's
//!   spread ([`super::data::FeatureStats::spread`]), so one `sigma` means the same relative
//!   disturbance for a feature counted in cents and one counted in millions;
//! - [`SetMissing`]: mark features missing (NaN), as a model must cope with absent values.
//!
//! Random transforms take the sample's generator, derived from (seed, probe id, sample index)
//! by [`crate::transform::sample_rng`], so a row's noise does not depend on batch size or thread
//! scheduling. Normal deviates come from `rand_distr::StandardNormal` (the ziggurat method, as
//! the image noise transform uses).

use rand::RngExt;
use rand_distr::StandardNormal;

/// Sets features to fixed values: `[(feature, value)]`, applied in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SetFeatures {
    pub assignments: Vec<(usize, f32)>,
}

impl SetFeatures {
    /// One feature set to `value`.
    pub fn one(feature: usize, value: f32) -> Self {
        Self { assignments: vec![(feature, value)] }
    }

    /// Two features set jointly.
    pub fn pair(a: (usize, f32), b: (usize, f32)) -> Self {
        Self { assignments: vec![a, b] }
    }

    pub fn apply(&self, row: &mut [f32]) {
        for &(feature, value) in &self.assignments {
            row[feature] = value;
        }
    }
}

/// Adds `sigma · spread[j] · z` to each present value of feature `j`, `z ~ N(0, 1)`; missing
/// values stay missing. One deviate is drawn per feature, present or not, so which values are
/// missing does not shift the draws of the others.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureNoise {
    pub sigma: f32,
    /// Per-feature scale, e.g. the clean data's standard deviations.
    pub spreads: Vec<f32>,
}

impl FeatureNoise {
    pub fn apply(&self, row: &mut [f32], rng: &mut impl rand::Rng) {
        for (value, &spread) in row.iter_mut().zip(&self.spreads) {
            let z: f64 = rng.sample(StandardNormal);
            if !value.is_nan() {
                *value = (f64::from(*value) + f64::from(self.sigma) * f64::from(spread) * z) as f32;
            }
        }
    }
}

/// Marks features missing (NaN).
#[derive(Debug, Clone, PartialEq)]
pub struct SetMissing {
    pub features: Vec<usize>,
}

impl SetMissing {
    pub fn apply(&self, row: &mut [f32]) {
        for &feature in &self.features {
            row[feature] = f32::NAN;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::transform::{Stream, sample_rng};

    fn row_and_feature() -> impl Strategy<Value = (Vec<f32>, usize)> {
        prop::collection::vec(-1e6f32..1e6, 1..20).prop_flat_map(|row| {
            let len = row.len();
            (Just(row), 0..len)
        })
    }

    proptest! {
        #[test]
        fn setting_a_feature_changes_that_feature_only((row, j) in row_and_feature(), value in -1e4f32..1e4) {
            let mut edited = row.clone();
            SetFeatures::one(j, value).apply(&mut edited);
            prop_assert_eq!(edited[j], value);
            for (k, (a, b)) in row.iter().zip(&edited).enumerate() {
                if k != j { prop_assert_eq!(a, b); }
            }
        }

        #[test]
        fn a_pair_sets_both_features((row, j) in row_and_feature(), k in 0usize..20, a in -1e4f32..1e4, b in -1e4f32..1e4) {
            let k = k % row.len();
            prop_assume!(k != j);
            let mut edited = row.clone();
            SetFeatures::pair((j, a), (k, b)).apply(&mut edited);
            prop_assert_eq!((edited[j], edited[k]), (a, b));
            let changed = row.iter().zip(&edited).filter(|(x, y)| x != y).count();
            prop_assert!(changed <= 2);
        }

        #[test]
        fn noise_is_a_function_of_the_sample_and_keeps_missing_values_missing(
            (mut row, j) in row_and_feature(), index in 0u64..1000, sigma in 0.0f32..2.0,
        ) {
            row[j] = f32::NAN;
            let noise = FeatureNoise { sigma, spreads: vec![3.0; row.len()] };
            let (mut a, mut b) = (row.clone(), row.clone());
            noise.apply(&mut a, &mut sample_rng(5, "tabular/noise", index, Stream::Probe));
            noise.apply(&mut b, &mut sample_rng(5, "tabular/noise", index, Stream::Probe));
            prop_assert!(a[j].is_nan());
            prop_assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            prop_assert!(a.iter().all(|v| v.is_nan() || v.is_finite()));
        }

        #[test]
        fn zero_sigma_or_zero_spread_leaves_the_row_alone((row, _) in row_and_feature(), index in 0u64..100) {
            for noise in [
                FeatureNoise { sigma: 0.0, spreads: vec![1.0; row.len()] },
                FeatureNoise { sigma: 1.0, spreads: vec![0.0; row.len()] },
            ] {
                let mut edited = row.clone();
                noise.apply(&mut edited, &mut sample_rng(1, "p", index, Stream::Probe));
                prop_assert_eq!(&edited, &row);
            }
        }

        #[test]
        fn missing_features_become_nan_and_others_stay((row, j) in row_and_feature()) {
            let mut edited = row.clone();
            SetMissing { features: vec![j] }.apply(&mut edited);
            prop_assert!(edited[j].is_nan());
            prop_assert_eq!(edited.iter().filter(|v| v.is_nan()).count(), 1);
        }
    }

    #[test]
    fn noise_scales_with_each_features_spread() {
        // Feature 1's spread is 1000 times feature 0's: over many samples its deviations are
        // about 1000 times larger (each RMS is within a few percent of sigma · spread).
        let noise = FeatureNoise { sigma: 0.5, spreads: vec![1.0, 1000.0] };
        let (mut small, mut large) = (0.0f64, 0.0f64);
        for i in 0..2000 {
            let mut row = [0.0f32, 0.0];
            noise.apply(&mut row, &mut sample_rng(9, "tabular/noise", i, Stream::Probe));
            small += f64::from(row[0]).powi(2);
            large += f64::from(row[1]).powi(2);
        }
        let (sd_small, sd_large) = ((small / 2000.0).sqrt(), (large / 2000.0).sqrt());
        assert!((sd_small - 0.5).abs() < 0.05, "{sd_small}");
        assert!((sd_large / sd_small - 1000.0).abs() < 300.0, "{sd_large} / {sd_small}");
    }
}
