//! Trigger content shared by [`super::patch`] and [`super::blend`]: intensity patterns in
//! `[0, 1]` image space (seeded noise, image files), the fresh per-sample noise that fills their
//! matched controls, and the one loop that maps content into each channel's range and writes it.

use std::path::Path;

use image::imageops::{self, FilterType};
use ndarray::{Array3, ArrayViewMut3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{TransformError, ValueRange};

/// What a trigger writes: a fixed `[C, H, W]` intensity pattern shared by every sample, or
/// fresh uniform intensities drawn per sample from the content generator (the control).
pub(super) enum Content {
    Fixed(Array3<f32>),
    Fresh,
}

impl Content {
    /// Sets every element `x` of `region` (`[C, h, w]`, the content's shape when fixed) to
    /// `combine(x, level)`, where `level` is the content's intensity mapped into the channel's
    /// range, then clips to the range. Fresh intensities are drawn in logical `(c, y, x)` order,
    /// so the draws do not depend on the memory layout of the view.
    pub(super) fn paint(
        &self,
        mut region: ArrayViewMut3<'_, f32>,
        rng: &mut ChaCha8Rng,
        range: &ValueRange,
        combine: impl Fn(f32, f32) -> f32,
    ) {
        for (c, mut plane) in region.outer_iter_mut().enumerate() {
            match self {
                Content::Fixed(pattern) => {
                    plane.zip_mut_with(&pattern.index_axis(ndarray::Axis(0), c), |x, &intensity| {
                        *x = range.clamp(c, combine(*x, range.level(c, intensity)));
                    });
                }
                Content::Fresh => {
                    for x in plane.iter_mut() {
                        let intensity: f32 = rng.random();
                        *x = range.clamp(c, combine(*x, range.level(c, intensity)));
                    }
                }
            }
        }
    }
}

/// A fixed pseudo-random `[C, H, W]` pattern, uniform in `[0, 1)`, that depends only on `seed`:
/// ChaCha8 seeded from the `u64`, drawn in row-major `(c, y, x)` order.
pub(super) fn seeded_noise(seed: u64, shape: (usize, usize, usize)) -> Array3<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array3::from_shape_simple_fn(shape, || rng.random::<f32>())
}

/// Fails unless `value` is an intensity: a number in `[0, 1]`.
pub(super) fn intensity(kind: &str, field: &str, value: f32) -> Result<f32, TransformError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(TransformError::Invalid(format!("{kind} `{field}` is an intensity and must lie in [0, 1], got {value}")))
    }
}

/// Reads an image file as a `[channels, height, width]` intensity pattern (byte / 255).
///
/// The file is resized with a triangle (bilinear) filter, which is deterministic, then read as
/// luma (Rec. 709 weights, as the `image` crate converts) for one channel or RGB for three;
/// an alpha channel is dropped, not composited. The format is guessed from the file's bytes.
pub(super) fn load_image(
    path: &Path,
    channels: usize,
    height: usize,
    width: usize,
) -> Result<Array3<f32>, TransformError> {
    let error = |detail: String| TransformError::Image { path: path.to_path_buf(), detail };
    if channels != 1 && channels != 3 {
        return Err(TransformError::Invalid(format!(
            "image content needs a model with 1 (grayscale) or 3 (RGB) channels, this one has {channels}; \
             use a solid, color, checkerboard or noise pattern instead"
        )));
    }
    let (w, h) = match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(error(format!("the target size {width}x{height} is too large"))),
    };
    let decoded = image::ImageReader::open(path)
        .map_err(|e| error(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| error(e.to_string()))?
        .decode()
        .map_err(|e| error(e.to_string()))?;
    // A byte maps onto [0, 1] by dividing by its largest value.
    const BYTE_MAX: f32 = 255.0;
    let pattern = if channels == 1 {
        let gray = imageops::resize(&decoded.to_luma8(), w, h, FilterType::Triangle);
        Array3::from_shape_fn((1, height, width), |(_, y, x)| {
            f32::from(gray.get_pixel(x as u32, y as u32).0[0]) / BYTE_MAX
        })
    } else {
        let rgb = imageops::resize(&decoded.to_rgb8(), w, h, FilterType::Triangle);
        Array3::from_shape_fn((3, height, width), |(c, y, x)| {
            f32::from(rgb.get_pixel(x as u32, y as u32).0[c]) / BYTE_MAX
        })
    };
    Ok(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::testing;

    #[test]
    fn seeded_noise_depends_only_on_the_seed() {
        let a = seeded_noise(42, (3, 5, 4));
        assert_eq!(a, seeded_noise(42, (3, 5, 4)));
        assert_ne!(a, seeded_noise(43, (3, 5, 4)));
        assert!(a.iter().all(|v| (0.0..1.0).contains(v)));
    }

    #[test]
    fn intensities_outside_the_unit_interval_are_rejected() {
        assert!(intensity("patch", "solid", 1.0).is_ok());
        assert!(intensity("patch", "solid", -0.01).is_err());
        assert!(intensity("patch", "solid", f32::NAN).is_err());
    }

    #[test]
    fn rgb_image_reads_as_bytes_over_255_per_channel() {
        let dir = tempfile::tempdir().unwrap();
        let path = testing::write_rgb_png(dir.path(), "rgb.png", 2, 1, &[[255, 0, 51], [0, 102, 255]]);
        let pattern = load_image(&path, 3, 1, 2).unwrap();
        assert_eq!(pattern[[0, 0, 0]], 1.0);
        assert_eq!(pattern[[2, 0, 0]], 0.2);
        assert_eq!(pattern[[1, 0, 1]], 0.4);
        assert_eq!(pattern[[2, 0, 1]], 1.0);
    }

    #[test]
    fn image_of_other_channel_counts_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = testing::write_rgb_png(dir.path(), "rgb.png", 1, 1, &[[1, 2, 3]]);
        assert!(matches!(load_image(&path, 2, 1, 1), Err(TransformError::Invalid(_))));
    }

    #[test]
    fn unreadable_image_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.png");
        let err = load_image(&path, 3, 4, 4).unwrap_err();
        assert!(matches!(&err, TransformError::Image { path: p, .. } if *p == path));
        std::fs::write(&path, b"not an image").unwrap();
        assert!(matches!(load_image(&path, 3, 4, 4), Err(TransformError::Image { .. })));
    }
}
