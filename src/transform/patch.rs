//! Patch triggers: stamp a small block of content at a fixed or per-sample random position.
//!
//! This is the trigger of BadNets (Gu, Dolan-Gavitt and Garg, 2017, "BadNets: Identifying
//! Vulnerabilities in the Machine Learning Model Supply Chain"), whose canonical triggers are a
//! small white square or pattern in a corner. The matched control stamps the same footprint —
//! same size, same position, including the same random draw — with fresh uniform noise per
//! sample: it occludes the same pixels with content that carries no consistent pattern, so a
//! gap between probe and control points at the pattern rather than at the occlusion.

use ndarray::{Array3, ArrayViewMut3, s};
use rand::RngExt;

use super::pattern::{self, Content};
use super::registry::{Build, TransformKind};
use super::{Geometry, SampleContext, Transform, TransformError};
use crate::battery::diagnostics::{Code, UNIT};
use crate::battery::spec::{Extent, PatchContent, Position, TransformSpec};
use crate::battery::validate::{Checker, Fields};
use crate::battery::yaml::{Node, Spanned, position};

const NAME: &str = "patch";

pub(super) struct Patch {
    width: usize,
    height: usize,
    anchor: Anchor,
    content: Content,
}

/// The patch's top-left pixel: fixed at build time, or drawn per sample from the placement
/// generator within `[0, max_x] x [0, max_y]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    Fixed { x: usize, y: usize },
    Random { max_x: usize, max_y: usize },
}

impl Patch {
    pub(super) fn new(
        width: Extent,
        height: Extent,
        position: Position,
        content: &PatchContent,
        geometry: Geometry,
    ) -> Result<Self, TransformError> {
        let width = pixels("width", width, geometry.width)?;
        let height = pixels("height", height, geometry.height)?;
        let anchor = anchor(position, width, height, geometry)?;
        let content = Content::Fixed(fill(content, geometry.channels, height, width)?);
        Ok(Self { width, height, anchor, content })
    }
}

impl Transform for Patch {
    fn apply(&self, mut image: ArrayViewMut3<'_, f32>, ctx: &mut SampleContext<'_>) {
        let (x, y) = match self.anchor {
            Anchor::Fixed { x, y } => (x, y),
            Anchor::Random { max_x, max_y } => {
                (ctx.placement_rng.random_range(0..=max_x), ctx.placement_rng.random_range(0..=max_y))
            }
        };
        let region = image.slice_mut(s![.., y..y + self.height, x..x + self.width]);
        self.content.paint(region, ctx.rng, ctx.range, |_, level| level);
    }

    /// The same footprint filled with fresh uniform noise per sample; a control has no control.
    fn control(&self) -> Option<Box<dyn Transform>> {
        match self.content {
            Content::Fixed(_) => Some(Box::new(Patch {
                width: self.width,
                height: self.height,
                anchor: self.anchor,
                content: Content::Fresh,
            })),
            Content::Fresh => None,
        }
    }
}

/// A patch side (`field` is "width" or "height") in pixels: `Pixels(n)` as given, `Fraction(f)`
/// as `max(1, round(f * side))` of the image's side along the same axis.
fn pixels(field: &str, extent: Extent, side: usize) -> Result<usize, TransformError> {
    match extent {
        Extent::Pixels(0) => Err(TransformError::Invalid(format!("{NAME} `{field}` must be at least 1 pixel"))),
        Extent::Pixels(n) if n as usize > side => Err(TransformError::Invalid(format!(
            "{NAME} `{field}` of {n} pixels is larger than the image {field} of {side} pixels"
        ))),
        Extent::Pixels(n) => Ok(n as usize),
        Extent::Fraction(f) if f > 0.0 && f <= 1.0 => {
            // f <= 1, so the rounded product never exceeds the side.
            Ok(((f64::from(f) * side as f64).round() as usize).clamp(1, side))
        }
        Extent::Fraction(f) => Err(TransformError::Invalid(format!(
            "{NAME} `{field}` as a fraction of the image {field} must lie in (0, 1], got {f}"
        ))),
    }
}

