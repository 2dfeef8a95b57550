//! Helpers for the transform tests: running a transform on one sample with the generators the
//! runner would derive, and writing small image files.

use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayViewMut3};

use super::{LazyRng, ProbeRngs, SampleContext, Stream, Transform, ValueRange};

/// Base seed and probe id the tests derive sample generators from.
const SEED: u64 = 7;
const PROBE: &str = "test-probe";

/// Applies `transform` to `image` as sample `sample` of a probe (`Stream::Probe`) or of its
/// control (`Stream::Control`); both draw placement from the same `Stream::Placement`.
pub(super) fn apply(
    transform: &dyn Transform,
    image: &mut Array3<f32>,
    range: &ValueRange,
    sample: u64,
    stream: Stream,
) {
    apply_view(transform, image.view_mut(), range, sample, stream);
}

/// [`apply`] on a view, which may be a permuted NHWC buffer as the runner hands over.
pub(super) fn apply_view(
    transform: &dyn Transform,
    image: ArrayViewMut3<'_, f32>,
    range: &ValueRange,
    sample: u64,
    stream: Stream,
) {
    let rngs = ProbeRngs::new(SEED, PROBE);
    let mut rng = LazyRng::new(&rngs, sample, stream);
    let mut placement_rng = LazyRng::new(&rngs, sample, Stream::Placement);
    let mut ctx = SampleContext { rng: &mut rng, placement_rng: &mut placement_rng, range, index: sample as usize };
    transform.apply(image, &mut ctx);
}

/// Applies `transform` to a copy of `image` as sample 0 of the probe and returns the result.
pub(super) fn applied(transform: &dyn Transform, image: &Array3<f32>, range: &ValueRange) -> Array3<f32> {
    let mut out = image.clone();
    apply(transform, &mut out, range, 0, Stream::Probe);
    out
}

/// An image whose value at `(c, y, x)` is distinct for every element, inside `[0, 1)`.
pub(super) fn gradient(channels: usize, height: usize, width: usize) -> Array3<f32> {
    let n = (channels * height * width) as f32;
    Array3::from_shape_fn((channels, height, width), |(c, y, x)| ((c * height + y) * width + x) as f32 / n)
}

/// Writes an 8-bit RGB PNG of `width` x `height` from row-major pixels and returns its path.
pub(super) fn write_rgb_png(dir: &Path, name: &str, width: u32, height: u32, pixels: &[[u8; 3]]) -> PathBuf {
    let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb(pixels[(y * width + x) as usize]));
    let path = dir.join(name);
    image.save(&path).expect("writing a test PNG");
    path
}
