//! Additive Gaussian noise, a robustness perturbation: `x + std * (hi - lo) * z` per element with
//! `z ~ N(0, 1)` drawn per sample from the content generator, then clipped to the channel range.
//!
//! Normal deviates come from the ziggurat method (Marsaglia and Tsang, 2000, "The Ziggurat
//! Method for Generating Random Variables", Journal of Statistical Software 5(8)) as
//! `rand_distr::StandardNormal` implements it: Doornik's ZIGNOR variant (Doornik, 2005, "An
//! Improved Ziggurat Method to Generate Normal Random Samples"), with 256 layers: most deviates
//! cost one 64-bit draw, a table look-up and a multiply; only the rare draws outside a layer's
//! inner box evaluate the density. It replaced exact Box–Muller (a logarithm, a square root and
//! a sine and cosine per pair of deviates), which made this the slowest probe to build; the
//! switch came with `probity/sample-rng/v2` ([`super::SAMPLE_RNG_VERSION`]).

use ndarray::ArrayViewMut3;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::Geometry;
use super::registry::{Build, TransformKind};
use super::{SampleContext, Transform, TransformError};
use crate::battery::diagnostics::UNIT_NONZERO;
use crate::battery::spec::TransformSpec;
use crate::battery::validate::{Checker, Fields};

pub(super) struct GaussianNoise {
    std: f32,
}

impl GaussianNoise {
    pub(super) fn new(std: f32) -> Result<Self, TransformError> {
        Ok(Self { std: super::non_negative("gaussian-noise", "std", std)? })
    }
}

impl Transform for GaussianNoise {
    fn apply(&self, mut image: ArrayViewMut3<'_, f32>, ctx: &mut SampleContext<'_>) {
        // Derive the generator once, not on every draw.
        let rng: &mut ChaCha8Rng = ctx.rng;
        for (c, mut plane) in image.outer_iter_mut().enumerate() {
            let scale = f64::from(self.std) * f64::from(ctx.range.hi[c] - ctx.range.lo[c]);
            // Logical (y, x) order, so the draws do not depend on the view's memory layout.
            for x in plane.iter_mut() {
                let noisy = f64::from(*x) + scale * rng.sample::<f64, _>(StandardNormal);
                *x = ctx.range.clamp(c, noisy as f32);
            }
        }
    }

    fn control(&self) -> Option<Box<dyn Transform>> {
        None
    }
}

/// `kind: gaussian-noise`: a robustness perturbation, so no matched control.
pub(crate) static KIND: TransformKind = TransformKind {
    name: "gaussian-noise",
    has_control: false,
    keys: &["kind", "std"],
    validate,
    build: Build::Image(build),
};

fn validate(c: &mut Checker, fields: &Fields<'_>, _probe: &str) -> Option<TransformSpec> {
    let std = c.required(fields, "std").and_then(|n| c.number_in(n, &fields.label("std"), UNIT_NONZERO));
    Some(TransformSpec::GaussianNoise { std: std? as f32 })
}