/// Where a `width` x `height` patch goes in an image of this geometry.
fn anchor(position: Position, width: usize, height: usize, geometry: Geometry) -> Result<Anchor, TransformError> {
    // Free room right of and below a patch at the top-left; `pixels` keeps both non-negative.
    let (room_x, room_y) = (geometry.width - width, geometry.height - height);
    let (mid_x, mid_y) = (room_x / 2, room_y / 2);
    let (x, y) = match position {
        Position::TopLeft => (0, 0),
        Position::TopRight => (room_x, 0),
        Position::BottomLeft => (0, room_y),
        Position::BottomRight => (room_x, room_y),
        Position::Top => (mid_x, 0),
        Position::Bottom => (mid_x, room_y),
        Position::Left => (0, mid_y),
        Position::Right => (room_x, mid_y),
        Position::Center => (mid_x, mid_y),
        Position::At { x, y } if x as usize <= room_x && y as usize <= room_y => (x as usize, y as usize),
        Position::At { x, y } => {
            return Err(TransformError::Invalid(format!(
                "{NAME} at x={x}, y={y} of {width}x{height} pixels would extend past the {}x{} image; \
                 use x <= {room_x} and y <= {room_y}",
                geometry.width, geometry.height
            )));
        }
        Position::Random => return Ok(Anchor::Random { max_x: room_x, max_y: room_y }),
    };
    Ok(Anchor::Fixed { x, y })
}

/// The patch's fixed `[channels, height, width]` intensity pattern.
fn fill(content: &PatchContent, channels: usize, height: usize, width: usize) -> Result<Array3<f32>, TransformError> {
    let shape = (channels, height, width);
    Ok(match content {
        PatchContent::Solid(v) => Array3::from_elem(shape, pattern::intensity(NAME, "solid", *v)?),
        PatchContent::Color(per_channel) => {
            if per_channel.len() != channels {
                return Err(TransformError::Invalid(format!(
                    "{NAME} `color` has {} intensities but the model's input has {channels} channel(s); give one per channel",
                    per_channel.len()
                )));
            }
            for v in per_channel {
                pattern::intensity(NAME, "color", *v)?;
            }
            Array3::from_shape_fn(shape, |(c, _, _)| per_channel[c])
        }
        PatchContent::Checkerboard { low, high, cell } => {
            let low = pattern::intensity(NAME, "checkerboard.low", *low)?;
            let high = pattern::intensity(NAME, "checkerboard.high", *high)?;
            if *cell == 0 {
                return Err(TransformError::Invalid(format!("{NAME} `checkerboard.cell` must be at least 1 pixel")));
            }
            let cell = *cell as usize;
            // The top-left cell is `low`; cells alternate along rows and columns.
            Array3::from_shape_fn(shape, |(_, y, x)| if (y / cell + x / cell).is_multiple_of(2) { low } else { high })
        }
        PatchContent::Noise { seed } => pattern::seeded_noise(*seed, shape),
        PatchContent::Image { path } => pattern::load_image(path, channels, height, width)?,
    })
}

/// `kind: patch`: a trigger with a matched control.
pub(crate) static KIND: TransformKind = TransformKind {
    name: NAME,
    has_control: true,
    keys: &["kind", "size", "width", "height", "position", "content"],
    validate,
    build: Build::Image(build),
};

const POSITIONS: &[(&str, Position)] = &[
    ("top-left", Position::TopLeft),
    ("top-right", Position::TopRight),
    ("bottom-left", Position::BottomLeft),
    ("bottom-right", Position::BottomRight),
    ("top", Position::Top),
    ("bottom", Position::Bottom),
    ("left", Position::Left),
    ("right", Position::Right),
    ("center", Position::Center),
    ("random", Position::Random),
];

type ContentParser = fn(&mut Checker, &Spanned<Node>, &str, &str, &str) -> Option<PatchContent>;

