//! Validation: from the raw YAML tree ([`super::yaml`]) to the validated [`spec::Battery`].
//!
//! The walk never stops at the first problem. Each check reports into one list and carries on
//! with whatever it could still make sense of, so a bad probe does not hide problems in the
//! probes after it; the battery is built only when the list stays empty. Every diagnostic points
//! at the key or value it is about (a missing key: at the map that lacks it).
//!
//! The one early stop is an unsupported `schema:`: the keys of another schema cannot be judged
//! by this one's rules, and reporting them would bury the one problem that matters.
//!
//! This file is the shared [`Checker`]: it collects the diagnostics and reads scalars, choices
//! and maps with "did you mean" for near misses. The checks are by area, as cargo-deny gives each
//! check its own `cfg.rs`: `document.rs` (top-level keys, schema, defaults), `probe.rs` (probes
//! and which transform or search they declare), `thresholds.rs`, `search.rs` (one descriptor
//! per search method) and `attack.rs` (attack methods). Each transform kind checks its own keys in its descriptor, next to the
//! transform ([`crate::transform::registry`]).
//!
//! [`spec::Battery`]: super::spec::Battery

mod attack;
mod document;
mod probe;
pub(crate) mod search;
mod thresholds;

use std::path::{Path, PathBuf};

use super::diagnostics::{Code, Diagnostic, Diagnostics, Range, did_you_mean};
use super::spec::{Battery, Extent, Modality};
use super::yaml::{Key, Node, Spanned, position};

#[cfg(test)]
pub(crate) use attack::METHOD_KEYS as ATTACK_METHODS;
pub use document::builtin_defaults;
// What `battery::schema` checks its own keys against.
#[cfg(test)]
pub(crate) use document::{DEFAULT_KEYS, TOP_KEYS};
#[cfg(test)]
pub(crate) use probe::PROBE_KEYS;
#[cfg(test)]
pub(crate) use thresholds::threshold_keys;

type Entry = (Spanned<Key>, Spanned<Node>);
type Pos = (u32, u32);

/// "a, b or c".
fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Validates a parsed battery file. `path` is the file as the user named it; image paths in
/// the battery are resolved against its folder (and must exist).
pub fn battery(path: &Path, sha256: String, root: &Spanned<Node>) -> Result<Battery, Diagnostics> {
    let mut checker = Checker::new(path);
    let built = checker.battery(path, sha256, root);
    let mut diagnostics = checker.diagnostics;
    match built {
        Some(battery) if diagnostics.is_empty() => Ok(battery),
        _ => {
            if diagnostics.is_empty() {
                // Every `None` above comes with a diagnostic; this guards against a check that forgot.
                diagnostics.push(Diagnostic {
                    code: Code::BadValue,
                    file: path.to_path_buf(),
                    line: position(root).0,
                    column: position(root).1,
                    message: "the battery could not be validated".into(),
                    hint: Some("this is a bug in probity; please report it with the battery file".into()),
                });
            }
            diagnostics.sort_by_key(|d| (d.line, d.column));
            Err(Diagnostics(diagnostics))
        }
    }
}

/// The keys of one YAML map, and how to name the map in messages ("transform of probe `x`").
pub(crate) struct Fields<'a> {
    entries: &'a [Entry],
    at: Pos,
    place: String,
}

impl<'a> Fields<'a> {
    fn entry(&self, key: &str) -> Option<&'a Entry> {
        self.entries.iter().find(|(k, _)| k.value.0 == key)
    }

    /// The value of `key`, when given.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Spanned<Node>> {
        self.entry(key).map(|(_, v)| v)
    }

    /// Where `key` itself stands, when given.
    pub(crate) fn key_at(&self, key: &str) -> Option<Pos> {
        self.entry(key).map(|(k, _)| position(k))
    }

    /// Where the map stands (what a missing key points at).
    pub(crate) fn at(&self) -> Pos {
        self.at
    }

    /// How messages name the map: "transform of probe `x`".
    pub(crate) fn place(&self) -> &str {
        &self.place
    }

    /// How messages name this key: "`size` in transform of probe `x`".
    pub(crate) fn label(&self, key: &str) -> String {
        format!("`{key}` in {}", self.place)
    }
}

