//! Image inputs as PNG for reports and previews: each channel's valid range maps to 0–255.
//! Single-channel inputs become grayscale, three-channel inputs RGB; other channel counts show
//! their first channel. Small images are scaled up (nearest neighbour) so a person can see them.

use base64::Engine as _;
use ndarray::Array3;

use crate::transform::ValueRange;

/// Images narrower than this are scaled up by an integer factor.
const MIN_SIDE: usize = 64;
/// Pixels between the cells of a grid.
const GUTTER: usize = 2;

/// The integer factor that brings an image of this size to at least [`MIN_SIDE`].
fn scale(height: usize, width: usize) -> usize {
    MIN_SIDE.div_ceil(width.max(height).max(1)).max(1)
}

/// A `[C, H, W]` input as a base64-encoded PNG.
pub fn png_base64(chw: &Array3<f32>, range: &ValueRange) -> String {
    let (_, height, width) = chw.dim();
    match encode(chw, range, scale(height, width)) {
        Ok(bytes) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// Rows of `[C, H, W]` images of one size as one PNG grid (`battery preview`): each scaled up
/// like a single image, a `None` cell left empty, cells and the border separated by
/// [`GUTTER`] pixels of the range's middle grey. The PNG and its width and height in pixels.
pub fn grid_png(
    rows: &[Vec<Option<Array3<f32>>>],
    range: &ValueRange,
) -> Result<(Vec<u8>, u32, u32), image::ImageError> {
    let (channels, height, width) = rows.iter().flatten().flatten().next().map_or((1, 1, 1), Array3::dim);
    let k = scale(height, width);
    let (cell_h, cell_w) = (height * k + GUTTER, width * k + GUTTER);
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let shape = (channels, rows.len() * cell_h + GUTTER, columns * cell_w + GUTTER);
    let (lo, hi) = (|c: usize| range.lo[c.min(range.lo.len() - 1)], |c: usize| range.hi[c.min(range.hi.len() - 1)]);
    let mut grid = Array3::from_shape_fn(shape, |(c, _, _)| lo(c) + 0.5 * (hi(c) - lo(c)));
    for (r, row) in rows.iter().enumerate() {
        for (col, cell) in row.iter().enumerate() {
            let Some(cell) = cell else { continue };
            for ((c, y, x), value) in cell.indexed_iter() {
                for (dy, dx) in (0..k).flat_map(|dy| (0..k).map(move |dx| (dy, dx))) {
                    grid[[c, GUTTER + r * cell_h + y * k + dy, GUTTER + col * cell_w + x * k + dx]] = *value;
                }
            }
        }
    }
    let bytes = encode(&grid, range, 1)?;
    Ok((bytes, shape.2 as u32, shape.1 as u32))
}

/// A `[C, H, W]` image as PNG bytes, each pixel repeated `scale` times along both axes.
fn encode(chw: &Array3<f32>, range: &ValueRange, scale: usize) -> Result<Vec<u8>, image::ImageError> {
    let (channels, height, width) = chw.dim();
    let (w, h) = (width * scale, height * scale);
    let byte = |c: usize, y: usize, x: usize| -> u8 {
        let (lo, hi) = (range.lo[c.min(range.lo.len() - 1)], range.hi[c.min(range.hi.len() - 1)]);
        let v = (chw[[c, y / scale, x / scale]] - lo) / (hi - lo).max(f32::EPSILON);
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    };
    let mut bytes = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut bytes);
    if channels == 3 {
        let pixels: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| [0, 1, 2].map(|c| (y, x, c))))
            .map(|(y, x, c)| byte(c, y, x))
            .collect();
        image::ImageEncoder::write_image(encoder, &pixels, w as u32, h as u32, image::ExtendedColorType::Rgb8)?;
    } else {
        let pixels: Vec<u8> = (0..h).flat_map(|y| (0..w).map(move |x| (y, x))).map(|(y, x)| byte(0, y, x)).collect();
        image::ImageEncoder::write_image(encoder, &pixels, w as u32, h as u32, image::ExtendedColorType::L8)?;
    }
    Ok(bytes)
}
