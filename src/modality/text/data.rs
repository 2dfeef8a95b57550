//! Clean text data: `.jsonl` records or `.txt` lines. The data's SHA-256 (of the file) goes
//! into reports.

use std::path::{Path, PathBuf};

use crate::data::DataError;

/// Clean text inputs and, when known, their labels.
#[derive(Debug, Clone)]
pub struct TextDataset {
    pub path: PathBuf,
    pub sha256: String,
    pub texts: Vec<String>,
    pub y: Option<Vec<i64>>,
    /// `.jsonl` records whose text was empty or blank, dropped with their labels.
    pub blank: usize,
}

impl TextDataset {
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

/// Whether `path` holds text data (`.jsonl` or `.txt`) rather than arrays or images.
pub fn claims(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("jsonl" | "txt"))
}

/// Loads text data: `.jsonl` with one `{"text": ..., "label": ...}` object per line (`label`
/// optional, but on every line or none), or `.txt` with one text per line. Blank lines are
/// skipped, and so are `.jsonl` records whose text is empty or blank (counted in
/// [`TextDataset::blank`]: a model's prediction on nothing says nothing about a trigger); data
/// with no non-blank text at all is refused. Errors name the line.
pub fn load(path: &Path) -> Result<TextDataset, DataError> {
    let bytes = std::fs::read(path).map_err(|cause| DataError::Io { path: path.to_path_buf(), cause })?;
    let sha256 = crate::digest::sha256_bytes(&bytes);
    let format = |line: usize, detail: String| DataError::Format {
        path: path.to_path_buf(),
        detail: if line == 0 { detail } else { format!("line {line}: {detail}") },
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| format(0, format!("not UTF-8 text ({e})")))?;
    let jsonl = path.extension().and_then(|e| e.to_str()) == Some("jsonl");
    let mut texts = Vec::new();
    let mut labels: Vec<(usize, Option<i64>)> = Vec::new();
    let mut blank = 0;
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if line.trim().is_empty() {
            continue;
        }
        if !jsonl {
            texts.push(line.to_string());
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            format(number, format!("not a JSON object ({e}); write {{\"text\": \"...\", \"label\": 0}}"))
        })?;
        let Some(object) = value.as_object() else {
            return Err(format(number, "not a JSON object; write {\"text\": \"...\", \"label\": 0}".into()));
        };
        let text = match object.get("text") {
            Some(serde_json::Value::String(s)) => s,
            Some(_) => return Err(format(number, "`text` must be a string".into())),
            None => return Err(format(number, "no `text` field; each line needs {\"text\": \"...\"}".into())),
        };
        let label =
            match object.get("label") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(v.as_i64().filter(|l| *l >= 0).ok_or_else(|| {
                    format(number, format!("`label` must be a class index (an integer >= 0), got {v}"))
                })?),
            };
        if text.trim().is_empty() {
            blank += 1;
            continue;
        }
        texts.push(text.clone());
        labels.push((number, label));
    }
    let with = labels.iter().filter(|(_, l)| l.is_some()).count();
    if with > 0 && with < labels.len() {
        let (line, _) = labels.iter().find(|(_, l)| l.is_none()).expect("some line lacks a label");
        return Err(format(*line, "no `label`, but other lines have one: label every line or none".into()));
    }
    let y = (with > 0).then(|| labels.into_iter().filter_map(|(_, l)| l).collect());
    if texts.is_empty() {
        return Err(if blank > 0 || !text.is_empty() {
            DataError::AllBlank { path: path.to_path_buf() }
        } else {
            DataError::Empty { path: path.to_path_buf() }
        });
    }
    Ok(TextDataset { path: path.to_path_buf(), sha256, texts, y, blank })
}