fn build(spec: &TransformSpec, _geometry: Geometry) -> Result<Box<dyn Transform>, TransformError> {
    let TransformSpec::GaussianNoise { std } = spec else { return Err(super::mismatched(KIND.name, spec)) };
    Ok(Box::new(GaussianNoise::new(*std)?))
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;

    use super::*;
    use crate::battery::spec::TransformSpec;
    use crate::transform::testing::{applied, apply};
    use crate::transform::{Geometry, Stream, ValueRange, build, sample_rng};

    #[test]
    fn normal_draws_are_pinned() {
        // Every noise-probe number depends on these draws: they must never change silently (a
        // change renames SAMPLE_RNG_VERSION), and a rand_distr update that changes them shows here.
        let mut rng = sample_rng(1, "normal", 0, Stream::Probe);
        let draws: Vec<f64> = (0..4).map(|_| rng.sample(StandardNormal)).collect();
        assert_eq!(draws, [0.2667318828503806, -1.79326135241349, 0.4892835679462564, 0.7507197394134252]);
    }

    #[test]
    fn normal_draws_have_zero_mean_and_unit_variance() {
        let mut rng = sample_rng(1, "normal", 0, Stream::Probe);
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let variance = draws.iter().map(|z| (z - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        // Standard errors are 1/sqrt(n) ≈ 0.0022 for the mean and sqrt(2/n) ≈ 0.0032 for the
        // variance; the bounds are about five of them.
        assert!(mean.abs() < 0.011, "mean {mean}");
        assert!((variance - 1.0).abs() < 0.016, "variance {variance}");
        let within_one = draws.iter().filter(|z| z.abs() < 1.0).count() as f64 / n as f64;
        assert!((within_one - 0.6827).abs() < 0.01, "P(|z| < 1) = {within_one}");
        // The ziggurat's base strip samples the tail beyond r ≈ 3.65 separately; P(|z| > 3) =
        // 0.0027 (scipy.stats.norm.sf(3) * 2), standard error sqrt(p / n) ≈ 0.00012.
        let beyond_three = draws.iter().filter(|z| z.abs() > 3.0).count() as f64 / n as f64;
        assert!((beyond_three - 0.0027).abs() < 0.0006, "P(|z| > 3) = {beyond_three}");
    }

    #[test]
    fn std_is_a_fraction_of_each_channel_range() {
        // Mid-range input and a small std, so clipping never bites.
        let range = ValueRange { lo: vec![0.0, -10.0], hi: vec![1.0, 10.0] };
        let input = Array3::from_shape_fn((2, 100, 100), |(c, _, _)| if c == 0 { 0.5 } else { 0.0 });
        let t = build(&TransformSpec::GaussianNoise { std: 0.05 }, Geometry { channels: 2, height: 100, width: 100 })
            .unwrap();
        let out = applied(t.as_ref(), &input, &range);
        for (c, expected) in [(0, 0.05), (1, 1.0)] {
            let deltas: Vec<f64> = out
                .index_axis(ndarray::Axis(0), c)
                .iter()
                .zip(input.index_axis(ndarray::Axis(0), c))
                .map(|(o, i)| f64::from(o - i))
                .collect();
            let sd = (deltas.iter().map(|d| d * d).sum::<f64>() / deltas.len() as f64).sqrt();
            assert!((sd / expected - 1.0).abs() < 0.05, "channel {c}: sd {sd}, expected {expected}");
        }
    }

    #[test]
    fn zero_std_is_the_identity_and_draws_are_reproducible() {
        let range = ValueRange::uniform(1, 0.0, 1.0);
        let input = Array3::from_shape_fn((1, 4, 4), |(_, y, x)| (y * 4 + x) as f32 / 16.0);
        let geometry = Geometry { channels: 1, height: 4, width: 4 };
        let t = build(&TransformSpec::GaussianNoise { std: 0.0 }, geometry).unwrap();
        assert_eq!(applied(t.as_ref(), &input, &range), input);
        assert!(t.control().is_none());

        let t = build(&TransformSpec::GaussianNoise { std: 0.1 }, geometry).unwrap();
        let (mut a, mut b, mut c) = (input.clone(), input.clone(), input.clone());
        apply(t.as_ref(), &mut a, &range, 2, Stream::Probe);
        apply(t.as_ref(), &mut b, &range, 2, Stream::Probe);
        apply(t.as_ref(), &mut c, &range, 3, Stream::Probe);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn negative_or_non_finite_std_is_rejected() {
        let geometry = Geometry { channels: 1, height: 2, width: 2 };
        for std in [-0.1, f32::NAN, f32::INFINITY] {
            assert!(build(&TransformSpec::GaussianNoise { std }, geometry).is_err(), "{std}");
        }
    }
}
