//! Image transforms: one file per transform behind [`Transform`], built from a validated
//! [`TransformSpec`] by [`build`] through the kind's descriptor in [`registry`] — the single
//! registration point of every transform kind, image and text.
//!
//! Transforms see one sample at a time as a `[C, H, W]` view (the runner permutes NHWC data into
//! this view without copying) and the per-channel valid [`ValueRange`]. Randomness comes only
//! from the [`SampleContext`]'s generators, which are derived from (seed, probe id, sample
//! index) — so results do not depend on thread scheduling, batch size or sample order. The
//! derivation ([`ProbeRngs`]) is versioned by [`SAMPLE_RNG_VERSION`], which reports, baselines
//! and attestations record.
//!
//! Trigger transforms (`patch.rs`, `blend.rs`, sharing their content code in `pattern.rs`) have a
//! matched control; robustness perturbations (`noise.rs`, `brightness_contrast.rs`, `shift.rs`,
//! `rotate.rs`, `blur.rs`) do not. Each file also declares its kind's descriptor (`KIND`: name,
//! accepted keys, validation, build); adding a transform means one new file, its spec variant and
//! one line in [`registry::KINDS`].

mod blend;
mod blur;
mod brightness_contrast;
pub mod masked;
mod noise;
mod patch;
mod pattern;
pub mod registry;
mod rotate;
mod shift;
#[cfg(test)]
mod testing;
pub mod text;

use ndarray::ArrayViewMut3;
use rand_chacha::ChaCha8Rng;

use crate::battery::spec::TransformSpec;
pub use masked::MaskedTrigger;
use registry::Build;

/// Per-channel valid value range of the model's input.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueRange {
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
}

impl ValueRange {
    /// The same `[lo, hi]` for each of `channels` channels.
    pub fn uniform(channels: usize, lo: f32, hi: f32) -> Self {
        Self { lo: vec![lo; channels], hi: vec![hi; channels] }
    }

    /// Maps an intensity in `[0, 1]` into channel `c`'s range.
    pub fn level(&self, c: usize, intensity: f32) -> f32 {
        self.lo[c] + intensity * (self.hi[c] - self.lo[c])
    }

    /// Clips `value` into channel `c`'s range (which must have `lo <= hi`).
    pub fn clamp(&self, c: usize, value: f32) -> f32 {
        value.clamp(self.lo[c], self.hi[c])
    }
}

/// Shape of one sample: channels, height, width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// The randomness and context one sample is transformed with.
pub struct SampleContext<'a> {
    /// Drawn for content: differs between a probe and its control.
    pub rng: &'a mut LazyRng<'a>,
    /// Drawn for placement (random positions, shifts): shared by a probe and its control, so
    /// the control covers exactly the same footprint.
    pub placement_rng: &'a mut LazyRng<'a>,
    pub range: &'a ValueRange,
    /// The sample's data index: a transform made for particular inputs (an attack's
    /// adversarial examples) looks its input up by it.
    pub index: usize,
}

/// A sample's generator ([`sample_rng`]), derived on first use: most trigger probes stamp fixed
/// content at a fixed place and never draw, and deriving one still sets up a ChaCha state and its
/// 256-byte output buffer. The draws are exactly those of the derived generator.
pub struct LazyRng<'k> {
    source: Option<(&'k ProbeRngs, u64, Stream)>,
    rng: std::cell::OnceCell<ChaCha8Rng>,
}

impl<'k> LazyRng<'k> {
    /// The generator `rngs.sample(index, stream)`, derived when first drawn from.
    pub fn new(rngs: &'k ProbeRngs, index: u64, stream: Stream) -> Self {
        Self { source: Some((rngs, index, stream)), rng: std::cell::OnceCell::new() }
    }

    /// An already derived generator.
    pub fn from_rng(rng: ChaCha8Rng) -> Self {
        Self { source: None, rng: std::cell::OnceCell::from(rng) }
    }
}

impl std::ops::Deref for LazyRng<'_> {
    type Target = ChaCha8Rng;

    fn deref(&self) -> &ChaCha8Rng {
        self.rng.get_or_init(|| {
            let (rngs, index, stream) = self.source.expect("a lazy generator has a source until derived");
            rngs.sample(index, stream)
        })
    }
}

