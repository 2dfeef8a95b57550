//! Brightness and contrast, a robustness perturbation: per channel with range `[lo, hi]` and
//! `mid = (lo + hi) / 2`, `x' = mid + contrast * (x - mid) + brightness * (hi - lo)`, clipped.
//! Contrast scales about the middle of the range, brightness shifts by a fraction of the range,
//! so the same parameters mean the same thing whatever the model's normalisation.

use ndarray::ArrayViewMut3;

use super::Geometry;
use super::registry::{Build, TransformKind};
use super::{SampleContext, Transform, TransformError};
use crate::battery::diagnostics::{Code, Range};
use crate::battery::spec::TransformSpec;
use crate::battery::validate::{Checker, Fields};

const NAME: &str = "brightness-contrast";

pub(super) struct BrightnessContrast {
    brightness: f32,
    contrast: f32,
}

impl BrightnessContrast {
    pub(super) fn new(brightness: f32, contrast: f32) -> Result<Self, TransformError> {
        Ok(Self {
            brightness: super::finite(NAME, "brightness", brightness)?,
            contrast: super::finite(NAME, "contrast", contrast)?,
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

/// `kind: brightness-contrast`: a robustness perturbation, so no matched control.
pub(crate) static KIND: TransformKind = TransformKind {
    name: NAME,
    has_control: false,
    keys: &["kind", "brightness", "contrast"],
    validate,
    build: Build::Image(build),
};

fn validate(c: &mut Checker, fields: &Fields<'_>, _probe: &str) -> Option<TransformSpec> {
    let brightness_node = fields.get("brightness");
    let contrast_node = fields.get("contrast");
    if brightness_node.is_none() && contrast_node.is_none() {
        let message = format!("missing key `brightness` or `contrast` in {}", fields.place());
        let hint = Some("give at least one; brightness defaults to 0 and contrast to 1 (no change)".into());
        c.report(Code::MissingKey, fields.at(), message, hint);
        return None;
    }
    let brightness_range = Range::new(-1.0, false, 1.0, false);
    let contrast_range = Range::new(0.0, true, 10.0, false);
    let brightness =
        brightness_node.map_or(Some(0.0), |n| c.number_in(n, &fields.label("brightness"), brightness_range));
    let contrast = contrast_node.map_or(Some(1.0), |n| c.number_in(n, &fields.label("contrast"), contrast_range));
    Some(TransformSpec::BrightnessContrast { brightness: brightness? as f32, contrast: contrast? as f32 })
}

fn build(spec: &TransformSpec, _geometry: Geometry) -> Result<Box<dyn Transform>, TransformError> {
    let TransformSpec::BrightnessContrast { brightness, contrast } = spec else {
        return Err(super::mismatched(NAME, spec));
    };
    Ok(Box::new(BrightnessContrast::new(*brightness, *contrast)?))
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
