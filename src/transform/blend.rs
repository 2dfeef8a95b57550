//! Blended triggers: `(1 - alpha) * x + alpha * pattern` over the whole image.
//!
//! Patterns: a fixed pseudo-random noise image or an image file, as in the blended injection of
//! Chen, Liu, Li, Lu and Song (2017, "Targeted Backdoor Attacks on Deep Learning Systems Using
//! Data Poisoning"); and the sinusoidal signal of SIG (Barni, Kallas and Tondi, 2019, "A New
//! Backdoor Attack in CNNs by Training Set Corruption Without Label Poisoning"). SIG adds
//! `Δ sin(2π f j / m)` to column `j` of an `m`-column image; as a blend pattern the sinusoid is
//! shifted and scaled into `[0, 1]` intensities, `0.5 + 0.5 sin(2π f j / m)`, so that `alpha`
//! sets its strength. Intensities are mapped into each channel's range before mixing.
//!
//! The matched control blends with the same `alpha` a fresh uniform noise image per sample:
//! the same loss of the original signal, without a consistent pattern.

use std::f64::consts::PI;

use ndarray::{Array3, ArrayViewMut3};

use super::pattern::{self, Content};
use super::registry::{Build, TransformKind};
use super::{Geometry, SampleContext, Transform, TransformError};
use crate::battery::diagnostics::{POSITIVE, UNIT_NONZERO};
use crate::battery::spec::{BlendPattern, Orientation, TransformSpec};
use crate::battery::validate::{Checker, Fields};
use crate::battery::yaml::{Node, Spanned};

const NAME: &str = "blend";

pub(super) struct Blend {
    alpha: f32,
    content: Content,
}

impl Blend {
    pub(super) fn new(pattern: &BlendPattern, alpha: f32, geometry: Geometry) -> Result<Self, TransformError> {
        if !(0.0..=1.0).contains(&alpha) {
            return Err(TransformError::Invalid(format!("{NAME} `alpha` must lie in [0, 1], got {alpha}")));
        }
        let shape = (geometry.channels, geometry.height, geometry.width);
        let pattern = match pattern {
            BlendPattern::Noise { seed } => pattern::seeded_noise(*seed, shape),
            BlendPattern::Stripes { frequency, orientation } => {
                stripes(super::finite(NAME, "stripes.frequency", *frequency)?, *orientation, shape)
            }
            BlendPattern::Image { path } => {
                pattern::load_image(path, geometry.channels, geometry.height, geometry.width)?
            }
        };
        Ok(Self { alpha, content: Content::Fixed(pattern) })
    }
}

impl Transform for Blend {
    fn apply(&self, image: ArrayViewMut3<'_, f32>, ctx: &mut SampleContext<'_>) {
        let alpha = self.alpha;
        self.content.paint(image, ctx.rng, ctx.range, |x, level| (1.0 - alpha) * x + alpha * level);
    }

    /// The same `alpha` with fresh uniform noise per sample; a control has no control.
    fn control(&self) -> Option<Box<dyn Transform>> {
        match self.content {
            Content::Fixed(_) => Some(Box::new(Blend { alpha: self.alpha, content: Content::Fresh })),
            Content::Fresh => None,
        }
    }
}

/// SIG's sinusoid as intensities: `0.5 + 0.5 sin(2π f j / width)` along columns `j` for
/// vertical stripes, along rows (over the height) for horizontal ones; the same in every channel.
fn stripes(frequency: f32, orientation: Orientation, shape: (usize, usize, usize)) -> Array3<f32> {
    let (_, height, width) = shape;
    Array3::from_shape_fn(shape, |(_, y, x)| {
        let (position, length) = match orientation {
            Orientation::Vertical => (x, width),
            Orientation::Horizontal => (y, height),
        };
        let phase = 2.0 * PI * f64::from(frequency) * position as f64 / length as f64;
        (0.5 + 0.5 * phase.sin()) as f32
    })
}

/// `kind: blend`: a trigger with a matched control.
pub(crate) static KIND: TransformKind = TransformKind {
    name: NAME,
    has_control: true,
    keys: &["kind", "pattern", "alpha"],
    validate,
    build: Build::Image(build),
};

type PatternParser = fn(&mut Checker, &Spanned<Node>, &str, &str, &str) -> Option<BlendPattern>;