impl std::ops::DerefMut for LazyRng<'_> {
    fn deref_mut(&mut self) -> &mut ChaCha8Rng {
        let _ = std::ops::Deref::deref(self);
        self.rng.get_mut().expect("derived just above")
    }
}

/// A transform of one image sample.
pub trait Transform: Send + Sync {
    /// Transforms `image` (`[C, H, W]`) in place; values stay within `ctx.range`.
    fn apply(&self, image: ArrayViewMut3<'_, f32>, ctx: &mut SampleContext<'_>);

    /// The matched control of a trigger probe: the same footprint and strength with benign
    /// content that carries no consistent pattern. `None` for transforms that have no trigger
    /// content (robustness perturbations).
    fn control(&self) -> Option<Box<dyn Transform>>;
}

/// Why a transform cannot be built for this model's inputs.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read image {path}: {detail}")]
    Image { path: std::path::PathBuf, detail: String },
}

/// Builds the transform a probe declares, for samples of this geometry.
///
/// Everything that can be checked once is checked here (parameter domains, patch footprints,
/// image files), so that [`Transform::apply`] cannot fail. Images passed to `apply` must have
/// this geometry, and the range one entry per channel.
pub fn build(spec: &TransformSpec, geometry: Geometry) -> Result<Box<dyn Transform>, TransformError> {
    if geometry.channels == 0 || geometry.height == 0 || geometry.width == 0 {
        return Err(TransformError::Invalid(format!(
            "cannot transform images of {} channel(s) x {}x{} pixels: every dimension must be at least 1",
            geometry.channels, geometry.width, geometry.height
        )));
    }
    match registry::of(spec).map(|kind| &kind.build) {
        Some(Build::Image(build)) => build(spec, geometry),
        Some(Build::Text(_)) => {
            Err(TransformError::Invalid(format!("`{}` is a text transform, not an image one", spec.kind())))
        }
        Some(Build::Tabular(_)) => {
            Err(TransformError::Invalid(format!("`{}` is a tabular transform, not an image one", spec.kind())))
        }
        None => Err(not_a_transform(spec)),
    }
}

/// Why a probe's spec has no transform to build: it is a search (the search module recovers a
/// trigger instead) or, were a kind left out of [`registry::KINDS`], an unregistered kind.
pub(crate) fn not_a_transform(spec: &TransformSpec) -> TransformError {
    TransformError::Invalid(match spec {
        TransformSpec::Search(_) => "a search probe has no fixed transform; the search module recovers one".into(),
        other => format!("transform kind `{}` is not registered", other.kind()),
    })
}

/// A kind's build was handed another kind's spec (a registry bug, never a user's mistake).
pub(crate) fn mismatched(kind: &str, spec: &TransformSpec) -> TransformError {
    TransformError::Invalid(format!("a `{}` spec cannot build a `{kind}` transform", spec.kind()))
}

/// Fails unless `value` is a finite number, naming the parameter.
fn finite(kind: &str, field: &str, value: f32) -> Result<f32, TransformError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(TransformError::Invalid(format!("{kind} `{field}` must be a finite number, got {value}")))
    }
}

/// Fails unless `value` is a finite, non-negative number, naming the parameter.
fn non_negative(kind: &str, field: &str, value: f32) -> Result<f32, TransformError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(TransformError::Invalid(format!("{kind} `{field}` must be a finite number >= 0, got {value}")))
    }
}

/// Index `i` of a line of `len` samples, with the edge samples replicated beyond either end.
fn replicate_edge(i: i64, len: usize) -> usize {
    // `len >= 1` (checked in `build`); a line longer than i64::MAX cannot exist in memory.
    i.clamp(0, len as i64 - 1) as usize
}

/// Which generator stream of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Probe,
    Control,
    Placement,
}

/// The derivation of every sample generator, by name: recorded in reports, baselines and
/// attestations, because every random probe's inputs (and so its numbers) depend on it. Change
/// the derivation and this name together.
pub const SAMPLE_RNG_VERSION: &str = "probity/sample-rng/v2";

