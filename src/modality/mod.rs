//! Modalities: what probity tests besides images and text.

pub mod tabular;