/// What `content:` may hold, each with how its value is read (given its label, the place that
/// names the content, and the probe).
const CONTENTS: &[(&str, ContentParser)] = &[
    ("solid", |c, value, label, _place, _probe| c.number_in(value, label, UNIT).map(|v| PatchContent::Solid(v as f32))),
    ("color", |c, value, label, _place, _probe| {
        let Node::Seq(items) = &value.value else {
            c.wrong_type(value, label, "a list of intensities, one per channel");
            return None;
        };
        if items.is_empty() {
            c.report(Code::BadValue, position(value), format!("{label} must list at least one intensity"), None);
            return None;
        }
        let channels: Vec<Option<f32>> =
            items.iter().map(|item| c.number_in(item, label, UNIT).map(|v| v as f32)).collect();
        channels.into_iter().collect::<Option<Vec<_>>>().map(PatchContent::Color)
    }),
    ("checkerboard", |c, value, label, _place, probe| {
        let fields = c.fields(value, label, format!("checkerboard content of {probe}"), true)?;
        c.check_keys(&fields, &["low", "high", "cell"]);
        let low = fields.get("low").map_or(Some(0.0), |n| c.number_in(n, &fields.label("low"), UNIT));
        let high = fields.get("high").map_or(Some(1.0), |n| c.number_in(n, &fields.label("high"), UNIT));
        let cell = fields.get("cell").map_or(Some(1), |n| c.u32_at_least(n, &fields.label("cell"), 1));
        Some(PatchContent::Checkerboard { low: low? as f32, high: high? as f32, cell: cell? })
    }),
    ("noise", |c, value, label, _place, probe| {
        c.seeded(value, label, format!("noise content of {probe}")).map(|seed| PatchContent::Noise { seed })
    }),
    ("image", |c, value, label, place, _probe| c.image(value, label, place).map(|path| PatchContent::Image { path })),
];

fn validate(c: &mut Checker, fields: &Fields<'_>, probe: &str) -> Option<TransformSpec> {
    let size = fields.get("size").map(|n| c.extent(n, &fields.label("size")));
    let width = fields.get("width").map(|n| c.extent(n, &fields.label("width")));
    let height = fields.get("height").map(|n| c.extent(n, &fields.label("height")));
    let (width, height) = match (size, width, height) {
        (Some(size), None, None) => (size, size),
        (None, Some(width), Some(height)) => (width, height),
        (Some(_), _, _) => {
            let (other, at) = match fields.key_at("width") {
                Some(at) => ("width", at),
                None => ("height", fields.key_at("height").unwrap_or(fields.at())),
            };
            let message = format!("`size` and `{other}` cannot both be given in {}", fields.place());
            let hint = Some("`size` sets width and height alike; give either `size` or `width` and `height`".into());
            c.report(Code::BadValue, at, message, hint);
            (None, None)
        }
        (None, None, None) => {
            let message = format!("missing key `size` (or `width` and `height`) in {}", fields.place());
            let hint = Some("`size: 3` stamps a 3×3 pixel patch; `size: 10%` one a tenth of the image side".into());
            c.report(Code::MissingKey, fields.at(), message, hint);
            (None, None)
        }
        (None, width, _) => {
            let (missing, given) = if width.is_none() { ("width", "height") } else { ("height", "width") };
            let message = format!("missing key `{missing}` in {}", fields.place());
            let hint = Some(format!("`{given}` needs `{missing}`; for a square patch use `size`"));
            c.report(Code::MissingKey, fields.at(), message, hint);
            (None, None)
        }
    };
    let position = match fields.get("position") {
        Some(n) => patch_position(c, n, &fields.label("position"), probe),
        None => Some(Position::BottomRight),
    };
    let content = c.required(fields, "content").and_then(|n| {
        let place = format!("content of {probe}");
        let (parse, name, value) = c.one_of(n, &fields.label("content"), place.clone(), CONTENTS)?;
        parse(c, value, &format!("`{name}` in {place}"), &place, probe)
    });
    Some(TransformSpec::Patch { width: width?, height: height?, position: position?, content: content? })
}