/// Collects every problem of one battery file while reading it.
pub(crate) struct Checker {
    file: PathBuf,
    /// The battery file's folder, against which image paths resolve.
    base: PathBuf,
    diagnostics: Vec<Diagnostic>,
}

impl Checker {
    /// A checker for `file` (its folder is where relative paths in it resolve). Other files
    /// checked the battery way (suites) use it too, then [`finish`](Self::finish).
    pub(crate) fn new(file: &Path) -> Self {
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Self { file: file.to_path_buf(), base, diagnostics: Vec::new() }
    }

    /// Every problem found, in file order; `Ok` when there was none.
    pub(crate) fn finish(self) -> Result<(), Diagnostics> {
        let mut diagnostics = self.diagnostics;
        if diagnostics.is_empty() {
            return Ok(());
        }
        diagnostics.sort_by_key(|d| (d.line, d.column));
        Err(Diagnostics(diagnostics))
    }

    /// The folder relative paths in the file resolve against.
    pub(crate) fn base(&self) -> &Path {
        &self.base
    }

    pub(crate) fn report(&mut self, code: Code, at: Pos, message: impl Into<String>, hint: Option<String>) {
        self.diagnostics.push(Diagnostic {
            code,
            file: self.file.clone(),
            line: at.0,
            column: at.1,
            message: message.into(),
            hint,
        });
    }

    pub(crate) fn wrong_type(&mut self, node: &Spanned<Node>, label: &str, expected: &str) {
        let message = format!("{label} must be {expected}, found {}", node.value.type_name());
        self.report(Code::WrongType, position(node), message, None);
    }

    // ---- structure ----------------------------------------------------------------------------

