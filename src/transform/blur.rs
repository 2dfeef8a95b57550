//! Gaussian blur, a robustness perturbation: convolve each channel with a Gaussian of standard
//! deviation `sigma` pixels, separably (rows, then columns — the 2-D Gaussian is the product of
//! two 1-D ones), replicating edge pixels beyond the border. Deterministic: no draws.
//!
//! The kernel is truncated at radius `ceil(3 sigma)`, which keeps 99.7% of the Gaussian's mass,
//! and renormalised to sum to one so flat regions keep their value. A radius wider than the
//! image costs nothing extra: along a line of `n` pixels every offset of `n - 1` or more lands on
//! the replicated edge pixel whatever the position, so those weights fold onto the tap at
//! `n - 1` (and likewise on the other side) — the same result as the full kernel.

use ndarray::{ArrayViewMut1, ArrayViewMut3};

use super::registry::{Build, TransformKind};
use super::{Geometry, SampleContext, Transform, TransformError, replicate_edge};
use crate::battery::diagnostics::Range;
use crate::battery::spec::TransformSpec;
use crate::battery::validate::{Checker, Fields};

const NAME: &str = "blur";

/// Kernel radius in standard deviations (the three-sigma rule).
const RADIUS_IN_SIGMAS: f64 = 3.0;

/// Largest kernel radius built. Folding keeps the per-sample cost within the image side, but the
/// weights are still summed once at build; 2^16 pixels is far beyond any classifier's input
/// side, and the one-off sum stays well under a millisecond.
const MAX_RADIUS: f64 = 65_536.0;

pub(super) struct Blur {
    /// Weights along a row (a line of `width` pixels) and along a column (`height` pixels),
    /// each summing to one, for offsets `-r..=r` with `r` at most the line length minus one.
    along_rows: Vec<f64>,
    along_columns: Vec<f64>,
}

impl Blur {
    pub(super) fn new(sigma: f32, geometry: Geometry) -> Result<Self, TransformError> {
        let sigma = f64::from(super::non_negative(NAME, "sigma", sigma)?);
        let radius = (RADIUS_IN_SIGMAS * sigma).ceil();
        if radius > MAX_RADIUS {
            return Err(TransformError::Invalid(format!(
                "{NAME} `sigma` of {sigma} pixels needs a kernel radius of {radius} pixels (3 sigma); \
                 use sigma <= {:.0}",
                MAX_RADIUS / RADIUS_IN_SIGMAS
            )));
        }
        let kernel = gaussian_kernel(sigma, radius as usize);
        Ok(Self { along_rows: fold(&kernel, geometry.width), along_columns: fold(&kernel, geometry.height) })
    }
}

impl Transform for Blur {
    fn apply(&self, mut image: ArrayViewMut3<'_, f32>, ctx: &mut SampleContext<'_>) {
        let (_, height, width) = image.dim();
        // One line of scratch, reused for every row and column.
        let mut scratch = Vec::with_capacity(height.max(width));
        for (c, mut plane) in image.outer_iter_mut().enumerate() {
            for row in plane.rows_mut() {
                convolve_line(row, &self.along_rows, &mut scratch);
            }
            for column in plane.columns_mut() {
                convolve_line(column, &self.along_columns, &mut scratch);
            }
            plane.map_inplace(|v| *v = ctx.range.clamp(c, *v));
        }
    }

    fn control(&self) -> Option<Box<dyn Transform>> {
        None
    }
}

