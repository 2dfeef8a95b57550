//! Translation, a robustness perturbation: shift the image by whole pixels `(dx, dy)`, each
//! uniform in `[-max, max]` and drawn per sample from the placement generator; pixels uncovered
//! at the edges replicate the nearest edge pixel.
//!
//! The shift is done in place: `out[y][x] = in[clamp(y - dy)][clamp(x - dx)]` reads, for each
//! row and column, an index on the side the shift comes from, so visiting rows and columns
//! from the far side first never reads a pixel that was already overwritten.

use ndarray::{ArrayViewMut2, ArrayViewMut3};
use rand::RngExt;

use super::registry::{Build, TransformKind};
use super::{Geometry, TransformError};
use super::{SampleContext, Transform, replicate_edge};
use crate::battery::spec::TransformSpec;
use crate::battery::validate::{Checker, Fields};

pub(super) struct Shift {
    max_pixels: i64,
}

impl Shift {
    pub(super) fn new(max_pixels: u32) -> Self {
        Self { max_pixels: i64::from(max_pixels) }
    }
}

impl Transform for Shift {
    fn apply(&self, mut image: ArrayViewMut3<'_, f32>, ctx: &mut SampleContext<'_>) {
        let max = self.max_pixels;
        let dx = ctx.placement_rng.random_range(-max..=max);
        let dy = ctx.placement_rng.random_range(-max..=max);
        for (c, mut plane) in image.outer_iter_mut().enumerate() {
            shift_plane(plane.view_mut(), dx, dy);
            // Copies of in-range values are in range; this only catches inputs that were not.
            plane.map_inplace(|v| *v = ctx.range.clamp(c, *v));
        }
    }

    fn control(&self) -> Option<Box<dyn Transform>> {
        None
    }
}

/// Moves the content of `plane` right by `dx` and down by `dy` pixels (negative: left, up),
/// replicating edge pixels into the uncovered border.
fn shift_plane(mut plane: ArrayViewMut2<'_, f32>, dx: i64, dy: i64) {
    let (height, width) = plane.dim();
    for row in 0..height {
        // Moving down reads rows above: visit the bottom row first, and vice versa.
        let y = if dy > 0 { height - 1 - row } else { row };
        let source_y = replicate_edge(y as i64 - dy, height);
        for column in 0..width {
            let x = if dx > 0 { width - 1 - column } else { column };
            let source_x = replicate_edge(x as i64 - dx, width);
            plane[[y, x]] = plane[[source_y, source_x]];
        }
    }
}

/// `kind: shift`: a robustness perturbation, so no matched control.
pub(crate) static KIND: TransformKind = TransformKind {
    name: "shift",
    has_control: false,
    keys: &["kind", "max-pixels"],
    validate,
    build: Build::Image(build),
};

fn validate(c: &mut Checker, fields: &Fields<'_>, _probe: &str) -> Option<TransformSpec> {
    let label = fields.label("max-pixels");
    let max = c.required(fields, "max-pixels").and_then(|n| c.u32_at_least(n, &label, 1));
    Some(TransformSpec::Shift { max_pixels: max? })
}

