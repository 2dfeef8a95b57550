//! Rotation, a robustness perturbation: turn the image about its centre by an angle uniform in
//! `[-max, max)` degrees, drawn per sample from the placement generator. Positive angles turn
//! the content clockwise as displayed (rows run downwards).
//!
//! Each output pixel is mapped back through the inverse rotation and sampled bilinearly from the
//! input; sample points outside the image take the value of the nearest edge (edge replication),
//! so no constant fill is invented.

use ndarray::{ArrayViewMut2, ArrayViewMut3};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::Geometry;
use super::registry::{Build, TransformKind};
use super::{SampleContext, Transform, TransformError};
use crate::battery::diagnostics::Range;
use crate::battery::spec::TransformSpec;
use crate::battery::validate::{Checker, Fields};

pub(super) struct Rotate {
    max_degrees: f32,
}

impl Rotate {
    pub(super) fn new(max_degrees: f32) -> Result<Self, TransformError> {
        Ok(Self { max_degrees: super::non_negative("rotate", "max-degrees", max_degrees)? })
    }

    /// This sample's angle in radians.
    fn draw_angle(&self, placement_rng: &mut ChaCha8Rng) -> f64 {
        // `random` is uniform in [0, 1); 2u - 1 is uniform in [-1, 1).
        let unit = 2.0 * placement_rng.random::<f64>() - 1.0;
        (unit * f64::from(self.max_degrees)).to_radians()
    }
}

impl Transform for Rotate {
    fn apply(&self, mut image: ArrayViewMut3<'_, f32>, ctx: &mut SampleContext<'_>) {
        let angle = self.draw_angle(ctx.placement_rng);
        let (_, height, width) = image.dim();
        // One plane of scratch, reused across channels: bilinear sampling needs the input intact.
        let mut source = Vec::with_capacity(height * width);
        for (c, mut plane) in image.outer_iter_mut().enumerate() {
            source.clear();
            source.extend(plane.iter().copied());
            rotate_plane(plane.view_mut(), &source, angle);
            plane.map_inplace(|v| *v = ctx.range.clamp(c, *v));
        }
    }

    fn control(&self) -> Option<Box<dyn Transform>> {
        None
    }
}

/// Writes into `plane` (`height x width`) the row-major `source` plane turned by `angle` radians
/// clockwise about the centre.
fn rotate_plane(mut plane: ArrayViewMut2<'_, f32>, source: &[f32], angle: f64) {
    let (height, width) = plane.dim();
    let (sin, cos) = angle.sin_cos();
    // The centre of the pixel grid, half-way between pixels when a side is even.
    let (cx, cy) = ((width - 1) as f64 / 2.0, (height - 1) as f64 / 2.0);
    for ((y, x), value) in plane.indexed_iter_mut() {
        let (dx, dy) = (x as f64 - cx, y as f64 - cy);
        // Inverse rotation: where in the input this output pixel comes from.
        let sx = cos * dx + sin * dy + cx;
        let sy = -sin * dx + cos * dy + cy;
        *value = bilinear(source, height, width, sx, sy);
    }
}

/// Bilinear sample of the row-major `source` at `(sx, sy)`, with coordinates outside the image
/// clamped to its edge.
fn bilinear(source: &[f32], height: usize, width: usize, sx: f64, sy: f64) -> f32 {
    let sx = sx.clamp(0.0, (width - 1) as f64);
    let sy = sy.clamp(0.0, (height - 1) as f64);
    let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
    let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
    let at = |y: usize, x: usize| f64::from(source[y * width + x]);
    let top = (1.0 - fx) * at(y0, x0) + fx * at(y0, x1);
    let bottom = (1.0 - fx) * at(y1, x0) + fx * at(y1, x1);
    ((1.0 - fy) * top + fy * bottom) as f32
}

/// `kind: rotate`: a robustness perturbation, so no matched control.
pub(crate) static KIND: TransformKind = TransformKind {
    name: "rotate",
    has_control: false,
    keys: &["kind", "max-degrees"],
    validate,
    build: Build::Image(build),
};

fn validate(c: &mut Checker, fields: &Fields<'_>, _probe: &str) -> Option<TransformSpec> {
    let range = Range::new(0.0, true, 180.0, false);
    let label = fields.label("max-degrees");
    let max = c.required(fields, "max-degrees").and_then(|n| c.number_in(n, &label, range));
    Some(TransformSpec::Rotate { max_degrees: max? as f32 })
}