/// Normalised weights `exp(-k² / 2σ²)` for `k` in `-radius..=radius`; `[1]` when the radius is 0.
fn gaussian_kernel(sigma: f64, radius: usize) -> Vec<f64> {
    if radius == 0 {
        return vec![1.0];
    }
    let r = radius as i64;
    let weights: Vec<f64> = (-r..=r).map(|k| (-((k * k) as f64) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

/// The centred `kernel` for lines of `len >= 1` pixels: offsets beyond `len - 1` either way
/// always read the edge pixel, so their weights join the tap at `±(len - 1)`.
fn fold(kernel: &[f64], len: usize) -> Vec<f64> {
    let radius = kernel.len() / 2;
    let kept = radius.min(len - 1);
    if kept == radius {
        return kernel.to_vec();
    }
    let (first, last) = (radius - kept, radius + kept);
    let mut folded = kernel[first..=last].to_vec();
    folded[0] += kernel[..first].iter().sum::<f64>();
    folded[2 * kept] += kernel[last + 1..].iter().sum::<f64>();
    folded
}

/// Convolves `line` in place with the centred `kernel`, replicating its end samples.
fn convolve_line(mut line: ArrayViewMut1<'_, f32>, kernel: &[f64], scratch: &mut Vec<f32>) {
    let len = line.len();
    let radius = (kernel.len() / 2) as i64;
    scratch.clear();
    scratch.extend(line.iter().copied());
    for (i, value) in line.iter_mut().enumerate() {
        let start = i as i64 - radius;
        let sum: f64 =
            kernel.iter().enumerate().map(|(k, w)| w * f64::from(scratch[replicate_edge(start + k as i64, len)])).sum();
        *value = sum as f32;
    }
}

/// `kind: blur`: a robustness perturbation, so no matched control.
pub(crate) static KIND: TransformKind =
    TransformKind { name: NAME, has_control: false, keys: &["kind", "sigma"], validate, build: Build::Image(build) };

fn validate(c: &mut Checker, fields: &Fields<'_>, _probe: &str) -> Option<TransformSpec> {
    let range = Range::new(0.0, true, 10.0, false);
    let sigma = c.required(fields, "sigma").and_then(|n| c.number_in(n, &fields.label("sigma"), range));
    Some(TransformSpec::Blur { sigma: sigma? as f32 })
}

fn build(spec: &TransformSpec, geometry: Geometry) -> Result<Box<dyn Transform>, TransformError> {
    let TransformSpec::Blur { sigma } = spec else { return Err(super::mismatched(NAME, spec)) };
    Ok(Box::new(Blur::new(*sigma, geometry)?))
}

#[cfg(test)]
mod tests {
    use approx::{assert_abs_diff_eq, assert_relative_eq};
    use ndarray::{Array1, Array3, s};

    use super::*;
    use crate::battery::spec::TransformSpec;
    use crate::transform::testing::{self, applied};
    use crate::transform::{Stream, ValueRange, build};

    fn blur(sigma: f32, input: &Array3<f32>, range: &ValueRange) -> Array3<f32> {
        let (channels, height, width) = input.dim();
        let t = build(&TransformSpec::Blur { sigma }, Geometry { channels, height, width }).unwrap();
        assert!(t.control().is_none());
        applied(t.as_ref(), input, range)
    }

    #[test]
    fn kernel_is_normalised_symmetric_and_three_sigmas_wide() {
        for (sigma, radius) in [(1.0, 3), (0.5, 2), (0.1, 1), (2.4, 8)] {
            let kernel = Blur::new(sigma, Geometry { channels: 1, height: 32, width: 32 }).unwrap().along_rows;
            assert_eq!(kernel.len(), 2 * radius + 1, "sigma {sigma}");
            assert_relative_eq!(kernel.iter().sum::<f64>(), 1.0, epsilon = 1e-12);
            assert!(kernel.iter().zip(kernel.iter().rev()).all(|(a, b)| a == b));
            assert!(kernel.windows(2).take(radius).all(|w| w[0] < w[1]), "rises towards the centre");
        }
        let kernel = gaussian_kernel(1.0, 3);
        assert_relative_eq!(kernel[4] / kernel[3], (-0.5f64).exp(), epsilon = 1e-12);
    }

    #[test]
    fn blur_of_a_constant_image_is_the_same_constant() {
        let range = ValueRange { lo: vec![-2.0, 0.0], hi: vec![2.0, 1.0] };
        let input = Array3::from_shape_fn((2, 9, 7), |(c, _, _)| if c == 0 { -1.3 } else { 0.7 });
        let out = blur(1.7, &input, &range);
        for (o, i) in out.iter().zip(&input) {
            assert_relative_eq!(*o, *i, max_relative = 1e-6);
        }
    }

    #[test]
    fn sigma_zero_is_the_identity() {
        let range = ValueRange::uniform(3, 0.0, 1.0);
        let input = testing::gradient(3, 4, 5);
        assert_eq!(blur(0.0, &input, &range), input);
    }

    #[test]
    fn an_impulse_spreads_into_the_outer_product_of_the_kernel() {
        let range = ValueRange::uniform(1, 0.0, 1.0);
        let mut input = Array3::zeros((1, 11, 11));
        input[[0, 5, 5]] = 1.0;
        let out = blur(1.0, &input, &range);
        let kernel = gaussian_kernel(1.0, 3);
        for ((_, y, x), v) in out.indexed_iter() {
            let weight = |i: usize| if i.abs_diff(5) <= 3 { kernel[i + 3 - 5] } else { 0.0 };
            assert_abs_diff_eq!(f64::from(*v), weight(y) * weight(x), epsilon = 1e-7);
        }
        assert_relative_eq!(out.sum(), 1.0, epsilon = 1e-5);
    }

    #[test]
    fn edges_replicate_instead_of_fading_to_zero() {
        let mut line = Array1::from_vec(vec![1.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        let kernel = gaussian_kernel(1.0, 3);
        convolve_line(line.view_mut(), &kernel, &mut Vec::new());
        // The first output sees the edge value 1 at offsets -3..=0.
        let expected: f64 = kernel[..4].iter().sum();
        assert_abs_diff_eq!(f64::from(line[0]), expected, epsilon = 1e-7);
        assert_abs_diff_eq!(line[0], line[7], epsilon = 1e-7);
        assert!(line[0] > 0.5);
    }

    #[test]
    fn blur_works_on_a_permuted_nhwc_view() {
        let range = ValueRange::uniform(3, 0.0, 1.0);
        let nchw = testing::gradient(3, 6, 5);
        let expected = blur(0.8, &nchw, &range);
        let t = build(&TransformSpec::Blur { sigma: 0.8 }, Geometry { channels: 3, height: 6, width: 5 }).unwrap();
        let mut nhwc: Array3<f32> = nchw.permuted_axes([1, 2, 0]).as_standard_layout().into_owned();
        testing::apply_view(t.as_ref(), nhwc.view_mut().permuted_axes([2, 0, 1]), &range, 0, Stream::Probe);
        assert_eq!(nhwc.permuted_axes([2, 0, 1]), expected);
        assert_ne!(expected.slice(s![0, .., ..]), testing::gradient(3, 6, 5).slice(s![0, .., ..]));
    }

    #[test]
    fn folding_a_kernel_wider_than_the_line_changes_nothing() {
        let kernel = gaussian_kernel(4.0, 12);
        for len in [1, 2, 5, 12, 13, 30] {
            let input = Array1::from_shape_fn(len, |i| ((i * 7) % 5) as f32 / 4.0);
            let (mut full, mut folded) = (input.clone(), input.clone());
            convolve_line(full.view_mut(), &kernel, &mut Vec::new());
            let short = fold(&kernel, len);
            assert_eq!(short.len(), 2 * 12.min(len - 1) + 1);
            convolve_line(folded.view_mut(), &short, &mut Vec::new());
            for (a, b) in full.iter().zip(&folded) {
                assert_abs_diff_eq!(*a, *b, epsilon = 1e-6);
            }
        }
    }

    #[test]
    fn sigma_wider_than_the_image_blurs_towards_a_flat_image() {
        let range = ValueRange::uniform(1, 0.0, 1.0);
        let input = testing::gradient(1, 4, 6);
        let spread = |a: &Array3<f32>| a.fold(f32::MIN, |m, v| m.max(*v)) - a.fold(f32::MAX, |m, v| m.min(*v));
        let out = blur(10.0, &input, &range);
        assert!(spread(&out) < 0.2 * spread(&input), "{out}");
    }

    #[test]
    fn invalid_or_absurd_sigma_is_rejected() {
        let geometry = Geometry { channels: 1, height: 6, width: 9 };
        for sigma in [-0.5, f32::NAN, f32::INFINITY, 1e30] {
            let built = build(&TransformSpec::Blur { sigma }, geometry);
            assert!(matches!(built, Err(TransformError::Invalid(_))), "{sigma}");
        }
        assert!(build(&TransformSpec::Blur { sigma: 10.0 }, geometry).is_ok());
    }
}