/// What `pattern:` may hold, each with how its value is read (given its label, the place that
/// names the pattern, and the probe).
const PATTERNS: &[(&str, PatternParser)] = &[
    ("noise", |c, value, label, _place, probe| {
        c.seeded(value, label, format!("noise pattern of {probe}")).map(|seed| BlendPattern::Noise { seed })
    }),
    ("stripes", |c, value, label, _place, probe| {
        let fields = c.fields(value, label, format!("stripes pattern of {probe}"), true)?;
        c.check_keys(&fields, &["frequency", "orientation"]);
        let frequency =
            c.required(&fields, "frequency").and_then(|n| c.number_in(n, &fields.label("frequency"), POSITIVE));
        let orientation = fields
            .get("orientation")
            .map_or(Some(Orientation::Vertical), |n| c.choice(n, &fields.label("orientation"), ORIENTATIONS));
        Some(BlendPattern::Stripes { frequency: frequency? as f32, orientation: orientation? })
    }),
    ("image", |c, value, label, place, _probe| c.image(value, label, place).map(|path| BlendPattern::Image { path })),
];
const ORIENTATIONS: &[(&str, Orientation)] =
    &[("vertical", Orientation::Vertical), ("horizontal", Orientation::Horizontal)];

fn validate(c: &mut Checker, fields: &Fields<'_>, probe: &str) -> Option<TransformSpec> {
    let pattern = c.required(fields, "pattern").and_then(|n| {
        let place = format!("pattern of {probe}");
        let (parse, name, value) = c.one_of(n, &fields.label("pattern"), place.clone(), PATTERNS)?;
        parse(c, value, &format!("`{name}` in {place}"), &place, probe)
    });
    let alpha = c.required(fields, "alpha").and_then(|n| c.number_in(n, &fields.label("alpha"), UNIT_NONZERO));
    Some(TransformSpec::Blend { pattern: pattern?, alpha: alpha? as f32 })
}

