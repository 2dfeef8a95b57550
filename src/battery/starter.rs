//! Commented starter batteries, one per modality, that `probity battery new` writes: a few
//! probes of each category with every line explained, to edit into a battery of one's own.
//! A test checks that each validates, so the starters cannot rot.

use super::spec::Modality;

/// The starter battery of `modality`, when there is one (tabular has none yet).
pub fn text(modality: Modality) -> Option<&'static str> {
    match modality {
        Modality::Image => Some(include_str!("starters/image.yaml")),
        Modality::Text => Some(include_str!("starters/text.yaml")),
        Modality::Tabular => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn every_starter_validates_and_declares_its_modality() {
        for modality in [Modality::Image, Modality::Text] {
            let starter = text(modality).unwrap();
            let battery = crate::battery::parse(Path::new("starter.yaml"), starter)
                .unwrap_or_else(|d| panic!("the {} starter is invalid:\n{d}", modality.name()));
            assert_eq!(battery.modality, modality);
            assert!(starter.starts_with("# yaml-language-server: $schema=./schema.json\n"));
        }
    }
}
