//! Problems found in a battery file (and in the other files probity reads and checks the same
//! way: calibrated thresholds, recorded baselines), each with a stable code and the
//! file:line:column it is about, rendered the way rustc and cargo-deny render theirs:
//!
//! ```text
//! error[unknown-key]: unknown key `sizes` in transform of probe `patch-white-2px`
//!   --> batteries/x.yaml:12:7
//!   = help: did you mean `size`? valid keys here: kind, size, width, height, position, content
//! ```
//!
//! The codes are part of probity's interface (documented in `docs/batteries.md`); scripts and
//! tests may match on them, so they never change meaning.

use std::fmt;
use std::path::{Path, PathBuf};

/// The stable diagnostic codes. [`Code::as_str`] is what users, scripts and tests see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The file is not YAML (or not UTF-8, or holds several documents).
    YamlSyntax,
    /// The file is not JSON (a recorded baseline).
    JsonSyntax,
    /// A key this place does not accept.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong YAML type (a string where a number belongs, a map for a list, ...).
    WrongType,
    /// A value of the right type outside its allowed range or set.
    BadValue,
    /// A probe id used twice.
    DuplicateId,
    /// `schema:` names a schema this probity does not read.
    UnsupportedSchema,
    /// A file the battery refers to (or the battery itself) does not exist.
    FileNotFound,
    /// Something valid on its own that does not fit the probe's category or the battery's modality.
    CategoryMismatch,
}

impl Code {
    /// Every code, in the order the documentation lists them.
    pub const ALL: [Code; 10] = [
        Self::YamlSyntax,
        Self::JsonSyntax,
        Self::UnknownKey,
        Self::MissingKey,
        Self::WrongType,
        Self::BadValue,
        Self::DuplicateId,
        Self::UnsupportedSchema,
        Self::FileNotFound,
        Self::CategoryMismatch,
    ];

    /// The code as rendered (`error[unknown-key]`) and documented in `docs/batteries.md`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::YamlSyntax => "yaml-syntax",
            Self::JsonSyntax => "json-syntax",
            Self::UnknownKey => "unknown-key",
            Self::MissingKey => "missing-key",
            Self::WrongType => "wrong-type",
            Self::BadValue => "bad-value",
            Self::DuplicateId => "duplicate-id",
            Self::UnsupportedSchema => "unsupported-schema",
            Self::FileNotFound => "file-not-found",
            Self::CategoryMismatch => "category-mismatch",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a battery file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    /// The file, as the user named it.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is about the file as a whole (it cannot be read).
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error[{}]: {}", self.code, self.message)?;
        if self.line == 0 {
            write!(f, "  --> {}", self.file.display())?;
        } else {
            write!(f, "  --> {}:{}:{}", self.file.display(), self.line, self.column)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = help: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in one battery file, in file order. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// The codes, in order; handy in tests.
    pub fn codes(&self) -> Vec<&'static str> {
        self.0.iter().map(|d| d.code.as_str()).collect()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Renders every diagnostic, separated by blank lines, with a trailing newline.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A closed or half-open interval of allowed numbers.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    lo: f64,
    lo_open: bool,
    hi: f64,
    hi_open: bool,
}

impl Range {
    pub const fn new(lo: f64, lo_open: bool, hi: f64, hi_open: bool) -> Self {
        Self { lo, lo_open, hi, hi_open }
    }

    /// `(lo, lo_open, hi, hi_open)`, for the JSON Schema of battery files (`battery::schema`).
    pub(crate) fn bounds(self) -> (f64, bool, f64, bool) {
        (self.lo, self.lo_open, self.hi, self.hi_open)
    }

    pub fn contains(self, v: f64) -> bool {
        let above = if self.lo_open { v > self.lo } else { v >= self.lo };
        let below = if self.hi_open { v < self.hi } else { v <= self.hi };
        above && below
    }
}

/// "in (0, 1]", or "> 0" for an unbounded range.
impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hi.is_infinite() {
            let op = if self.lo_open { ">" } else { ">=" };
            return write!(f, "{op} {}", self.lo);
        }
        let open = if self.lo_open { '(' } else { '[' };
        let close = if self.hi_open { ')' } else { ']' };
        write!(f, "in {open}{}, {}{close}", self.lo, self.hi)
    }
}

/// `[0, 1]`: intensities, rates.
pub const UNIT: Range = Range::new(0.0, false, 1.0, false);
/// `(0, 1]`: blend alpha, noise std, fractions of the image side.
pub const UNIT_NONZERO: Range = Range::new(0.0, true, 1.0, false);
/// `(0, 1)`: a significance level.
pub const PROBABILITY: Range = Range::new(0.0, true, 1.0, true);
pub const POSITIVE: Range = Range::new(0.0, true, f64::INFINITY, true);

