//! A trigger as a mask and a pattern: `x' = (1 − m) · x + m · level(p)`, the general form
//! Neural Cleanse (Wang et al., 2019) reverse-engineers, of which a patch (binary mask) and a
//! blend (constant mask `alpha`) are special cases. Triggers recovered by a search are applied
//! through this transform; the matched control keeps the mask and draws the pattern afresh
//! per sample.

use ndarray::{Array2, Array3, ArrayViewMut3};

use super::pattern::Content;
use super::{SampleContext, Transform, TransformError};

/// A mask `[H, W]` in `[0, 1]` and a pattern `[C, H, W]` of intensities in `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskedTrigger {
    pub mask: Array2<f32>,
    pub pattern: Array3<f32>,
}

impl MaskedTrigger {
    pub fn new(mask: Array2<f32>, pattern: Array3<f32>) -> Result<Self, TransformError> {
        let (_, h, w) = pattern.dim();
        if mask.dim() != (h, w) {
            return Err(TransformError::Invalid(format!(
                "trigger mask is {:?} but its pattern is {h}x{w}",
                mask.dim()
            )));
        }
        let unit = |v: &f32| (0.0..=1.0).contains(v);
        if !mask.iter().all(unit) || !pattern.iter().all(unit) {
            return Err(TransformError::Invalid("trigger mask and pattern must lie in [0, 1]".into()));
        }
        Ok(Self { mask, pattern })
    }

    /// Sum of the mask: the trigger's size in pixels.
    pub fn mask_l1(&self) -> f32 {
        self.mask.sum()
    }
}

struct Applied<'a> {
    mask: &'a Array2<f32>,
    content: Content,
}

impl Applied<'_> {
    fn apply(&self, mut image: ArrayViewMut3<'_, f32>, ctx: &mut SampleContext<'_>) {
        let (channels, h, w) = image.dim();
        let mut levels = Array3::<f32>::zeros((channels, h, w));
        // Paint the content into a scratch image, then mix it in through the mask.
        self.content.paint(levels.view_mut(), ctx.rng, ctx.range, |_, level| level);
        for c in 0..channels {
            for y in 0..h {
                for x in 0..w {
                    let m = self.mask[[y, x]];
                    if m > 0.0 {
                        let v = (1.0 - m) * image[[c, y, x]] + m * levels[[c, y, x]];
                        image[[c, y, x]] = ctx.range.clamp(c, v);
                    }
                }
            }
        }
    }
}

impl Transform for MaskedTrigger {
    fn apply(&self, image: ArrayViewMut3<'_, f32>, ctx: &mut SampleContext<'_>) {
        Applied { mask: &self.mask, content: Content::Fixed(self.pattern.clone()) }.apply(image, ctx);
    }

    fn control(&self) -> Option<Box<dyn Transform>> {
        Some(Box::new(MaskedControl { mask: self.mask.clone() }))
    }
}

/// The same mask with fresh uniform content per sample.
struct MaskedControl {
    mask: Array2<f32>,
}

impl Transform for MaskedControl {
    fn apply(&self, image: ArrayViewMut3<'_, f32>, ctx: &mut SampleContext<'_>) {
        Applied { mask: &self.mask, content: Content::Fresh }.apply(image, ctx);
    }

    fn control(&self) -> Option<Box<dyn Transform>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{LazyRng, Stream, ValueRange, sample_rng};

    fn run(t: &dyn Transform, image: &mut Array3<f32>, range: &ValueRange, stream: Stream) {
        let mut rng = LazyRng::from_rng(sample_rng(1, "masked", 0, stream));
        let mut placement = LazyRng::from_rng(sample_rng(1, "masked", 0, Stream::Placement));
        let mut ctx = SampleContext { rng: &mut rng, placement_rng: &mut placement, range, index: 0 };
        t.apply(image.view_mut(), &mut ctx);
    }

    #[test]
    fn a_binary_mask_stamps_the_pattern_and_leaves_the_rest() {
        let mut mask = Array2::zeros((4, 4));
        mask[[3, 3]] = 1.0;
        mask[[0, 0]] = 0.5;
        let trigger = MaskedTrigger::new(mask, Array3::from_elem((1, 4, 4), 1.0)).unwrap();
        let range = ValueRange { lo: vec![-1.0], hi: vec![1.0] };
        let mut image = Array3::from_elem((1, 4, 4), -1.0);
        run(&trigger, &mut image, &range, Stream::Probe);
        assert_eq!(image[[0, 3, 3]], 1.0);
        assert_eq!(image[[0, 0, 0]], 0.0);
        assert_eq!(image[[0, 1, 1]], -1.0);
        assert_eq!(trigger.mask_l1(), 1.5);
    }

    #[test]
    fn the_control_keeps_the_footprint_with_other_content() {
        let mut mask = Array2::zeros((4, 4));
        mask.slice_mut(ndarray::s![2.., 2..]).fill(1.0);
        let trigger = MaskedTrigger::new(mask, Array3::from_elem((1, 4, 4), 1.0)).unwrap();
        let range = ValueRange { lo: vec![0.0], hi: vec![1.0] };
        let mut probed = Array3::zeros((1, 4, 4));
        let mut control = Array3::zeros((1, 4, 4));
        run(&trigger, &mut probed, &range, Stream::Probe);
        run(trigger.control().unwrap().as_ref(), &mut control, &range, Stream::Control);
        assert_ne!(probed, control);
        assert!(control.slice(ndarray::s![.., ..2, ..]).iter().all(|v| *v == 0.0));
        assert!(control.slice(ndarray::s![.., 2.., 2..]).iter().any(|v| *v > 0.0));
    }

    #[test]
    fn mismatched_shapes_are_refused() {
        assert!(MaskedTrigger::new(Array2::zeros((3, 4)), Array3::zeros((1, 4, 4))).is_err());
    }
}