fn build(spec: &TransformSpec, geometry: Geometry) -> Result<Box<dyn Transform>, TransformError> {
    let TransformSpec::Blend { pattern, alpha } = spec else { return Err(super::mismatched(NAME, spec)) };
    Ok(Box::new(Blend::new(pattern, *alpha, geometry)?))
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;
    use ndarray::{Array3, s};

    use super::*;
    use crate::transform::testing::{self, applied, apply};
    use crate::transform::{Stream, ValueRange, build};

    fn geometry(channels: usize, height: usize, width: usize) -> Geometry {
        Geometry { channels, height, width }
    }

    fn blend(pattern: BlendPattern, alpha: f32) -> TransformSpec {
        TransformSpec::Blend { pattern, alpha }
    }

    fn sig(frequency: f32, orientation: Orientation) -> BlendPattern {
        BlendPattern::Stripes { frequency, orientation }
    }

    #[test]
    fn alpha_zero_is_the_identity() {
        let range = ValueRange { lo: vec![-3.0, 0.0], hi: vec![-1.0, 5.0] };
        let input = Array3::from_shape_fn((2, 6, 7), |(c, y, x)| range.level(c, (y * 7 + x) as f32 / 42.0));
        for pattern in [BlendPattern::Noise { seed: 3 }, sig(3.0, Orientation::Vertical)] {
            let t = build(&blend(pattern, 0.0), geometry(2, 6, 7)).unwrap();
            assert_eq!(applied(t.as_ref(), &input, &range), input);
            assert_eq!(applied(t.control().unwrap().as_ref(), &input, &range), input);
        }
    }

    #[test]
    fn vertical_stripes_follow_the_sig_formula_along_columns() {
        let range = ValueRange::uniform(1, -1.0, 1.0);
        let t = build(&blend(sig(2.0, Orientation::Vertical), 1.0), geometry(1, 3, 8)).unwrap();
        let out = applied(t.as_ref(), &Array3::zeros((1, 3, 8)), &range);
        for ((_, y, x), v) in out.indexed_iter() {
            let intensity = 0.5 + 0.5 * (2.0 * PI * 2.0 * x as f64 / 8.0).sin();
            assert_abs_diff_eq!(f64::from(*v), -1.0 + 2.0 * intensity, epsilon = 1e-6);
            assert_eq!(*v, out[[0, 0, x]], "row {y} differs from row 0");
        }
        // At frequency 2 over 8 columns, column 1 is a crest (phase π/2), column 3 a trough (3π/2).
        assert_abs_diff_eq!(out[[0, 0, 1]], 1.0, epsilon = 1e-6);
        assert_abs_diff_eq!(out[[0, 0, 3]], -1.0, epsilon = 1e-6);
    }

    #[test]
    fn horizontal_stripes_vary_along_rows() {
        let range = ValueRange::uniform(3, 0.0, 1.0);
        let t = build(&blend(sig(1.5, Orientation::Horizontal), 0.5), geometry(3, 10, 4)).unwrap();
        let out = applied(t.as_ref(), &Array3::zeros((3, 10, 4)), &range);
        for ((_, y, _), v) in out.indexed_iter() {
            let intensity = 0.5 + 0.5 * (2.0 * PI * 1.5 * y as f64 / 10.0).sin();
            assert_abs_diff_eq!(f64::from(*v), 0.5 * intensity, epsilon = 1e-6);
        }
    }

    #[test]
    fn blend_mixes_input_and_pattern_levels() {
        let range = ValueRange::uniform(1, 2.0, 4.0);
        let input = Array3::from_elem((1, 2, 2), 4.0);
        let t = build(&blend(sig(0.0, Orientation::Vertical), 0.25), geometry(1, 2, 2)).unwrap();
        // Frequency 0 is a flat 0.5 intensity, level 3: 0.75 * 4 + 0.25 * 3.
        assert_eq!(applied(t.as_ref(), &input, &range), Array3::from_elem((1, 2, 2), 3.75));
    }

    #[test]
    fn noise_pattern_is_fixed_across_samples_and_set_by_the_seed() {
        let range = ValueRange::uniform(3, 0.0, 1.0);
        let input = testing::gradient(3, 5, 5);
        let t = build(&blend(BlendPattern::Noise { seed: 9 }, 0.3), geometry(3, 5, 5)).unwrap();
        let (mut a, mut b) = (input.clone(), input.clone());
        apply(t.as_ref(), &mut a, &range, 0, Stream::Probe);
        apply(t.as_ref(), &mut b, &range, 17, Stream::Probe);
        assert_eq!(a, b);
        let other = build(&blend(BlendPattern::Noise { seed: 10 }, 0.3), geometry(3, 5, 5)).unwrap();
        assert_ne!(a, applied(other.as_ref(), &input, &range));
    }

    #[test]
    fn control_keeps_alpha_with_fresh_noise_per_sample() {
        let range = ValueRange::uniform(1, -1.0, 1.0);
        let input = Array3::from_elem((1, 6, 6), 0.5);
        let t = build(&blend(sig(2.0, Orientation::Vertical), 0.2), geometry(1, 6, 6)).unwrap();
        let control = t.control().unwrap();
        let (mut first, mut second) = (input.clone(), input.clone());
        apply(control.as_ref(), &mut first, &range, 0, Stream::Control);
        apply(control.as_ref(), &mut second, &range, 1, Stream::Control);
        assert_ne!(first, second);
        assert_ne!(first, applied(t.as_ref(), &input, &range));
        // 0.8 * 0.5 plus 0.2 times a level in [-1, 1].
        assert!(first.iter().all(|v| (0.2 - 1e-6..=0.6 + 1e-6).contains(v)));
        let mut again = input.clone();
        apply(control.as_ref(), &mut again, &range, 0, Stream::Control);
        assert_eq!(first, again);
        assert!(control.control().is_none());
    }

    #[test]
    fn image_pattern_is_resized_to_the_full_image() {
        let dir = tempfile::tempdir().unwrap();
        let path = testing::write_rgb_png(dir.path(), "p.png", 2, 1, &[[255, 255, 255], [0, 0, 0]]);
        let range = ValueRange::uniform(1, 0.0, 1.0);
        let t = build(&blend(BlendPattern::Image { path: path.clone() }, 1.0), geometry(1, 1, 2)).unwrap();
        assert_eq!(applied(t.as_ref(), &Array3::zeros((1, 1, 2)), &range).into_raw_vec_and_offset().0, [1.0, 0.0]);
        let t = build(&blend(BlendPattern::Image { path }, 1.0), geometry(1, 3, 8)).unwrap();
        let out = applied(t.as_ref(), &Array3::zeros((1, 3, 8)), &range);
        assert!(out[[0, 1, 0]] > out[[0, 1, 7]]);
        assert_eq!(out.slice(s![0, 0, ..]), out.slice(s![0, 2, ..]));
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        let g = geometry(3, 4, 4);
        for alpha in [-0.1, 1.01, f32::NAN] {
            assert!(matches!(
                build(&blend(BlendPattern::Noise { seed: 0 }, alpha), g),
                Err(TransformError::Invalid(_))
            ));
        }
        assert!(build(&blend(sig(f32::INFINITY, Orientation::Vertical), 0.5), g).is_err());
        let missing = BlendPattern::Image { path: "/nonexistent/pattern.png".into() };
        assert!(matches!(build(&blend(missing, 0.5), g), Err(TransformError::Image { .. })));
    }
}