/// A problem found in a file that parsed, before it is located: the path of keys (list positions
/// as numbers) to the value it is about. Checks of parsed files (thresholds, baselines) collect
/// these; the file's own locator (YAML spans, JSON text) turns them into [`Diagnostic`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: Code,
    pub path: Vec<String>,
    pub message: String,
    pub hint: Option<String>,
}

/// Every finding about one file, in the order they were found.
#[derive(Debug, Default)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    pub fn push(&mut self, code: Code, path: &[&str], message: String, hint: Option<String>) {
        self.0.push(Finding { code, path: path.iter().map(|s| s.to_string()).collect(), message, hint });
    }

    /// `label` (how messages name the value) must lie in `range`; NaN never does.
    pub fn range(&mut self, path: &[&str], label: &str, value: f64, range: Range) {
        if range.contains(value) {
            return;
        }
        // 5.0 for 5% (or 500%) is the likely slip where a fraction belongs.
        let hint = (range.hi <= 1.0 && value > 1.0 && value <= 100.0)
            .then(|| format!("{label} is a fraction of 1: 0.8 means 80%, so {value} would mean {}%", value * 100.0));
        self.push(Code::BadValue, path, format!("{label} must be {range}, found {value}"), hint);
    }

    /// `label` must be a SHA-256 digest: 64 hexadecimal digits.
    pub fn sha256(&mut self, path: &[&str], label: &str, value: &str) {
        if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.push(
                Code::BadValue,
                path,
                format!("{label} must be a SHA-256 (64 hex digits), found '{value}'"),
                None,
            );
        }
    }

    /// `Ok` when nothing was found; otherwise every finding located in `file` by `locate` (the
    /// position of the value at a path), sorted by position. A value that cannot be located is
    /// reported at the closest enclosing one that can.
    pub fn into_result(self, file: &Path, locate: impl Fn(&[String]) -> Option<(u32, u32)>) -> Result<(), Diagnostics> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut diagnostics: Vec<Diagnostic> = self
            .0
            .into_iter()
            .map(|f| {
                let (line, column) = (0..=f.path.len()).rev().find_map(|n| locate(&f.path[..n])).unwrap_or((0, 0));
                Diagnostic { code: f.code, file: file.to_path_buf(), line, column, message: f.message, hint: f.hint }
            })
            .collect();
        diagnostics.sort_by_key(|d| (d.line, d.column));
        Err(Diagnostics(diagnostics))
    }
}

/// Edit distance counting insertions, deletions, substitutions and swaps of two adjacent
/// characters as one edit each (optimal string alignment), so `nwhc` is one edit from `nhwc`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between the first i characters of a and the first j of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `typed`, if it is close enough to be a plausible typo: at most a third
/// of the typed length in edits (at least one), the same threshold rustc uses for names.
/// Case and `_`/`-` differences count for nothing, since `Bottom_Right` means `bottom-right`.
pub fn did_you_mean<'a>(typed: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let normalised = typed.to_lowercase().replace('_', "-");
    let limit = (typed.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(&normalised, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostic(hint: Option<&str>) -> Diagnostic {
        Diagnostic {
            code: Code::UnknownKey,
            file: PathBuf::from("batteries/x.yaml"),
            line: 12,
            column: 7,
            message: "unknown key `sizes` in transform of probe `patch-white-2px`".into(),
            hint: hint.map(String::from),
        }
    }

    #[test]
    fn renders_like_rustc() {
        let d = diagnostic(Some("did you mean `size`?"));
        assert_eq!(
            d.to_string(),
            "error[unknown-key]: unknown key `sizes` in transform of probe `patch-white-2px`\n  \
             --> batteries/x.yaml:12:7\n  = help: did you mean `size`?"
        );
    }

    #[test]
    fn separates_diagnostics_with_blank_lines() {
        let all = Diagnostics(vec![diagnostic(None), diagnostic(None)]);
        let text = all.to_string();
        assert_eq!(text.matches("error[unknown-key]").count(), 2);
        assert!(text.contains("12:7\n\nerror["));
        assert!(text.ends_with("12:7\n"));
    }

    #[test]
    fn a_file_level_problem_has_no_line() {
        let mut d = diagnostic(None);
        d.line = 0;
        assert!(d.to_string().ends_with("--> batteries/x.yaml"));
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("sizes", "size"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("nwhc", "nhwc"), 1);
        assert_eq!(edit_distance("centre", "center"), 1);
    }

    #[test]
    fn suggests_near_names_only() {
        let keys = ["kind", "size", "width", "height", "position", "content"];
        assert_eq!(did_you_mean("sizes", &keys), Some("size"));
        assert_eq!(did_you_mean("postion", &keys), Some("position"));
        assert_eq!(did_you_mean("Height", &keys), Some("height"));
        assert_eq!(did_you_mean("opacity", &keys), None);
        assert_eq!(did_you_mean("bottom_right", &["bottom-right", "bottom-left"]), Some("bottom-right"));
    }
}