/// The derivation used before [`SAMPLE_RNG_VERSION`] was recorded: a report, baseline or
/// attestation that does not name one was made with this.
pub const SAMPLE_RNG_UNRECORDED: &str = "probity/sample-rng/v1";

/// [`SAMPLE_RNG_UNRECORDED`] as a serde default, for files written before the field existed.
pub fn unrecorded_sample_rng() -> String {
    SAMPLE_RNG_UNRECORDED.into()
}

/// The generator for (seed, probe id, sample index, stream); see [`ProbeRngs`].
pub fn sample_rng(seed: u64, probe_id: &str, sample_index: u64, stream: Stream) -> ChaCha8Rng {
    ProbeRngs::new(seed, probe_id).sample(sample_index, stream)
}

/// The sample generators of one (seed, probe id).
///
/// One ChaCha8 key per probe: SHA-256 of `SAMPLE_RNG_VERSION`, a NUL, the seed (little-endian)
/// and the probe id, computed once. Each sample's generator is that key with ChaCha's 64-bit
/// stream (nonce) set to the sample index and the block counter starting at `stream << 62`, so
/// the probe, control and placement streams of a sample each own 2^62 blocks (2^68 bytes) and
/// never overlap. Every (index, stream) pair gets its own keystream for the whole `u64` index
/// range (the vocabulary sweep uses indices near `u64::MAX`, so packing the stream into the
/// index would wrap). ChaCha's keystream blocks are independent pseudo-random functions of
/// (key, nonce, counter), so samples stay independent of each other and of evaluation order,
/// with no hashing per sample.
#[derive(Clone)]
pub struct ProbeRngs {
    key: [u8; 32],
}

impl ProbeRngs {
    pub fn new(seed: u64, probe_id: &str) -> Self {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(SAMPLE_RNG_VERSION.as_bytes());
        hasher.update([0u8]);
        hasher.update(seed.to_le_bytes());
        hasher.update(probe_id.as_bytes());
        Self { key: hasher.finalize().into() }
    }

