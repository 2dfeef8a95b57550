//! The suite file (`schema: probity/suite/v1`): which models the nightly job scans, each with
//! its data, tokenizer, references, baseline and batteries.
//!
//! Parsed and validated the battery way ([`crate::battery`]): the span-preserving YAML tree,
//! then the shared checker, which collects *every* problem with file:line:column and a stable
//! code before anything runs. Paths resolve against the suite file's folder; model paths may be
//! globs ([`super::glob`]), expanded here so that a pattern matching nothing is an error at its
//! line. The documented form is `docs/suites.md`.

use std::path::{Path, PathBuf};

use crate::battery::diagnostics::{Code, Diagnostics};
use crate::battery::spec::Modality;
use crate::battery::validate::{Checker, Fields};
use crate::battery::yaml::{Node, Spanned, position};

/// Schema identifier every suite file declares in `schema:`.
pub const SCHEMA_V1: &str = "probity/suite/v1";

const TOP_KEYS: &[&str] = &["schema", "name", "description", "seed", "search-budget", "batteries", "models"];
const MODEL_KEYS: &[&str] =
    &["model", "data", "tokenizer", "modality", "label-column", "references", "baseline", "batteries"];

/// A suite file, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// The file, as the user named it.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// `name:`, else the file's stem.
    pub name: String,
    /// Replaces every battery's seed (`--seed` of each scan).
    pub seed: Option<u64>,
    /// Replaces every search probe's query budget (`--search-budget` of each scan).
    pub search_budget: Option<u64>,
    /// One per model file, in file order (a glob's matches sorted).
    pub models: Vec<SuiteModel>,
}

/// One model of the suite with everything its scan needs; paths resolved against the suite's
/// folder.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteModel {
    /// The model path as the suite names it (a glob expanded), what `suite.json` lists.
    pub model: String,
    pub path: PathBuf,
    pub data: PathBuf,
    pub tokenizer: Option<PathBuf>,
    /// The data's modality, where its extension does not say it.
    pub modality: Option<Modality>,
    pub label_column: Option<String>,
    pub references: Vec<PathBuf>,
    pub baseline: Option<PathBuf>,
    /// Battery files; empty: the bundled batteries for the data's modality.
    pub batteries: Vec<PathBuf>,
}

/// Reads and validates the suite file at `path`.
pub fn load(path: &Path) -> Result<Suite, Diagnostics> {
    let text = crate::battery::read_text(path, "suite file")?;
    parse(path, &text)
}

/// Validates `text` as the suite file `path` (paths in it resolve against `path`'s folder,
/// which is read to expand globs and check that files exist).
pub fn parse(path: &Path, text: &str) -> Result<Suite, Diagnostics> {
    let root = crate::battery::parse_yaml(path, text)?;
    let mut checker = Checker::new(path);
    let suite = checker.suite(path, crate::digest::sha256_bytes(text.as_bytes()), &root);
    checker.finish()?;
    // Every `None` comes with a diagnostic, so a clean checker means a suite.
    suite.ok_or_else(|| unreachable_problem(path))
}

fn unreachable_problem(path: &Path) -> Diagnostics {
    Diagnostics(vec![crate::battery::Diagnostic {
        code: Code::BadValue,
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        message: "the suite could not be validated".into(),
        hint: Some("this is a bug in probity; please report it with the suite file".into()),
    }])
}

/// What a model entry's keys say before its glob is expanded.
struct EntryFields {
    data: PathBuf,
    tokenizer: Option<PathBuf>,
    modality: Option<Modality>,
    label_column: Option<String>,
    references: Vec<PathBuf>,
    baseline: Option<PathBuf>,
    batteries: Option<Vec<PathBuf>>,
}

