//! Every transform kind, registered once.
//!
//! Each kind is one [`TransformKind`] declared next to its transform (`patch.rs` holds
//! `patch::KIND`): the `kind:` name battery files use, whether it has a matched control (and so
//! may be a trigger), the keys it accepts, how its YAML is validated, and how the validated spec
//! becomes the runtime transform, whose type says its modality ([`Build`]). [`KINDS`] lists them
//! all; battery validation, [`super::build`] and [`super::text::build`] only look kinds up here.
//!
//! Adding a transform: its file (transform, validation, build, `KIND`), its variant of
//! [`TransformSpec`] with its arm in [`TransformSpec::kind`], and one line in [`KINDS`]. Adding a
//! modality: a [`Modality`] variant, a [`Build`] variant for its runtime transform trait (the
//! compiler then lists every place that must handle it), and its kinds' lines in [`KINDS`].

use super::text::{self, TextTransform, Vocabulary};
use super::{Geometry, Transform, TransformError};
use crate::battery::spec::{Modality, TransformSpec};
use crate::battery::validate::{Checker, Fields};
use crate::modality::tabular::transforms::{self as tabular, TabularTransform};

/// Checks a transform's YAML map (`kind` already read and its keys already checked against
/// [`TransformKind::keys`]), reporting every problem, and returns the validated spec when there
/// was none. The `&str` names the probe in messages ("probe `x`").
pub(crate) type Validate = fn(&mut Checker, &Fields<'_>, &str) -> Option<TransformSpec>;

/// Builds an image transform for samples of this geometry.
pub type BuildImage = fn(&TransformSpec, Geometry) -> Result<Box<dyn Transform>, TransformError>;
/// Builds a text transform for this tokenizer's vocabulary.
pub type BuildText = fn(&TransformSpec, &Vocabulary) -> Result<Box<dyn TextTransform>, TransformError>;

/// Builds a tabular transform for this table's features.
pub type BuildTabular = fn(
    &TransformSpec,
    &crate::modality::tabular::transforms::Table,
) -> Result<Box<dyn TabularTransform>, TransformError>;

/// How a validated spec of one kind becomes its runtime transform: one variant per modality,
/// each with that modality's transform trait.
pub enum Build {
    Image(BuildImage),
    Text(BuildText),
    Tabular(BuildTabular),
}

/// One transform kind: everything probity knows about it, in one place.
pub struct TransformKind {
    /// The `kind:` name battery files use.
    pub name: &'static str,
    /// Whether it puts trigger content in and has a matched control: only such kinds can be
    /// `category: trigger`; every kind can be `category: robustness`.
    pub has_control: bool,
    /// The keys its YAML map accepts, `kind` included.
    pub keys: &'static [&'static str],
    pub(crate) validate: Validate,
    pub build: Build,
}

impl TransformKind {
    /// The modality whose inputs it transforms.
    pub fn modality(&self) -> Modality {
        match self.build {
            Build::Image(_) => Modality::Image,
            Build::Text(_) => Modality::Text,
            Build::Tabular(_) => Modality::Tabular,
        }
    }
}

/// Every transform kind, in the order messages list them.
pub static KINDS: &[&TransformKind] = &[
    &super::patch::KIND,
    &super::blend::KIND,
    &super::noise::KIND,
    &super::brightness_contrast::KIND,
    &super::shift::KIND,
    &super::rotate::KIND,
    &super::blur::KIND,
    &text::insert_text::KIND,
    &text::insert_token::KIND,
    &text::homoglyph::KIND,
    &text::invisible::KIND,
    &text::typo::KIND,
    &text::word_swap::KIND,
    &tabular::SET_FEATURE,
    &tabular::SET_FEATURES,
    &tabular::FEATURE_NOISE,
    &tabular::MISSING,
];

/// The kind named `name` in battery files.
pub fn named(name: &str) -> Option<&'static TransformKind> {
    KINDS.iter().copied().find(|kind| kind.name == name)
}

/// The kind of a validated spec; `None` for a search, which is no fixed transform.
pub fn of(spec: &TransformSpec) -> Option<&'static TransformKind> {
    match spec {
        TransformSpec::Search(_) => None,
        transform => named(transform.kind()),
    }
}

/// The kinds of `modality`, only those with a matched control with `triggers`.
pub fn kinds_of(modality: Modality, triggers: bool) -> Vec<&'static str> {
    KINDS
        .iter()
        .filter(|kind| kind.modality() == modality && (!triggers || kind.has_control))
        .map(|kind| kind.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_kind_accepts_kind() {
        for (i, kind) in KINDS.iter().enumerate() {
            assert!(KINDS[..i].iter().all(|other| other.name != kind.name), "{} registered twice", kind.name);
            assert!(kind.keys.contains(&"kind"), "{}", kind.name);
        }
    }
}
