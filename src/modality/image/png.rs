//! Image inputs as PNG for reports: each channel's valid range maps to 0–255.
//! Single-channel inputs become grayscale, three-channel inputs RGB; other channel counts show
//! their first channel. Small images are scaled up (nearest neighbour) so a person can see them.

use base64::Engine as _;
use ndarray::Array3;

use crate::transform::ValueRange;

/// Images narrower than this are scaled up by an integer factor.
const MIN_SIDE: usize = 64;

/// A `[C, H, W]` input as a base64-encoded PNG.
pub fn png_base64(chw: &Array3<f32>, range: &ValueRange) -> String {
    let (channels, height, width) = chw.dim();
    let scale = MIN_SIDE.div_ceil(width.max(height).max(1)).max(1);
    let (w, h) = (width * scale, height * scale);
    let byte = |c: usize, y: usize, x: usize| -> u8 {
        let (lo, hi) = (range.lo[c.min(range.lo.len() - 1)], range.hi[c.min(range.hi.len() - 1)]);
        let v = (chw[[c, y / scale, x / scale]] - lo) / (hi - lo).max(f32::EPSILON);
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    };
    let mut bytes = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut bytes);
    let result = if channels == 3 {
        let pixels: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| [0, 1, 2].map(|c| (y, x, c))))
            .map(|(y, x, c)| byte(c, y, x))
            .collect();
        image::ImageEncoder::write_image(encoder, &pixels, w as u32, h as u32, image::ExtendedColorType::Rgb8)
    } else {
        let pixels: Vec<u8> = (0..h).flat_map(|y| (0..w).map(move |x| (y, x))).map(|(y, x)| byte(0, y, x)).collect();
        image::ImageEncoder::write_image(encoder, &pixels, w as u32, h as u32, image::ExtendedColorType::L8)
    };
    match result {
        Ok(()) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}