impl Checker {
    fn suite(&mut self, path: &Path, sha256: String, root: &Spanned<Node>) -> Option<Suite> {
        let top = match &root.value {
            Node::Null => {
                let hint = Some(format!("a suite starts with `schema: {SCHEMA_V1}`"));
                self.report(Code::WrongType, position(root), "the suite file is empty", hint);
                return None;
            }
            _ => self.fields(root, "the suite file", "the suite file".into(), false)?,
        };
        match top.get("schema") {
            None => {
                let hint = Some(format!("add `schema: {SCHEMA_V1}` at the top"));
                self.report(Code::MissingKey, top.at(), "missing key `schema` in the suite file", hint);
            }
            Some(node) if node.value == Node::String(SCHEMA_V1.into()) => {}
            Some(node) => {
                let found = match &node.value {
                    Node::String(s) => format!("`{s}`"),
                    other => other.type_name().to_string(),
                };
                let hint = Some(format!("this version of probity reads `{SCHEMA_V1}`"));
                self.report(Code::UnsupportedSchema, position(node), format!("unsupported suite schema {found}"), hint);
                return None;
            }
        }
        self.check_keys(&top, TOP_KEYS);
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "suite".into());
        let name = top.get("name").map_or(Some(stem), |n| self.non_empty_string(n, &top.label("name")));
        if let Some(node) = top.get("description") {
            self.string(node, &top.label("description"));
        }
        let seed = top.get("seed").map_or(Some(None), |n| self.seed(n, &top.label("seed")).map(Some));
        let search_budget = top
            .get("search-budget")
            .map_or(Some(None), |n| self.integer(n, &top.label("search-budget"), 100, u64::MAX).map(Some));
        let batteries = top.get("batteries").map_or(Some(Vec::new()), |n| {
            self.files(n, &top.label("batteries"), "battery file", "the suite's batteries")
        });
        let models = self.required(&top, "models").and_then(|node| self.models(node, &top, batteries.as_deref()));
        Some(Suite {
            path: path.to_path_buf(),
            sha256,
            name: name?,
            seed: seed?,
            search_budget: search_budget?,
            models: models?,
        })
    }

    fn models(&mut self, node: &Spanned<Node>, top: &Fields, batteries: Option<&[PathBuf]>) -> Option<Vec<SuiteModel>> {
        let label = top.label("models");
        let Node::Seq(entries) = &node.value else {
            self.wrong_type(node, &label, "a list of models");
            return None;
        };
        if entries.is_empty() {
            let hint = Some("list at least one `- model: PATH` with its `data: PATH`".to_string());
            self.report(Code::BadValue, position(node), format!("{label} must not be empty"), hint);
            return None;
        }
        let mut models: Vec<SuiteModel> = Vec::new();
        let mut seen: Vec<(String, u32)> = Vec::new();
        let mut complete = true;
        for (i, entry) in entries.iter().enumerate() {
            let place = format!("model entry {}", i + 1);
            let Some(fields) = self.fields(entry, &format!("{label} entry {}", i + 1), place, false) else {
                complete = false;
                continue;
            };
            self.check_keys(&fields, MODEL_KEYS);
            let matched = self.required(&fields, "model").and_then(|n| self.model_glob(n, &fields));
            let entry_fields = self.entry(&fields, batteries);
            let (Some(matched), Some(entry_fields)) = (matched, entry_fields) else {
                complete = false;
                continue;
            };
            let at = fields.get("model").map_or(fields.at(), position);
            for (model, path) in matched {
                if let Some((_, line)) = seen.iter().find(|(m, _)| *m == model) {
                    let message = format!("model `{model}` is listed twice (also by the entry at line {line})");
                    let hint = Some("a model runs once per suite: give it one entry with all its batteries".into());
                    self.report(Code::DuplicateId, at, message, hint);
                    complete = false;
                    continue;
                }
                seen.push((model.clone(), at.0));
                models.push(SuiteModel {
                    model,
                    path,
                    data: entry_fields.data.clone(),
                    tokenizer: entry_fields.tokenizer.clone(),
                    modality: entry_fields.modality,
                    label_column: entry_fields.label_column.clone(),
                    references: entry_fields.references.clone(),
                    baseline: entry_fields.baseline.clone(),
                    batteries: entry_fields.batteries.clone().unwrap_or_default(),
                });
            }
        }
        complete.then_some(models)
    }

    /// The files a `model:` pattern matches; none is an error at the pattern.
    fn model_glob(&mut self, node: &Spanned<Node>, fields: &Fields) -> Option<Vec<(String, PathBuf)>> {
        let pattern = self.non_empty_string(node, &fields.label("model"))?;
        let matched = super::glob::expand(self.base(), &pattern);
        if matched.is_empty() {
            let what = if super::glob::is_pattern(&pattern) { "matches no file" } else { "not found" };
            let message = format!("model `{pattern}` {what} (looked in `{}`)", self.base().display());
            let hint = Some(
                "model paths are relative to the folder that holds the suite file; `*` matches within one folder"
                    .into(),
            );
            self.report(Code::FileNotFound, position(node), message, hint);
            return None;
        }
        Some(matched)
    }

    fn entry(&mut self, fields: &Fields, batteries: Option<&[PathBuf]>) -> Option<EntryFields> {
        let place = fields.place().to_string();
        let data = self.required(fields, "data").and_then(|n| self.file(n, &fields.label("data"), "data", &place));
        let tokenizer = fields
            .get("tokenizer")
            .map_or(Some(None), |n| self.file(n, &fields.label("tokenizer"), "tokenizer", &place).map(Some));
        let modalities: Vec<(&str, Modality)> = Modality::ALL.iter().map(|m| (m.name(), *m)).collect();
        let modality = fields
            .get("modality")
            .map_or(Some(None), |n| self.choice(n, &fields.label("modality"), &modalities).map(Some));
        let label_column = fields
            .get("label-column")
            .map_or(Some(None), |n| self.non_empty_string(n, &fields.label("label-column")).map(Some));
        let references = fields
            .get("references")
            .map_or(Some(Vec::new()), |n| self.files(n, &fields.label("references"), "reference model", &place));
        let baseline = fields
            .get("baseline")
            .map_or(Some(None), |n| self.file(n, &fields.label("baseline"), "baseline", &place).map(Some));
        let own = fields
            .get("batteries")
            .map_or(Some(None), |n| self.files(n, &fields.label("batteries"), "battery file", &place).map(Some));
        Some(EntryFields {
            data: data?,
            tokenizer: tokenizer?,
            modality: modality?,
            label_column: label_column?,
            references: references?,
            baseline: baseline?,
            batteries: own?.or_else(|| batteries.map(<[PathBuf]>::to_vec)),
        })
    }

    /// A path relative to the suite's folder that must exist (a file, or a folder: image data,
    /// a recorded baseline).
    fn file(&mut self, node: &Spanned<Node>, label: &str, what: &str, place: &str) -> Option<PathBuf> {
        let written = self.non_empty_string(node, label)?;
        let resolved = self.base().join(&written);
        if !resolved.exists() {
            let message = format!("{what} `{written}` of {place} not found at `{}`", resolved.display());
            let hint = Some("paths are relative to the folder that holds the suite file".to_string());
            self.report(Code::FileNotFound, position(node), message, hint);
            return None;
        }
        Some(resolved)
    }

    /// A list of paths (a single path is a list of one).
    fn files(&mut self, node: &Spanned<Node>, label: &str, what: &str, place: &str) -> Option<Vec<PathBuf>> {
        match &node.value {
            Node::String(_) => self.file(node, label, what, place).map(|p| vec![p]),
            Node::Seq(items) => {
                let found: Vec<Option<PathBuf>> =
                    items.iter().map(|item| self.file(item, label, what, place)).collect();
                found.into_iter().collect()
            }
            _ => {
                self.wrong_type(node, label, "a path or a list of paths");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder with `models/a.onnx`, `models/b.onnx`, `data.npz` and `b.yaml`.
    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("models")).unwrap();
        for name in ["models/a.onnx", "models/b.onnx", "data.npz", "b.yaml", "text.jsonl"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        dir
    }

    fn parse_in(dir: &Path, text: &str) -> Result<Suite, Diagnostics> {
        parse(&dir.join("suite.yaml"), text)
    }

    #[test]
    fn the_minimal_suite_expands_its_glob_and_defaults_the_batteries() {
        let dir = folder();
        let suite =
            parse_in(dir.path(), "schema: probity/suite/v1\nmodels:\n  - model: models/*.onnx\n    data: data.npz\n")
                .unwrap();
        assert_eq!(suite.name, "suite");
        let models: Vec<&str> = suite.models.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(models, ["models/a.onnx", "models/b.onnx"]);
        assert_eq!(suite.models[1].path, dir.path().join("models/b.onnx"));
        assert_eq!(suite.models[0].data, dir.path().join("data.npz"));
        assert!(suite.models[0].batteries.is_empty(), "empty: the data's modality decides");
    }

    #[test]
    fn suite_wide_batteries_apply_unless_an_entry_names_its_own() {
        let dir = folder();
        let suite = parse_in(
            dir.path(),
            "schema: probity/suite/v1\nseed: 3\nsearch-budget: 200\nbatteries: [b.yaml]\nmodels:\n  - model: models/a.onnx\n    data: data.npz\n  - model: models/b.onnx\n    data: text.jsonl\n    batteries: []\n",
        )
        .unwrap();
        assert_eq!((suite.seed, suite.search_budget), (Some(3), Some(200)));
        assert_eq!(suite.models[0].batteries, [dir.path().join("b.yaml")]);
        assert!(suite.models[1].batteries.is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let dir = folder();
        let text = "schema: probity/suite/v1\nseeds: 1\nsearch-budget: 5\nmodels:\n  - model: models/*.pt\n    data: missing.npz\n  - model: models/a.onnx\n    dta: data.npz\n    references: 3\n  - model: models/a.onnx\n    data: data.npz\n    modality: imag\n";
        let d = parse_in(dir.path(), text).unwrap_err();
        let found: Vec<(&str, u32, u32)> = d.iter().map(|d| (d.code.as_str(), d.line, d.column)).collect();
        assert_eq!(
            found,
            [
                ("unknown-key", 2, 1),
                ("bad-value", 3, 16),
                ("file-not-found", 5, 12),
                ("file-not-found", 6, 11),
                ("missing-key", 7, 5),
                ("unknown-key", 8, 5),
                ("wrong-type", 9, 17),
                ("bad-value", 12, 15),
            ],
            "{d}"
        );
        assert!(d.to_string().contains("did you mean `seed`?"), "{d}");
        assert!(d.to_string().contains("did you mean `image`?"), "{d}");
    }

    #[test]
    fn a_model_listed_twice_is_a_duplicate() {
        let dir = folder();
        let text = "schema: probity/suite/v1\nmodels:\n  - model: models/*.onnx\n    data: data.npz\n  - model: models/b.onnx\n    data: text.jsonl\n";
        let d = parse_in(dir.path(), text).unwrap_err();
        assert_eq!(d.codes(), ["duplicate-id"]);
        assert_eq!((d.0[0].line, d.0[0].column), (5, 12));
        assert!(d.0[0].message.contains("line 3"), "{}", d.0[0].message);
    }

    #[test]
    fn another_schema_is_the_only_problem_reported() {
        let dir = folder();
        let d = parse_in(dir.path(), "schema: probity/battery/v1\nfoo: 1\n").unwrap_err();
        assert_eq!(d.codes(), ["unsupported-schema"]);
        let d = parse_in(dir.path(), "").unwrap_err();
        assert_eq!(d.codes(), ["wrong-type"]);
        let d = parse_in(dir.path(), "models: [\n").unwrap_err();
        assert_eq!(d.codes(), ["yaml-syntax"]);
    }
}