/// A named position, or `{x, y}` in pixels.
fn patch_position(c: &mut Checker, node: &Spanned<Node>, label: &str, probe: &str) -> Option<Position> {
    match &node.value {
        Node::String(_) => c.choice(node, label, POSITIONS),
        Node::Map(_) => {
            let fields = c.fields(node, label, format!("position of {probe}"), false)?;
            c.check_keys(&fields, &["x", "y"]);
            let x = c.required(&fields, "x").and_then(|n| c.u32_at_least(n, &fields.label("x"), 0));
            let y = c.required(&fields, "y").and_then(|n| c.u32_at_least(n, &fields.label("y"), 0));
            Some(Position::At { x: x?, y: y? })
        }
        _ => {
            let names: Vec<&str> = POSITIONS.iter().map(|(name, _)| *name).collect();
            let expected = format!("one of {} or a map `{{x: 3, y: 4}}`", names.join(", "));
            c.wrong_type(node, label, &expected);
            None
        }
    }
}

fn build(spec: &TransformSpec, geometry: Geometry) -> Result<Box<dyn Transform>, TransformError> {
    let TransformSpec::Patch { width, height, position, content } = spec else {
        return Err(super::mismatched(NAME, spec));
    };
    Ok(Box::new(Patch::new(*width, *height, *position, content, geometry)?))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use ndarray::{Array2, Array3};

    use super::*;
    use crate::transform::testing::{self, applied, apply};
    use crate::transform::{Stream, ValueRange, build};

    fn geometry(channels: usize, height: usize, width: usize) -> Geometry {
        Geometry { channels, height, width }
    }

    fn patch(width: Extent, height: Extent, position: Position, content: PatchContent) -> TransformSpec {
        TransformSpec::Patch { width, height, position, content }
    }

    fn square(side: u32, position: Position, content: PatchContent) -> TransformSpec {
        patch(Extent::Pixels(side), Extent::Pixels(side), position, content)
    }

    /// Pixels where any channel differs between `before` and `after`.
    fn changed(before: &Array3<f32>, after: &Array3<f32>) -> Array2<bool> {
        let (_, h, w) = before.dim();
        Array2::from_shape_fn((h, w), |(y, x)| {
            before.slice(s![.., y, x]).iter().zip(after.slice(s![.., y, x])).any(|(a, b)| a != b)
        })
    }

    /// `(x, y, width, height)` of the changed pixels, which must form a filled rectangle.
    fn footprint(before: &Array3<f32>, after: &Array3<f32>) -> (usize, usize, usize, usize) {
        let mask = changed(before, after);
        let cells: Vec<_> = mask.indexed_iter().filter(|(_, c)| **c).map(|(i, _)| i).collect();
        let (y0, y1) = (cells.iter().map(|c| c.0).min().unwrap(), cells.iter().map(|c| c.0).max().unwrap());
        let (x0, x1) = (cells.iter().map(|c| c.1).min().unwrap(), cells.iter().map(|c| c.1).max().unwrap());
        assert_eq!(cells.len(), (y1 - y0 + 1) * (x1 - x0 + 1), "footprint is not a filled rectangle");
        (x0, y0, x1 - x0 + 1, y1 - y0 + 1)
    }

    #[test]
    fn white_2x2_at_bottom_right_sets_exactly_those_pixels_to_hi() {
        let range = ValueRange::uniform(1, 0.0, 1.0);
        let t = build(&square(2, Position::BottomRight, PatchContent::Solid(1.0)), geometry(1, 8, 8)).unwrap();
        let out = applied(t.as_ref(), &Array3::zeros((1, 8, 8)), &range);
        for ((_, y, x), v) in out.indexed_iter() {
            let expected = if y >= 6 && x >= 6 { 1.0 } else { 0.0 };
            assert_eq!(*v, expected, "pixel ({x}, {y})");
        }
    }

    #[test]
    fn solid_intensity_maps_into_the_declared_range() {
        let range = ValueRange::uniform(1, -1.0, 3.0);
        let t = build(&square(1, Position::TopLeft, PatchContent::Solid(0.25)), geometry(1, 2, 2)).unwrap();
        let out = applied(t.as_ref(), &Array3::zeros((1, 2, 2)), &range);
        assert_eq!(out[[0, 0, 0]], 0.0);
        let t = build(&square(1, Position::TopLeft, PatchContent::Solid(1.0)), geometry(1, 2, 2)).unwrap();
        assert_eq!(applied(t.as_ref(), &Array3::zeros((1, 2, 2)), &range)[[0, 0, 0]], 3.0);
    }

    #[test]
    fn fractions_round_to_pixels_and_never_vanish() {
        assert_eq!(pixels("width", Extent::Fraction(0.25), 32).unwrap(), 8);
        assert_eq!(pixels("width", Extent::Fraction(0.25), 10).unwrap(), 3); // 2.5 rounds away from zero
        assert_eq!(pixels("width", Extent::Fraction(0.001), 32).unwrap(), 1);
        assert_eq!(pixels("width", Extent::Fraction(1.0), 7).unwrap(), 7);
        let range = ValueRange::uniform(1, 0.0, 1.0);
        let spec = patch(Extent::Fraction(0.25), Extent::Fraction(0.5), Position::TopLeft, PatchContent::Solid(1.0));
        let t = build(&spec, geometry(1, 16, 32)).unwrap();
        let before = Array3::zeros((1, 16, 32));
        assert_eq!(footprint(&before, &applied(t.as_ref(), &before, &range)), (0, 0, 8, 8));
    }

    #[test]
    fn sizes_that_do_not_fit_are_rejected() {
        let g = geometry(1, 8, 16);
        for (w, h) in [
            (Extent::Pixels(17), Extent::Pixels(1)),
            (Extent::Pixels(1), Extent::Pixels(9)),
            (Extent::Pixels(0), Extent::Pixels(1)),
            (Extent::Fraction(0.0), Extent::Fraction(0.5)),
            (Extent::Fraction(1.5), Extent::Fraction(0.5)),
            (Extent::Fraction(f32::NAN), Extent::Fraction(0.5)),
        ] {
            let spec = patch(w, h, Position::TopLeft, PatchContent::Solid(1.0));
            assert!(matches!(build(&spec, g), Err(TransformError::Invalid(_))), "{w:?} x {h:?}");
        }
        assert!(
            build(&patch(Extent::Pixels(16), Extent::Pixels(8), Position::Random, PatchContent::Solid(1.0)), g).is_ok()
        );
    }

    #[test]
    fn named_positions_place_the_patch_at_corners_edge_centres_and_centre() {
        let range = ValueRange::uniform(1, 0.0, 1.0);
        let before = Array3::zeros((1, 8, 10));
        let cases = [
            (Position::TopLeft, (0, 0)),
            (Position::TopRight, (8, 0)),
            (Position::BottomLeft, (0, 5)),
            (Position::BottomRight, (8, 5)),
            (Position::Top, (4, 0)),
            (Position::Bottom, (4, 5)),
            (Position::Left, (0, 2)),
            (Position::Right, (8, 2)),
            (Position::Center, (4, 2)),
            (Position::At { x: 3, y: 1 }, (3, 1)),
            (Position::At { x: 8, y: 5 }, (8, 5)),
        ];
        for (position, (x, y)) in cases {
            let spec = patch(Extent::Pixels(2), Extent::Pixels(3), position, PatchContent::Solid(1.0));
            let t = build(&spec, geometry(1, 8, 10)).unwrap();
            assert_eq!(footprint(&before, &applied(t.as_ref(), &before, &range)), (x, y, 2, 3), "{position:?}");
        }
    }

    #[test]
    fn explicit_position_outside_the_image_is_rejected() {
        for (x, y) in [(9, 0), (0, 6), (u32::MAX, u32::MAX)] {
            let spec = patch(Extent::Pixels(2), Extent::Pixels(3), Position::At { x, y }, PatchContent::Solid(1.0));
            assert!(matches!(build(&spec, geometry(1, 8, 10)), Err(TransformError::Invalid(_))), "({x}, {y})");
        }
    }

    #[test]
    fn checkerboard_alternates_cells_starting_low() {
        let range = ValueRange::uniform(1, 0.0, 1.0);
        let board = |cell| PatchContent::Checkerboard { low: 0.25, high: 0.75, cell };
        let t = build(&square(4, Position::TopLeft, board(1)), geometry(1, 4, 4)).unwrap();
        let out = applied(t.as_ref(), &Array3::zeros((1, 4, 4)), &range);
        for ((_, y, x), v) in out.indexed_iter() {
            assert_eq!(*v, if (x + y) % 2 == 0 { 0.25 } else { 0.75 }, "pixel ({x}, {y})");
        }
        let t = build(&square(4, Position::TopLeft, board(2)), geometry(1, 4, 4)).unwrap();
        let out = applied(t.as_ref(), &Array3::zeros((1, 4, 4)), &range);
        assert_eq!(out.slice(s![0, 0, ..]).to_vec(), [0.25, 0.25, 0.75, 0.75]);
        assert_eq!(out.slice(s![0, .., 0]).to_vec(), [0.25, 0.25, 0.75, 0.75]);
        assert_eq!(out[[0, 3, 3]], 0.25);
        assert!(build(&square(4, Position::TopLeft, board(0)), geometry(1, 4, 4)).is_err());
    }

    #[test]
    fn color_maps_each_channel_through_its_own_range() {
        // ImageNet mean/std normalisation of [0, 1] pixels, next to a [-1, 1] channel.
        let range = ValueRange { lo: vec![-1.0, -2.117_904, -2.035_714], hi: vec![1.0, 2.248_908, 2.64] };
        let spec = square(1, Position::TopLeft, PatchContent::Color(vec![1.0, 0.0, 0.5]));
        let t = build(&spec, geometry(3, 2, 2)).unwrap();
        let out = applied(t.as_ref(), &Array3::zeros((3, 2, 2)), &range);
        assert_eq!(out[[0, 0, 0]], 1.0);
        assert_eq!(out[[1, 0, 0]], -2.117_904);
        approx::assert_relative_eq!(out[[2, 0, 0]], (-2.035_714 + 2.64) / 2.0, epsilon = 1e-6);
        assert_eq!(out[[0, 1, 1]], 0.0);
    }

    #[test]
    fn color_needs_one_intensity_per_channel() {
        let spec = square(1, Position::TopLeft, PatchContent::Color(vec![1.0, 0.0]));
        assert!(matches!(build(&spec, geometry(3, 2, 2)), Err(TransformError::Invalid(_))));
        let spec = square(1, Position::TopLeft, PatchContent::Color(vec![1.0, 0.0, 2.0]));
        assert!(matches!(build(&spec, geometry(3, 2, 2)), Err(TransformError::Invalid(_))));
    }

    #[test]
    fn noise_content_is_the_same_for_every_sample_and_depends_on_the_seed() {
        let range = ValueRange::uniform(2, -1.0, 1.0);
        let t = build(&square(3, Position::Center, PatchContent::Noise { seed: 5 }), geometry(2, 6, 6)).unwrap();
        let (mut a, mut b) = (Array3::zeros((2, 6, 6)), Array3::zeros((2, 6, 6)));
        apply(t.as_ref(), &mut a, &range, 0, Stream::Probe);
        apply(t.as_ref(), &mut b, &range, 1, Stream::Probe);
        assert_eq!(a, b);
        let other = build(&square(3, Position::Center, PatchContent::Noise { seed: 6 }), geometry(2, 6, 6)).unwrap();
        assert_ne!(a, applied(other.as_ref(), &Array3::zeros((2, 6, 6)), &range));
    }

    #[test]
    fn control_covers_the_same_footprint_with_different_content_per_sample() {
        let range = ValueRange::uniform(3, 0.0, 1.0);
        // All-ones background: fresh intensities in [0, 1) can never leave a pixel unchanged.
        let before = Array3::from_elem((3, 12, 12), 1.0);
        let spec = square(4, Position::At { x: 2, y: 5 }, PatchContent::Solid(0.0));
        let t = build(&spec, geometry(3, 12, 12)).unwrap();
        let control = t.control().expect("a patch has a control");
        let probe_out = applied(t.as_ref(), &before, &range);
        let control_out = applied(control.as_ref(), &before, &range);
        assert_eq!(footprint(&before, &probe_out), (2, 5, 4, 4));
        assert_eq!(footprint(&before, &control_out), (2, 5, 4, 4));
        assert_ne!(probe_out, control_out);
        let mut next = before.clone();
        apply(control.as_ref(), &mut next, &range, 1, Stream::Control);
        assert_ne!(control_out, next);
        assert!(control.control().is_none());
    }

    #[test]
    fn random_position_is_shared_by_probe_and_control_and_varies_across_samples() {
        let range = ValueRange::uniform(1, 0.0, 1.0);
        let before = Array3::from_elem((1, 16, 16), 1.0);
        let t = build(&square(3, Position::Random, PatchContent::Solid(0.0)), geometry(1, 16, 16)).unwrap();
        let control = t.control().unwrap();
        let mut positions = std::collections::BTreeSet::new();
        for sample in 0..20 {
            let (mut probe_out, mut control_out) = (before.clone(), before.clone());
            apply(t.as_ref(), &mut probe_out, &range, sample, Stream::Probe);
            apply(control.as_ref(), &mut control_out, &range, sample, Stream::Control);
            let at = footprint(&before, &probe_out);
            assert_eq!(at, footprint(&before, &control_out), "sample {sample}");
            positions.insert(at);
        }
        assert!(positions.len() > 1, "random positions should vary across samples");
    }

    #[test]
    fn same_seeds_give_identical_outputs() {
        let range = ValueRange::uniform(3, -2.0, 2.0);
        let input = testing::gradient(3, 10, 10);
        let t = build(&square(4, Position::Random, PatchContent::Noise { seed: 1 }), geometry(3, 10, 10)).unwrap();
        let control = t.control().unwrap();
        for transform in [t.as_ref(), control.as_ref()] {
            let (mut a, mut b) = (input.clone(), input.clone());
            apply(transform, &mut a, &range, 3, Stream::Control);
            apply(transform, &mut b, &range, 3, Stream::Control);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn image_content_is_read_from_a_png_and_resized_to_the_patch() {
        let dir = tempfile::tempdir().unwrap();
        let pixels = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];
        let path = testing::write_rgb_png(dir.path(), "trigger.png", 2, 2, &pixels);
        let content = PatchContent::Image { path: path.clone() };
        let range = ValueRange::uniform(3, -1.0, 1.0);
        let t = build(&square(2, Position::BottomRight, content.clone()), geometry(3, 5, 5)).unwrap();
        let out = applied(t.as_ref(), &Array3::zeros((3, 5, 5)), &range);
        assert_eq!(out.slice(s![.., 3, 3]).to_vec(), [1.0, -1.0, -1.0]);
        assert_eq!(out.slice(s![.., 3, 4]).to_vec(), [-1.0, 1.0, -1.0]);
        assert_eq!(out.slice(s![.., 4, 3]).to_vec(), [-1.0, -1.0, 1.0]);
        assert_eq!(out.slice(s![.., 4, 4]).to_vec(), [1.0, 1.0, 1.0]);

        // Resized to 4x4 on a grayscale model: deterministic, white corner stays brightest.
        let t = build(&square(4, Position::TopLeft, content), geometry(1, 4, 4)).unwrap();
        let range = ValueRange::uniform(1, 0.0, 1.0);
        let out = applied(t.as_ref(), &Array3::zeros((1, 4, 4)), &range);
        assert_eq!(out, applied(t.as_ref(), &Array3::zeros((1, 4, 4)), &range));
        assert!(out[[0, 3, 3]] > out[[0, 0, 3]] && out[[0, 3, 3]] > out[[0, 3, 0]]);
    }

    #[test]
    fn missing_image_content_fails_at_build() {
        let content = PatchContent::Image { path: PathBuf::from("/nonexistent/trigger.png") };
        assert!(matches!(
            build(&square(2, Position::TopLeft, content), geometry(3, 4, 4)),
            Err(TransformError::Image { .. })
        ));
    }
}