fn build(spec: &TransformSpec, _geometry: Geometry) -> Result<Box<dyn Transform>, TransformError> {
    let TransformSpec::Rotate { max_degrees } = spec else { return Err(super::mismatched(KIND.name, spec)) };
    Ok(Box::new(Rotate::new(*max_degrees)?))
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;
    use ndarray::{Array2, Array3};

    use super::*;
    use crate::battery::spec::TransformSpec;
    use crate::transform::testing::{self, applied, apply};
    use crate::transform::{Geometry, Stream, ValueRange, build, sample_rng};

    fn rotated(input: &Array2<f32>, degrees: f64) -> Array2<f32> {
        let source: Vec<f32> = input.iter().copied().collect();
        let mut out = input.clone();
        rotate_plane(out.view_mut(), &source, degrees.to_radians());
        out
    }

    #[test]
    fn zero_degrees_is_the_identity() {
        let range = ValueRange::uniform(3, -1.0, 1.0);
        let input = testing::gradient(3, 6, 5);
        let t =
            build(&TransformSpec::Rotate { max_degrees: 0.0 }, Geometry { channels: 3, height: 6, width: 5 }).unwrap();
        assert_eq!(applied(t.as_ref(), &input, &range), input);
        assert!(t.control().is_none());
    }

    #[test]
    fn ninety_degrees_turns_the_content_clockwise() {
        let input = Array2::from_shape_vec((3, 3), (1..=9).map(|v| v as f32).collect()).unwrap();
        let expected = Array2::from_shape_vec((3, 3), vec![7.0, 4.0, 1.0, 8.0, 5.0, 2.0, 9.0, 6.0, 3.0]).unwrap();
        for (out, want) in rotated(&input, 90.0).iter().zip(&expected) {
            assert_abs_diff_eq!(*out, *want, epsilon = 1e-5);
        }
    }

    #[test]
    fn half_turn_about_an_even_grid_centre_flips_both_axes() {
        let input = Array2::from_shape_fn((4, 6), |(y, x)| (y * 6 + x) as f32);
        let out = rotated(&input, 180.0);
        for ((y, x), v) in out.indexed_iter() {
            assert_abs_diff_eq!(*v, input[[3 - y, 5 - x]], epsilon = 1e-4);
        }
    }

    #[test]
    fn bilinear_interpolates_and_replicates_edges() {
        let source = [0.0, 1.0, 2.0, 3.0]; // 2x2
        assert_abs_diff_eq!(bilinear(&source, 2, 2, 0.5, 0.5), 1.5);
        assert_abs_diff_eq!(bilinear(&source, 2, 2, 0.25, 0.0), 0.25);
        assert_eq!(bilinear(&source, 2, 2, -4.0, 9.0), 2.0);
        assert_eq!(bilinear(&[5.0], 1, 1, 0.7, -0.3), 5.0);
    }

    #[test]
    fn a_constant_image_stays_constant_at_any_angle() {
        let input = Array2::from_elem((5, 7), 0.3);
        for degrees in [-170.0, -33.3, 12.0, 45.0, 90.0] {
            for v in rotated(&input, degrees).iter() {
                assert_abs_diff_eq!(*v, 0.3, epsilon = 1e-6);
            }
        }
    }

    #[test]
    fn angles_stay_within_max_and_come_from_placement() {
        let t = Rotate::new(15.0).unwrap();
        let angles: Vec<f64> =
            (0..200).map(|i| t.draw_angle(&mut sample_rng(1, "rotate", i, Stream::Placement)).to_degrees()).collect();
        assert!(angles.iter().all(|a| (-15.0..15.0).contains(a)));
        assert!(angles.iter().any(|a| *a < -10.0) && angles.iter().any(|a| *a > 10.0));

        let range = ValueRange::uniform(1, 0.0, 1.0);
        let input = testing::gradient(1, 8, 8);
        let spec = TransformSpec::Rotate { max_degrees: 15.0 };
        let t = build(&spec, Geometry { channels: 1, height: 8, width: 8 }).unwrap();
        let (mut probe, mut control, mut other) = (input.clone(), input.clone(), input.clone());
        apply(t.as_ref(), &mut probe, &range, 4, Stream::Probe);
        apply(t.as_ref(), &mut control, &range, 4, Stream::Control);
        apply(t.as_ref(), &mut other, &range, 5, Stream::Probe);
        assert_eq!(probe, control);
        assert_ne!(probe, other);
    }

    #[test]
    fn rotation_works_on_a_permuted_nhwc_view() {
        let range = ValueRange::uniform(3, 0.0, 1.0);
        let nchw = testing::gradient(3, 5, 6);
        let t =
            build(&TransformSpec::Rotate { max_degrees: 40.0 }, Geometry { channels: 3, height: 5, width: 6 }).unwrap();
        let expected = applied(t.as_ref(), &nchw, &range);
        let mut nhwc: Array3<f32> = nchw.permuted_axes([1, 2, 0]).as_standard_layout().into_owned();
        testing::apply_view(t.as_ref(), nhwc.view_mut().permuted_axes([2, 0, 1]), &range, 0, Stream::Probe);
        assert_eq!(nhwc.permuted_axes([2, 0, 1]), expected);
    }

    #[test]
    fn negative_or_non_finite_max_is_rejected() {
        let geometry = Geometry { channels: 1, height: 2, width: 2 };
        for max_degrees in [-1.0, f32::NAN] {
            assert!(build(&TransformSpec::Rotate { max_degrees }, geometry).is_err());
        }
    }
}
