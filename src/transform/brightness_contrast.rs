//! Brightness and contrast, a robustness perturbation: per channel with range `[lo, hi]` and
//! `mid = (lo + hi) / 2`, `x' = mid + contrast * (x - mid) + brightness * (hi - lo)`, clipped.
//! Contrast scales about the middle of the range, brightness shifts by a fraction of the range,
//! so the same parameters mean the same thing whatever the model's normalisation.

use ndarray::ArrayViewMut3;

use super::{SampleContext, Transform, TransformError};

const KIND: &str = "brightness-contrast";

pub(super) struct BrightnessContrast {
    brightness: f32,
    contrast: f32,
}

impl BrightnessContrast {
    pub(super) fn new(brightness: f32, contrast: f32) -> Result<Self, TransformError> {
        Ok(Self {
            brightness: super::finite(KIND, "brightness", brightness)?,
            contrast: super::finite(KIND, "contrast", contrast)?,
        })
    }
}

impl Transform for BrightnessContrast {
    fn apply(&self, mut image: ArrayViewMut3<'_, f32>, ctx: &mut SampleContext<'_>) {
        let (brightness, contrast) = (f64::from(self.brightness), f64::from(self.contrast));
        for (c, mut plane) in image.outer_iter_mut().enumerate() {
            let (lo, hi) = (f64::from(ctx.range.lo[c]), f64::from(ctx.range.hi[c]));
            let mid = (lo + hi) / 2.0;
            let offset = brightness * (hi - lo);
            plane.map_inplace(|x| {
                let adjusted = mid + contrast * (f64::from(*x) - mid) + offset;
                *x = ctx.range.clamp(c, adjusted as f32);
            });
        }
    }

    fn control(&self) -> Option<Box<dyn Transform>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;
    use ndarray::Array3;

    use crate::battery::spec::TransformSpec;
    use crate::transform::testing::applied;
    use crate::transform::{Geometry, ValueRange, build};

    fn adjust(brightness: f32, contrast: f32, input: &Array3<f32>, range: &ValueRange) -> Array3<f32> {
        let (channels, height, width) = input.dim();
        let spec = TransformSpec::BrightnessContrast { brightness, contrast };
        let t = build(&spec, Geometry { channels, height, width }).unwrap();
        assert!(t.control().is_none());
        applied(t.as_ref(), input, range)
    }

    #[test]
    fn neutral_parameters_are_the_identity() {
        let range = ValueRange { lo: vec![-2.1, 0.0], hi: vec![2.3, 255.0] };
        let input = Array3::from_shape_fn((2, 3, 3), |(c, y, x)| range.level(c, (y * 3 + x) as f32 / 8.0));
        assert_eq!(adjust(0.0, 1.0, &input, &range), input);
    }

    #[test]
    fn contrast_scales_about_the_middle_of_each_channel_range() {
        let range = ValueRange { lo: vec![0.0, -1.0], hi: vec![1.0, 3.0] };
        let input = Array3::from_shape_vec((2, 1, 2), vec![0.25, 0.75, 0.0, 2.0]).unwrap();
        let out = adjust(0.0, 0.5, &input, &range);
        // Channel 0: mid 0.5; channel 1: mid 1.0.
        for (v, expected) in out.iter().zip([0.375, 0.625, 0.5, 1.5]) {
            assert_abs_diff_eq!(*v, expected, epsilon = 1e-6);
        }
    }

    #[test]
    fn brightness_shifts_by_a_fraction_of_the_range_and_clips() {
        let range = ValueRange { lo: vec![0.0, -1.0], hi: vec![1.0, 3.0] };
        let input = Array3::from_shape_vec((2, 1, 2), vec![0.25, 0.95, 0.0, 2.5]).unwrap();
        let out = adjust(0.1, 1.0, &input, &range);
        for (v, expected) in out.iter().zip([0.35, 1.0, 0.4, 2.9]) {
            assert_abs_diff_eq!(*v, expected, epsilon = 1e-6);
        }
        let darker = adjust(-2.0, 1.0, &input, &range);
        assert_eq!(darker.into_raw_vec_and_offset().0, [0.0, 0.0, -1.0, -1.0]);
    }

    #[test]
    fn non_finite_parameters_are_rejected() {
        let geometry = Geometry { channels: 1, height: 1, width: 1 };
        for (brightness, contrast) in [(f32::NAN, 1.0), (0.0, f32::INFINITY)] {
            assert!(build(&TransformSpec::BrightnessContrast { brightness, contrast }, geometry).is_err());
        }
    }
}