    /// Sample `sample_index`'s generator for `stream`.
    pub fn sample(&self, sample_index: u64, stream: Stream) -> ChaCha8Rng {
        use rand::SeedableRng;
        /// ChaCha8Rng counts 32-bit words: 16 per 64-byte block, so a block counter of
        /// `stream << 62` is the word position `stream << 66`.
        const STREAM_SHIFT: u32 = 62 + 4;
        let mut rng = ChaCha8Rng::from_seed(self.key);
        rng.set_stream(sample_index);
        rng.set_word_pos(u128::from(stream as u8) << STREAM_SHIFT);
        rng
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::OnceLock;

    use ndarray::Array3;
    use proptest::prelude::*;

    use super::*;
    use crate::battery::spec::{BlendPattern, Extent, Orientation, PatchContent, Position};

    #[test]
    fn sample_generators_are_pinned() {
        // Every recorded number depends on this derivation: it must never change silently (a
        // change renames SAMPLE_RNG_VERSION). The values come from an independent ChaCha8 in
        // Python, tests/fixtures/rng/sample_rng_v2.py.
        assert_eq!(SAMPLE_RNG_VERSION, "probity/sample-rng/v2");
        let short = sample_rng(20261125, "b/p", 7, Stream::Control).random::<u64>();
        let long = sample_rng(1, "throughput/patch-white-1of8-bottom-right", 399, Stream::Placement).random::<u64>();
        // The vocabulary sweep draws from indices near u64::MAX.
        let last = sample_rng(1, "t/vocabulary-sweep", u64::MAX, Stream::Probe).random::<u64>();
        assert_eq!((short, long, last), (4524127680366726563, 13657556229717597970, 16364303527332561495));
    }

    #[test]
    fn every_sample_and_stream_gets_its_own_generator() {
        // Neighbouring indices and the three streams (including the wrap-around a packed
        // `index * 4 + stream` would suffer at u64::MAX) start distinct keystreams, and the
        // shared per-probe key gives what deriving from scratch gives.
        let rngs = ProbeRngs::new(3, "b/p");
        let streams = [Stream::Probe, Stream::Control, Stream::Placement];
        let mut firsts = std::collections::HashSet::new();
        for index in [0, 1, 2, 1 << 62, u64::MAX - 1, u64::MAX] {
            for stream in streams {
                let first = rngs.sample(index, stream).random::<u64>();
                assert_eq!(first, sample_rng(3, "b/p", index, stream).random::<u64>());
                assert!(firsts.insert(first), "index {index}, {stream:?} repeats another generator");
            }
        }
        assert_ne!(
            sample_rng(3, "b/p", 0, Stream::Probe).random::<u64>(),
            sample_rng(4, "b/p", 0, Stream::Probe).random::<u64>()
        );
        assert_ne!(
            sample_rng(3, "b/p", 0, Stream::Probe).random::<u64>(),
            sample_rng(3, "b/q", 0, Stream::Probe).random::<u64>()
        );
    }

    /// A 3x2 RGB PNG shared by every case, in a directory that lives as long as the test binary.
    fn trigger_png() -> PathBuf {
        static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
        let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
        let path = dir.path().join("trigger.png");
        if !path.exists() {
            let pixels = [[255, 0, 10], [0, 255, 20], [30, 40, 255], [255, 255, 255], [0, 0, 0], [128, 64, 32]];
            let written = testing::write_rgb_png(dir.path(), "trigger.tmp.png", 3, 2, &pixels);
            // Rename so that a concurrent reader never sees a half-written file.
            std::fs::rename(written, &path).expect("renaming the test PNG");
        }
        path
    }

    fn intensity() -> impl Strategy<Value = f32> {
        0.0f32..=1.0
    }

    fn named_position() -> impl Strategy<Value = Position> {
        prop_oneof![
            Just(Position::TopLeft),
            Just(Position::TopRight),
            Just(Position::BottomLeft),
            Just(Position::BottomRight),
            Just(Position::Top),
            Just(Position::Bottom),
            Just(Position::Left),
            Just(Position::Right),
            Just(Position::Center),
            Just(Position::Random),
        ]
    }

    /// Patch sizes and positions that fit the geometry: pixel sizes with any position, or
    /// fractions with a named one.
    fn footprint(geometry: Geometry) -> impl Strategy<Value = (Extent, Extent, Position)> {
        let (width, height) = (geometry.width as u32, geometry.height as u32);
        let in_pixels = (1..=width, 1..=height).prop_flat_map(move |(w, h)| {
            let at = (0..=width - w, 0..=height - h).prop_map(|(x, y)| Position::At { x, y });
            (Just(Extent::Pixels(w)), Just(Extent::Pixels(h)), prop_oneof![named_position(), at])
        });
        let fraction = || (0.001f32..=1.0).prop_map(Extent::Fraction);
        prop_oneof![in_pixels, (fraction(), fraction(), named_position())]
    }

    fn content(channels: usize) -> impl Strategy<Value = PatchContent> {
        prop_oneof![
            intensity().prop_map(PatchContent::Solid),
            proptest::collection::vec(intensity(), channels).prop_map(PatchContent::Color),
            (intensity(), intensity(), 1u32..4).prop_map(|(low, high, cell)| PatchContent::Checkerboard {
                low,
                high,
                cell
            }),
            any::<u64>().prop_map(|seed| PatchContent::Noise { seed }),
            Just(()).prop_map(|_| PatchContent::Image { path: trigger_png() }),
        ]
    }

    fn blend_pattern() -> impl Strategy<Value = BlendPattern> {
        prop_oneof![
            any::<u64>().prop_map(|seed| BlendPattern::Noise { seed }),
            (-8.0f32..8.0, prop_oneof![Just(Orientation::Vertical), Just(Orientation::Horizontal)])
                .prop_map(|(frequency, orientation)| BlendPattern::Stripes { frequency, orientation }),
            Just(()).prop_map(|_| BlendPattern::Image { path: trigger_png() }),
        ]
    }

    /// Any valid spec for this geometry (parameters within what battery validation admits).
    fn spec(geometry: Geometry) -> impl Strategy<Value = TransformSpec> {
        prop_oneof![
            (footprint(geometry), content(geometry.channels)).prop_map(|((width, height, position), content)| {
                TransformSpec::Patch { width, height, position, content }
            }),
            (blend_pattern(), 0.0f32..=1.0).prop_map(|(pattern, alpha)| TransformSpec::Blend { pattern, alpha }),
            (0.0f32..2.0).prop_map(|std| TransformSpec::GaussianNoise { std }),
            (-2.0f32..2.0, -3.0f32..3.0)
                .prop_map(|(brightness, contrast)| TransformSpec::BrightnessContrast { brightness, contrast }),
            (0u32..20).prop_map(|max_pixels| TransformSpec::Shift { max_pixels }),
            (0.0f32..360.0).prop_map(|max_degrees| TransformSpec::Rotate { max_degrees }),
            (0.0f32..=10.0).prop_map(|sigma| TransformSpec::Blur { sigma }),
        ]
    }

    /// A geometry (1 or 3 channels, as image content needs), per-channel ranges with `lo < hi`
    /// that may be negative, an input inside them, and a spec.
    fn case() -> impl Strategy<Value = (Geometry, ValueRange, Array3<f32>, TransformSpec)> {
        (prop_oneof![Just(1usize), Just(3usize)], 1usize..=12, 1usize..=12)
            .prop_flat_map(|(channels, height, width)| {
                let bounds = proptest::collection::vec((-50.0f32..50.0, 0.001f32..100.0), channels);
                let unit = proptest::collection::vec(0.0f32..=1.0, channels * height * width);
                let geometry = Geometry { channels, height, width };
                (Just(geometry), bounds, unit, spec(geometry))
            })
            .prop_map(|(geometry, bounds, unit, spec)| {
                let range = ValueRange {
                    lo: bounds.iter().map(|(lo, _)| *lo).collect(),
                    hi: bounds.iter().map(|(lo, span)| lo + span).collect(),
                };
                let shape = (geometry.channels, geometry.height, geometry.width);
                let input = Array3::from_shape_vec(shape, unit).expect("the strategy's length").to_owned();
                let input =
                    ndarray::Zip::indexed(&input).map_collect(|(c, _, _), u| range.clamp(c, range.level(c, *u)));
                (geometry, range, input, spec)
            })
    }

    fn assert_in_range(out: &Array3<f32>, range: &ValueRange) -> Result<(), TestCaseError> {
        for ((c, y, x), v) in out.indexed_iter() {
            prop_assert!(
                range.lo[c] <= *v && *v <= range.hi[c],
                "value {v} at ({c}, {y}, {x}) outside [{}, {}]",
                range.lo[c],
                range.hi[c]
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn every_transform_and_control_keeps_values_in_range((geometry, range, input, spec) in case(), sample in 0u64..4) {
            let transform = build(&spec, geometry).map_err(|e| TestCaseError::fail(format!("{spec:?}: {e}")))?;
            let mut out = input.clone();
            testing::apply(transform.as_ref(), &mut out, &range, sample, Stream::Probe);
            assert_in_range(&out, &range)?;
            if let Some(control) = transform.control() {
                let mut out = input.clone();
                testing::apply(control.as_ref(), &mut out, &range, sample, Stream::Control);
                assert_in_range(&out, &range)?;
            }
        }
    }

    /// Any spec at all, with parameters from the whole of their types (NaN and infinities too).
    fn wild_spec() -> impl Strategy<Value = TransformSpec> {
        let extent = || prop_oneof![any::<u32>().prop_map(Extent::Pixels), any::<f32>().prop_map(Extent::Fraction)];
        let position = prop_oneof![named_position(), any::<(u32, u32)>().prop_map(|(x, y)| Position::At { x, y })];
        let content = prop_oneof![
            any::<f32>().prop_map(PatchContent::Solid),
            proptest::collection::vec(any::<f32>(), 0..5).prop_map(PatchContent::Color),
            any::<(f32, f32, u32)>().prop_map(|(low, high, cell)| PatchContent::Checkerboard { low, high, cell }),
            any::<u64>().prop_map(|seed| PatchContent::Noise { seed }),
        ];
        let pattern = prop_oneof![
            any::<u64>().prop_map(|seed| BlendPattern::Noise { seed }),
            any::<f32>().prop_map(|frequency| BlendPattern::Stripes { frequency, orientation: Orientation::Vertical }),
        ];
        prop_oneof![
            (extent(), extent(), position, content).prop_map(|(width, height, position, content)| {
                TransformSpec::Patch { width, height, position, content }
            }),
            (pattern, any::<f32>()).prop_map(|(pattern, alpha)| TransformSpec::Blend { pattern, alpha }),
            any::<f32>().prop_map(|std| TransformSpec::GaussianNoise { std }),
            any::<(f32, f32)>()
                .prop_map(|(brightness, contrast)| TransformSpec::BrightnessContrast { brightness, contrast }),
            any::<u32>().prop_map(|max_pixels| TransformSpec::Shift { max_pixels }),
            any::<f32>().prop_map(|max_degrees| TransformSpec::Rotate { max_degrees }),
            any::<f32>().prop_map(|sigma| TransformSpec::Blur { sigma }),
        ]
    }

    proptest! {
        #[test]
        fn any_spec_is_built_or_refused_and_built_ones_apply_in_range(
            spec in wild_spec(),
            (channels, height, width) in (0usize..4, 0usize..10, 0usize..10),
            unit in 0.0f32..=1.0,
        ) {
            let geometry = Geometry { channels, height, width };
            let Ok(transform) = build(&spec, geometry) else { return Ok(()) };
            let range = ValueRange::uniform(channels, -1.0, 2.0);
            let input = Array3::from_elem((channels, height, width), range.level(0, unit));
            let mut out = input.clone();
            testing::apply(transform.as_ref(), &mut out, &range, 0, Stream::Probe);
            assert_in_range(&out, &range)?;
            if let Some(control) = transform.control() {
                let mut out = input.clone();
                testing::apply(control.as_ref(), &mut out, &range, 0, Stream::Control);
                assert_in_range(&out, &range)?;
            }
        }
    }

    #[test]
    fn empty_geometries_are_rejected() {
        let spec = TransformSpec::Blur { sigma: 0.0 };
        for geometry in [
            Geometry { channels: 0, height: 4, width: 4 },
            Geometry { channels: 1, height: 0, width: 4 },
            Geometry { channels: 1, height: 4, width: 0 },
        ] {
            assert!(matches!(build(&spec, geometry), Err(TransformError::Invalid(_))), "{geometry:?}");
        }
    }

    #[test]
    fn only_trigger_transforms_have_controls() {
        let geometry = Geometry { channels: 3, height: 8, width: 8 };
        // What each kind's descriptor declares (and validation allows as a trigger) is what its
        // built transform does.
        let has_control = |spec: TransformSpec| {
            let has = build(&spec, geometry).unwrap().control().is_some();
            assert_eq!(registry::of(&spec).map(|kind| kind.has_control), Some(has), "{}", spec.kind());
            has
        };
        assert!(has_control(TransformSpec::Patch {
            width: Extent::Pixels(2),
            height: Extent::Pixels(2),
            position: Position::Center,
            content: PatchContent::Solid(1.0),
        }));
        assert!(has_control(TransformSpec::Blend { pattern: BlendPattern::Noise { seed: 0 }, alpha: 0.1 }));
        assert!(!has_control(TransformSpec::GaussianNoise { std: 0.1 }));
        assert!(!has_control(TransformSpec::BrightnessContrast { brightness: 0.1, contrast: 1.0 }));
        assert!(!has_control(TransformSpec::Shift { max_pixels: 1 }));
        assert!(!has_control(TransformSpec::Rotate { max_degrees: 1.0 }));
        assert!(!has_control(TransformSpec::Blur { sigma: 1.0 }));
    }

    #[test]
    fn transforms_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync + ?Sized>() {}
        shareable::<dyn Transform>();
        shareable::<Box<dyn Transform>>();
    }
}