    /// The node as a map. With `null_is_empty`, a key written with nothing after it (`noise:`)
    /// reads as an empty map, so its missing keys are reported rather than its type.
    pub(crate) fn fields<'a>(
        &mut self,
        node: &'a Spanned<Node>,
        label: &str,
        place: String,
        null_is_empty: bool,
    ) -> Option<Fields<'a>> {
        match &node.value {
            Node::Map(entries) => Some(Fields { entries, at: position(node), place }),
            Node::Null if null_is_empty => Some(Fields { entries: &[], at: position(node), place }),
            _ => {
                self.wrong_type(node, label, "a map");
                None
            }
        }
    }

    pub(crate) fn check_keys(&mut self, fields: &Fields, allowed: &[&str]) {
        for (key, _) in fields.entries {
            let name = key.value.0.as_str();
            if !allowed.contains(&name) {
                self.unknown_key(position(key), name, &fields.place, allowed);
            }
        }
    }

    fn unknown_key(&mut self, at: Pos, name: &str, place: &str, allowed: &[&str]) {
        let valid = format!("valid keys here: {}", allowed.join(", "));
        let hint = match did_you_mean(name, allowed) {
            Some(near) => format!("did you mean `{near}`? {valid}"),
            None => valid,
        };
        self.report(Code::UnknownKey, at, format!("unknown key `{name}` in {place}"), Some(hint));
    }

    pub(crate) fn required<'a>(&mut self, fields: &Fields<'a>, key: &str) -> Option<&'a Spanned<Node>> {
        let value = fields.get(key);
        if value.is_none() {
            self.report(Code::MissingKey, fields.at, format!("missing key `{key}` in {}", fields.place), None);
        }
        value
    }

    // ---- scalars ------------------------------------------------------------------------------

    pub(crate) fn string<'a>(&mut self, node: &'a Spanned<Node>, label: &str) -> Option<&'a str> {
        match &node.value {
            Node::String(s) => Some(s),
            _ => {
                self.wrong_type(node, label, "a string");
                None
            }
        }
    }

    pub(crate) fn non_empty_string(&mut self, node: &Spanned<Node>, label: &str) -> Option<String> {
        let s = self.string(node, label)?;
        if s.trim().is_empty() {
            self.report(Code::BadValue, position(node), format!("{label} must not be empty"), None);
            return None;
        }
        Some(s.to_string())
    }

    /// Integers are fine where numbers are expected.
    pub(crate) fn number(&mut self, node: &Spanned<Node>, label: &str) -> Option<f64> {
        match node.value {
            Node::Int(i) => Some(i as f64),
            Node::Float(f) => Some(f),
            _ => {
                self.wrong_type(node, label, "a number");
                None
            }
        }
    }

    pub(crate) fn number_in(&mut self, node: &Spanned<Node>, label: &str, range: Range) -> Option<f64> {
        let v = self.number(node, label)?;
        if !range.contains(v) {
            self.report(Code::BadValue, position(node), format!("{label} must be {range}, found {v}"), None);
            return None;
        }
        Some(v)
    }

    /// An integer in `[min, max]`.
    pub(crate) fn integer(&mut self, node: &Spanned<Node>, label: &str, min: u64, max: u64) -> Option<u64> {
        let Node::Int(i) = node.value else {
            self.wrong_type(node, label, "an integer");
            return None;
        };
        if i < i128::from(min) {
            let message = format!("{label} must be an integer >= {min}, found {i}");
            self.report(Code::BadValue, position(node), message, None);
            return None;
        }
        if i > i128::from(max) {
            let message = format!("{label} must be an integer <= {max}, found {i}");
            self.report(Code::BadValue, position(node), message, None);
            return None;
        }
        u64::try_from(i).ok()
    }

    pub(crate) fn u32_at_least(&mut self, node: &Spanned<Node>, label: &str, min: u32) -> Option<u32> {
        self.integer(node, label, u64::from(min), u64::from(u32::MAX)).and_then(|v| u32::try_from(v).ok())
    }

    pub(crate) fn count(&mut self, node: &Spanned<Node>, label: &str) -> Option<usize> {
        let max = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
        self.integer(node, label, 1, max).and_then(|v| usize::try_from(v).ok())
    }

    pub(crate) fn seed(&mut self, node: &Spanned<Node>, label: &str) -> Option<u64> {
        self.integer(node, label, 0, u64::MAX)
    }

    /// One of a fixed set of names, with a suggestion for a near miss: the value named.
    pub(crate) fn choice<T: Copy>(&mut self, node: &Spanned<Node>, label: &str, options: &[(&str, T)]) -> Option<T> {
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let one_of = names.join(", ");
        let Node::String(s) = &node.value else {
            self.wrong_type(node, label, &format!("one of {one_of}"));
            return None;
        };
        if let Some((_, value)) = options.iter().find(|(name, _)| *name == s.as_str()) {
            return Some(*value);
        }
        let hint = did_you_mean(s, &names).map(|near| format!("did you mean `{near}`?"));
        let message = format!("{label} must be one of {one_of}, found `{s}`");
        self.report(Code::BadValue, position(node), message, hint);
        None
    }

    /// A name from `options`, each of one modality: the option named. A name of the other
    /// modality is accepted, for the caller to report as a mismatch with its reason; an unknown
    /// one is reported with the names of the battery's modality only (all of them when the
    /// modality is unknown), since only those could fit.
    pub(crate) fn modal_choice<T: Copy>(
        &mut self,
        node: &Spanned<Node>,
        label: &str,
        options: &[(&'static str, Modality, T)],
        modality: Option<Modality>,
    ) -> Option<T> {
        if let Node::String(s) = &node.value
            && let Some((_, _, found)) = options.iter().find(|(name, _, _)| *name == s.as_str())
        {
            return Some(*found);
        }
        let fitting: Vec<(&str, T)> = options
            .iter()
            .filter(|(_, m, _)| modality.is_none_or(|battery| battery == *m))
            .map(|(name, _, option)| (*name, *option))
            .collect();
        self.choice(node, label, &fitting)
    }

    /// A map with exactly one of `options` as its key: that option's value, its name, and the
    /// map's value under it.
    pub(crate) fn one_of<'a, T: Copy>(
        &mut self,
        node: &'a Spanned<Node>,
        label: &str,
        place: String,
        options: &[(&'static str, T)],
    ) -> Option<(T, &'static str, &'a Spanned<Node>)> {
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let expected = format!("a map with exactly one of {}", names.join(", "));
        let Node::Map(entries) = &node.value else {
            self.wrong_type(node, label, &expected);
            return None;
        };
        let fields = Fields { entries, at: position(node), place };
        self.check_keys(&fields, &names);
        let known: Vec<(&Entry, &(&'static str, T))> = entries
            .iter()
            .filter_map(|entry| options.iter().find(|(name, _)| *name == entry.0.value.0).map(|o| (entry, o)))
            .collect();
        match known.as_slice() {
            [((_, value), (name, option))] if entries.len() == 1 => Some((*option, *name, value)),
            [] if entries.is_empty() => {
                self.report(Code::BadValue, fields.at, format!("{label} must be {expected}, found an empty map"), None);
                None
            }
            [(first, _), (second, _), ..] => {
                let message = format!(
                    "{label} must name exactly one of {}, found both `{}` and `{}`",
                    names.join(", "),
                    first.0.value.0,
                    second.0.value.0
                );
                self.report(Code::BadValue, position(&second.0), message, None);
                None
            }
            // Only unknown keys, already reported.
            _ => None,
        }
    }

    /// `{seed: N}`.
    pub(crate) fn seeded(&mut self, node: &Spanned<Node>, label: &str, place: String) -> Option<u64> {
        let fields = self.fields(node, label, place, true)?;
        self.check_keys(&fields, &["seed"]);
        self.required(&fields, "seed").and_then(|n| self.seed(n, &fields.label("seed")))
    }

    /// An image path, relative to the battery's folder; the file must exist.
    pub(crate) fn image(&mut self, node: &Spanned<Node>, label: &str, place: &str) -> Option<PathBuf> {
        self.battery_file(node, label, place, "image")
    }

    /// A path to a `what` file (an image, a word list), relative to the battery's folder; the
    /// file must exist.
    pub(crate) fn battery_file(
        &mut self,
        node: &Spanned<Node>,
        label: &str,
        place: &str,
        what: &str,
    ) -> Option<PathBuf> {
        let written = self.non_empty_string(node, label)?;
        let resolved = self.base.join(&written);
        if !resolved.is_file() {
            let message = format!("{what} file `{written}` for {place} not found at `{}`", resolved.display());
            let hint = Some(format!("{what} paths are relative to the folder that holds the battery file"));
            self.report(Code::FileNotFound, position(node), message, hint);
            return None;
        }
        Some(resolved)
    }

    /// Pixels (an integer >= 1), a fraction of the image side in (0, 1], or a percentage ("25%").
    pub(crate) fn extent(&mut self, node: &Spanned<Node>, label: &str) -> Option<Extent> {
        let hint = || {
            Some("give whole pixels as an integer (`3`), or a fraction of the image side as a number in (0, 1] (`0.25`) or a percentage (`25%`)".to_string())
        };
        let fraction = |f: f64| (f > 0.0 && f <= 1.0).then_some(Extent::Fraction(f as f32));
        match &node.value {
            Node::Int(_) => self.u32_at_least(node, label, 1).map(Extent::Pixels),
            Node::Float(f) => {
                let extent = fraction(*f);
                if extent.is_none() {
                    let message =
                        format!("{label} must be a fraction in (0, 1] when not a whole number of pixels, found {f}");
                    self.report(Code::BadValue, position(node), message, hint());
                }
                extent
            }
            Node::String(s) => {
                let percent = s.trim().strip_suffix('%').and_then(|p| p.trim().parse::<f64>().ok());
                let extent = percent.and_then(|p| fraction(p / 100.0));
                if extent.is_none() {
                    let message = format!("{label} must be a percentage in (0%, 100%], found `{s}`");
                    self.report(Code::BadValue, position(node), message, hint());
                }
                extent
            }
            _ => {
                self.wrong_type(
                    node,
                    label,
                    "pixels (an integer), a fraction (a number) or a percentage (a string like \"25%\")",
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
