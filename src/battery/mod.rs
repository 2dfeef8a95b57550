//! Batteries: YAML files of probes.
//!
//! Parse, then validate, as cargo-deny does with its config: `yaml.rs` reads the file into a
//! span-preserving tree without judging it; `validate/` walks that tree, collects *every*
//! problem as a [`Diagnostic`] pointing at file:line:column with a stable code, and builds the
//! validated types in [`spec`] only when there are none. [`load`] and [`parse`] are the way in.

pub mod diagnostics;
pub(crate) mod json;
pub mod schema;
pub mod spec;
pub mod starter;
pub(crate) mod validate;
pub(crate) mod yaml;

use std::path::Path;

pub use diagnostics::{Code, Diagnostic, Diagnostics};
pub use validate::builtin_defaults;

/// The bundled default batteries, compiled in so the binary works from any folder.
const DEFAULT_IMAGE_BATTERIES: [(&str, &str); 3] = [
    ("batteries/image-triggers.yaml", include_str!("../../batteries/image-triggers.yaml")),
    ("batteries/image-search.yaml", include_str!("../../batteries/image-search.yaml")),
    ("batteries/image-robustness.yaml", include_str!("../../batteries/image-robustness.yaml")),
];

const DEFAULT_TEXT_BATTERIES: [(&str, &str); 2] = [
    ("batteries/text-triggers.yaml", include_str!("../../batteries/text-triggers.yaml")),
    ("batteries/text-robustness.yaml", include_str!("../../batteries/text-robustness.yaml")),
];

const DEFAULT_TABULAR_BATTERIES: [(&str, &str); 2] = [
    ("batteries/tabular-triggers.yaml", include_str!("../../batteries/tabular-triggers.yaml")),
    ("batteries/tabular-robustness.yaml", include_str!("../../batteries/tabular-robustness.yaml")),
];

/// The default batteries for a modality (what `scan` runs without `--battery`).
pub fn defaults(modality: spec::Modality) -> Result<Vec<spec::Battery>, Diagnostics> {
    let sources: &[(&str, &str)] = match modality {
        spec::Modality::Image => &DEFAULT_IMAGE_BATTERIES,
        spec::Modality::Text => &DEFAULT_TEXT_BATTERIES,
        spec::Modality::Tabular => &DEFAULT_TABULAR_BATTERIES,
    };
    sources.iter().map(|(name, text)| parse(Path::new(name), text)).collect()
}

/// Reads and validates the battery file at `path`. Image paths in it resolve against its folder.
pub fn load(path: &Path) -> Result<spec::Battery, Diagnostics> {
    parse(path, &read_text(path, "battery file")?)
}

/// Validates `text` as the battery file `path` (used for messages, the recorded path and as the
/// folder that image paths resolve against; the file itself is not read).
pub fn parse(path: &Path, text: &str) -> Result<spec::Battery, Diagnostics> {
    let root = parse_yaml(path, text)?;
    let sha256 = crate::digest::sha256_bytes(text.as_bytes());
    validate::battery(path, sha256, &root)
}

/// The text of a YAML file checked the battery way (`what`: "battery file", "suite file"): a
/// missing file is one diagnostic without a line, bytes that are not UTF-8 one pointing at the
/// first bad byte.
pub(crate) fn read_text(path: &Path, what: &str) -> Result<String, Diagnostics> {
    let one = |code, (line, column), message: String, hint: Option<&str>| {
        Diagnostics(vec![Diagnostic {
            code,
            file: path.to_path_buf(),
            line,
            column,
            message,
            hint: hint.map(String::from),
        }])
    };
    let bytes = std::fs::read(path).map_err(|e| {
        let message = match e.kind() {
            std::io::ErrorKind::NotFound => format!("{what} not found"),
            _ => format!("cannot read {what}: {e}"),
        };
        one(Code::FileNotFound, (0, 0), message, None)
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let at = line_column(&e.as_bytes()[..e.utf8_error().valid_up_to()]);
        one(Code::YamlSyntax, at, format!("the {what} is not valid UTF-8"), Some("save the file as UTF-8"))
    })
}

/// `text` as a span-preserving YAML tree; a syntax error is one diagnostic in `path`.
pub(crate) fn parse_yaml(path: &Path, text: &str) -> Result<yaml::Spanned<yaml::Node>, Diagnostics> {
    yaml::parse(text).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            code: Code::YamlSyntax,
            file: path.to_path_buf(),
            line: e.line,
            column: e.column,
            message: e.message,
            hint: None,
        }])
    })
}

/// 1-based line and column (in characters) just after `prefix`.
fn line_column(prefix: &[u8]) -> (u32, u32) {
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(column).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_battery_file_is_one_diagnostic_without_a_line() {
        let d = load(Path::new("no/such/battery.yaml")).unwrap_err();
        assert_eq!(d.codes(), ["file-not-found"]);
        assert_eq!(d.0[0].line, 0);
        assert!(d.to_string().contains("--> no/such/battery.yaml\n"), "{d}");
    }

    #[test]
    fn a_file_that_is_not_utf8_points_at_the_first_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.yaml");
        std::fs::write(&path, b"schema: x\nname: caf\xe9\n").unwrap();
        let d = load(&path).unwrap_err();
        assert_eq!(d.codes(), ["yaml-syntax"]);
        assert_eq!((d.0[0].line, d.0[0].column), (2, 10));
    }

    #[test]
    fn records_the_sha256_of_the_bytes_and_the_path_as_given() {
        let text = "schema: probity/battery/v1\nname: t\nversion: 1\nmodality: image\nprobes:\n  - {id: p, category: robustness, transform: {kind: blur, sigma: 1}}\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.yaml");
        std::fs::write(&path, text).unwrap();
        let battery = load(&path).unwrap();
        assert_eq!(battery.path, path);
        use sha2::{Digest, Sha256};
        assert_eq!(battery.sha256, hex::encode(Sha256::digest(text.as_bytes())));
    }
}