fn build(spec: &TransformSpec, _geometry: Geometry) -> Result<Box<dyn Transform>, TransformError> {
    let TransformSpec::Shift { max_pixels } = spec else { return Err(super::mismatched(KIND.name, spec)) };
    Ok(Box::new(Shift::new(*max_pixels)))
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, Array3};

    use super::*;
    use crate::battery::spec::TransformSpec;
    use crate::transform::testing::{self, applied, apply};
    use crate::transform::{Geometry, Stream, ValueRange, build};

    /// The shift computed from an untouched copy of the input.
    fn reference(input: &Array2<f32>, dx: i64, dy: i64) -> Array2<f32> {
        let (h, w) = input.dim();
        Array2::from_shape_fn((h, w), |(y, x)| {
            input[[replicate_edge(y as i64 - dy, h), replicate_edge(x as i64 - dx, w)]]
        })
    }

    #[test]
    fn in_place_shift_matches_a_copying_reference_for_every_offset() {
        let input = Array2::from_shape_fn((4, 6), |(y, x)| (y * 6 + x) as f32);
        for dy in -6..=6 {
            for dx in -8..=8 {
                let mut out = input.clone();
                shift_plane(out.view_mut(), dx, dy);
                assert_eq!(out, reference(&input, dx, dy), "dx {dx}, dy {dy}");
            }
        }
    }

    #[test]
    fn shifting_right_and_down_replicates_the_top_left_edges() {
        let mut plane = Array2::from_shape_vec((2, 3), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        shift_plane(plane.view_mut(), 1, 1);
        assert_eq!(plane.into_raw_vec_and_offset().0, [1.0, 1.0, 2.0, 1.0, 1.0, 2.0]);
    }

    #[test]
    fn shift_works_on_a_permuted_nhwc_view() {
        // The runner hands over NHWC data permuted to [C, H, W] without copying.
        let nchw = testing::gradient(3, 5, 4);
        let mut nhwc = nchw.clone().permuted_axes([1, 2, 0]).as_standard_layout().into_owned();
        for mut plane in nhwc.view_mut().permuted_axes([2, 0, 1]).outer_iter_mut() {
            shift_plane(plane.view_mut(), -2, 1);
        }
        for (c, plane) in nchw.outer_iter().enumerate() {
            let shifted = nhwc.index_axis(ndarray::Axis(2), c);
            assert_eq!(shifted, reference(&plane.to_owned(), -2, 1));
        }
    }

    #[test]
    fn max_zero_is_the_identity() {
        let range = ValueRange::uniform(3, -1.0, 1.0);
        let input = testing::gradient(3, 5, 7);
        let t = build(&TransformSpec::Shift { max_pixels: 0 }, Geometry { channels: 3, height: 5, width: 7 }).unwrap();
        assert_eq!(applied(t.as_ref(), &input, &range), input);
        assert!(t.control().is_none());
    }

    #[test]
    fn offsets_are_drawn_from_placement_and_shared_by_all_channels() {
        let range = ValueRange::uniform(2, 0.0, 1.0);
        let plane = Array2::from_shape_fn((6, 6), |(y, x)| (y * 6 + x) as f32 / 36.0);
        let input = Array3::from_shape_fn((2, 6, 6), |(_, y, x)| plane[[y, x]]);
        let t = build(&TransformSpec::Shift { max_pixels: 2 }, Geometry { channels: 2, height: 6, width: 6 }).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for sample in 0..30 {
            let (mut probe, mut control) = (input.clone(), input.clone());
            apply(t.as_ref(), &mut probe, &range, sample, Stream::Probe);
            apply(t.as_ref(), &mut control, &range, sample, Stream::Control);
            assert_eq!(probe, control, "the shift comes from the placement generator");
            let offset = (-2..=2)
                .flat_map(|dy| (-2..=2).map(move |dx| (dx, dy)))
                .find(|&(dx, dy)| probe.index_axis(ndarray::Axis(0), 0) == reference(&plane, dx, dy))
                .expect("an offset within max-pixels");
            assert_eq!(probe.index_axis(ndarray::Axis(0), 1), probe.index_axis(ndarray::Axis(0), 0));
            seen.insert(offset);
        }
        assert!(seen.len() > 5, "offsets should vary across samples: {seen:?}");
    }

    #[test]
    fn huge_max_does_not_overflow() {
        let range = ValueRange::uniform(1, 0.0, 1.0);
        let input = testing::gradient(1, 3, 3);
        let t = build(&TransformSpec::Shift { max_pixels: u32::MAX }, Geometry { channels: 1, height: 3, width: 3 })
            .unwrap();
        let out = applied(t.as_ref(), &input, &range);
        // Shifted past the image: every pixel replicates one corner.
        assert!(out.iter().all(|v| *v == out[[0, 0, 0]]));
        assert!(input.iter().any(|v| *v == out[[0, 0, 0]]));
    }
}
