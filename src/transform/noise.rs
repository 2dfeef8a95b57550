//! Additive Gaussian noise, a robustness perturbation: `x + std * (hi - lo) * z` per element with
//! `z ~ N(0, 1)` drawn per sample from the content generator, then clipped to the channel range.
//!
//! Normal deviates come from the Box–Muller transform (Box and Muller, 1958, "A Note on the
//! Generation of Random Normal Deviates"): two independent uniforms give two independent
//! standard normals.

use std::f64::consts::TAU;

use ndarray::ArrayViewMut3;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::{SampleContext, Transform, TransformError};

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
        let mut normal = BoxMuller::default();
        // Derive the generator once, not on every draw.
        let rng: &mut ChaCha8Rng = ctx.rng;
        for (c, mut plane) in image.outer_iter_mut().enumerate() {
            let scale = f64::from(self.std) * f64::from(ctx.range.hi[c] - ctx.range.lo[c]);
            // Logical (y, x) order, so the draws do not depend on the view's memory layout.
            for x in plane.iter_mut() {
                let noisy = f64::from(*x) + scale * normal.sample(rng);
                *x = ctx.range.clamp(c, noisy as f32);
            }
        }
    }

    fn control(&self) -> Option<Box<dyn Transform>> {
        None
    }
}

/// Standard normal deviates by Box–Muller, keeping the second of each pair for the next call.
#[derive(Default)]
struct BoxMuller {
    spare: Option<f64>,
}

impl BoxMuller {
    fn sample(&mut self, rng: &mut ChaCha8Rng) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // `random` is uniform in [0, 1); 1 - u is in (0, 1], keeping ln away from zero.
        let u1 = 1.0 - rng.random::<f64>();
        let u2 = rng.random::<f64>();
        let radius = (-2.0 * u1.ln()).sqrt();
        let (sin, cos) = (TAU * u2).sin_cos();
        self.spare = Some(radius * sin);
        radius * cos
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;

    use super::*;
    use crate::battery::spec::TransformSpec;
    use crate::transform::testing::{applied, apply};
    use crate::transform::{Geometry, Stream, ValueRange, build, sample_rng};

    #[test]
    fn box_muller_draws_have_zero_mean_and_unit_variance() {
        let mut rng = sample_rng(1, "box-muller", 0, Stream::Probe);
        let mut normal = BoxMuller::default();
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| normal.sample(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let variance = draws.iter().map(|z| (z - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        // Standard errors are 1/sqrt(n) ≈ 0.0022 for the mean and sqrt(2/n) ≈ 0.0032 for the
        // variance; the bounds are about five of them.
        assert!(mean.abs() < 0.011, "mean {mean}");
        assert!((variance - 1.0).abs() < 0.016, "variance {variance}");
        let within_one = draws.iter().filter(|z| z.abs() < 1.0).count() as f64 / n as f64;
        assert!((within_one - 0.6827).abs() < 0.01, "P(|z| < 1) = {within_one}");
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
