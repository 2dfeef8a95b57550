//! A model small enough to reason about, for the attacks' tests.

use ndarray::{Array1, Array2, Array3, ArrayView1};

use super::Oracle;
use crate::engine::EngineError;
use crate::search::Fill;

/// A linear softmax classifier on `[C, H, W]` images, answering a batch at a time and counting
/// what it was asked.
pub struct Linear {
    weights: Array2<f32>,
    batch: usize,
    pub calls: u64,
    pub images: u64,
}

impl Linear {
    /// Class `k` scores the sum of image row `k` of every channel, scaled: the class of an
    /// image is its brightest row.
    pub fn new(c: usize, h: usize, w: usize, batch: usize) -> Self {
        let weights = Array2::from_shape_fn((h, c * h * w), |(k, j)| if (j / w) % h == k { 4.0 } else { 0.0 });
        Self { weights, batch, calls: 0, images: 0 }
    }
}

impl Oracle for Linear {
    fn classify(
        &mut self,
        count: usize,
        fill: &Fill<'_>,
        row: &mut dyn FnMut(usize, ArrayView1<'_, f32>),
    ) -> Result<(), EngineError> {
        let (classes, size) = self.weights.dim();
        let h = classes;
        let w = size / h;
        let mut start = 0;
        while start < count {
            let n = self.batch.min(count - start);
            self.calls += 1;
            self.images += n as u64;
            for k in 0..n {
                let mut image = Array3::<f32>::from_elem((1, h, w), f32::NAN);
                fill(start + k, image.view_mut());
                let x = Array1::from_iter(image.iter().copied());
                let logits = self.weights.dot(&x);
                let max = logits.fold(f32::NEG_INFINITY, |m, v| m.max(*v));
                let exp = logits.mapv(|v| (v - max).exp());
                let p = &exp / exp.sum();
                row(start + k, p.view());
            }
            start += n;
        }
        Ok(())
    }
}

/// Twelve 1x6x6 images in [0, 1], each with one row brighter than the rest by a margin that
/// grows with the image's index.
pub fn images() -> Vec<Array3<f32>> {
    (0..12)
        .map(|i| {
            Array3::from_shape_fn((1, 6, 6), |(_, y, x)| {
                let base = 0.4 + 0.02 * ((x * 7 + y * 3 + i) % 5) as f32;
                if y == i % 6 { (base + 0.05 + 0.03 * i as f32).min(1.0) } else { base }
            })
        })
        .collect()
}
