//! Tabular data: rows of numeric features from a CSV file with a header, or from an `.npz`.
//!
//! CSV: the first record names the columns. The label column (`label` unless configured, or
//! none) holds integer class indices; every other column is a feature, in file order. A cell
//! is a decimal number; an empty cell or `nan` (any case) is a missing value, kept as NaN.
//! Anything else (text, `inf`, a number beyond float32) is refused with the file, line, column
//! and the fix. Quoting follows RFC 4180: a field in double quotes may hold commas, line breaks
//! and `""` for a quote. Lines with nothing on them are skipped; a UTF-8 byte order mark is
//! ignored.
//!
//! `.npz`: `x` float `[N, F]` and optional `y`, read by [`crate::modality::image::load`] (so the same
//! vetting of array headers applies); its features are named `x[0]`, `x[1]`, ….
//!
//! [`FeatureStats`] summarises each feature (count, missing, min, max, mean, standard deviation,
//! quantiles): the ranges the tabular search draws its candidate values from.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2, Axis};

/// The label column's name unless one is configured.
pub const DEFAULT_LABEL_COLUMN: &str = "label";

/// Which CSV column holds the labels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LabelColumn {
    /// [`DEFAULT_LABEL_COLUMN`] if the header has it; otherwise the data is unlabelled.
    #[default]
    Auto,
    /// This column, which must exist.
    Named(String),
    /// No labels: every column is a feature, even one called `label`.
    Absent,
}

/// Feature rows and, when known, their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularData {
    pub path: PathBuf,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Feature names, one per column of `x`.
    pub features: Vec<String>,
    /// `[N, F]`; NaN marks a missing value.
    pub x: Array2<f32>,
    /// Class index of each row.
    pub y: Option<Vec<i64>>,
}

impl TabularData {
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }

    /// Per-feature statistics, quantiles at `levels` (each in [0, 1]).
    pub fn stats(&self, levels: &[f64]) -> Vec<FeatureStats> {
        feature_stats(self.x.view(), levels)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TabularDataError {
    #[error("cannot read {path}: {cause}")]
    Io {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error("{path}: {detail}")]
    Format { path: PathBuf, detail: String },
    /// A problem at one place of a CSV file; `line` and `column` count from 1.
    #[error("{path}:{line}: column {column} ('{name}'): {detail}")]
    Cell { path: PathBuf, line: usize, column: usize, name: String, detail: String },
    /// A problem with a whole CSV line.
    #[error("{path}:{line}: {detail}")]
    Line { path: PathBuf, line: usize, detail: String },
}

/// Reads a `.csv` or `.npz` file of feature rows.
pub fn load(path: &Path, label: &LabelColumn) -> Result<TabularData, TabularDataError> {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => {
            let bytes =
                std::fs::read(path).map_err(|cause| TabularDataError::Io { path: path.to_path_buf(), cause })?;
            let text = std::str::from_utf8(&bytes).map_err(|e| TabularDataError::Format {
                path: path.to_path_buf(),
                detail: format!("not UTF-8 text ({e}); save the CSV as UTF-8"),
            })?;
            let mut data = parse_csv(path, text, label)?;
            data.sha256 = crate::digest::sha256_bytes(&bytes);
            Ok(data)
        }
        Some("npz") => load_npz(path),
        _ => Err(TabularDataError::Format {
            path: path.to_path_buf(),
            detail:
                "tabular data must be a .csv file with a header row, or an .npz holding `x` [N, F] (and optionally `y`)"
                    .into(),
        }),
    }
}

fn load_npz(path: &Path) -> Result<TabularData, TabularDataError> {
    let dataset = crate::modality::image::load(path, None)?;
    let shape = dataset.shape().to_vec();
    let [rows, features] = shape[..] else {
        return Err(TabularDataError::Format {
            path: path.to_path_buf(),
            detail: format!("`x` has shape {shape:?}; tabular data is one row of features per sample, [N, F]"),
        });
    };
    let all: Vec<usize> = (0..rows).collect();
    let x = dataset
        .read(&all)?
        .into_shape_with_order((rows, features))
        .map_err(|e| TabularDataError::Format { path: path.to_path_buf(), detail: e.to_string() })?;
    Ok(TabularData {
        path: path.to_path_buf(),
        sha256: dataset.sha256.clone(),
        features: (0..features).map(|j| format!("x[{j}]")).collect(),
        x,
        y: dataset.y.clone(),
    })
}

/// Parses CSV `text` (read from `path`, which only names it in errors); `sha256` is left empty.
pub fn parse_csv(path: &Path, text: &str, label: &LabelColumn) -> Result<TabularData, TabularDataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Records { text, at: 0, line: 1 };
    let line_err = |line: usize, detail: String| TabularDataError::Line { path: path.to_path_buf(), line, detail };
    let (header_line, header) = match records.next() {
        Some(record) => record.map_err(|(line, detail)| line_err(line, detail))?,
        None => return Err(line_err(1, "the file is empty; the first line must name the columns".into())),
    };
    let names: Vec<String> = header.iter().map(|n| n.trim().to_string()).collect();
    for (j, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(line_err(
                header_line,
                format!("column {} of the header has no name; name every column", j + 1),
            ));
        }
        if let Some(first) = names[..j].iter().position(|n| n == name) {
            return Err(line_err(
                header_line,
                format!("columns {} and {} are both named '{name}'; column names must be unique", first + 1, j + 1),
            ));
        }
    }
    let label_index = match label {
        LabelColumn::Auto => names.iter().position(|n| n == DEFAULT_LABEL_COLUMN),
        LabelColumn::Absent => None,
        LabelColumn::Named(wanted) => Some(names.iter().position(|n| n == wanted).ok_or_else(|| {
            line_err(
                header_line,
                format!("no column named '{wanted}' holds the labels; the header names: {}", names.join(", ")),
            )
        })?),
    };
    let features: Vec<String> =
        names.iter().enumerate().filter(|(j, _)| Some(*j) != label_index).map(|(_, n)| n.clone()).collect();
    if features.is_empty() {
        return Err(line_err(header_line, "the header names no feature column besides the labels".into()));
    }

    let mut values: Vec<f32> = Vec::new();
    let mut labels: Vec<i64> = Vec::new();
    for record in records {
        let (line, fields) = record.map_err(|(line, detail)| line_err(line, detail))?;
        if fields.len() != names.len() {
            return Err(line_err(
                line,
                format!(
                    "{} fields, but the header names {} columns; every row needs one value per column (an empty field for a missing value)",
                    fields.len(),
                    names.len()
                ),
            ));
        }
        for (j, field) in fields.iter().enumerate() {
            let cell = |detail: String| TabularDataError::Cell {
                path: path.to_path_buf(),
                line,
                column: j + 1,
                name: names[j].clone(),
                detail,
            };
            if Some(j) == label_index {
                labels.push(parse_label(field).map_err(cell)?);
            } else {
                values.push(parse_value(field).map_err(cell)?);
            }
        }
    }
    let rows = values.len() / features.len();
    let x = Array2::from_shape_vec((rows, features.len()), values).expect("one value per feature per row");
    Ok(TabularData { path: path.to_path_buf(), sha256: String::new(), features, x, y: label_index.map(|_| labels) })
}

/// A feature value: a decimal number, or NaN for a missing one (an empty cell or `nan`).
fn parse_value(field: &str) -> Result<f32, String> {
    let s = field.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("nan") {
        return Ok(f32::NAN);
    }
    let fix = "tabular data must be numeric: encode categories as numbers (ordinal or one-hot) and write a missing value as an empty cell or `nan`";
    match s.parse::<f32>() {
        // Rust also reads "inf", "infinity" and "NaN" spelled in other ways: only plain
        // decimals (and the two spellings of missing above) are data here.
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) if s.trim_start_matches(['+', '-']).chars().next().is_some_and(|c| c.is_ascii_alphabetic()) => {
            Err(format!("'{s}' is not a finite number; {fix}"))
        }
        Ok(_) => Err(format!("{s} is beyond the float32 range (about ±3.4e38); rescale this feature")),
        Err(_) => Err(format!("'{s}' is not a number; {fix}")),
    }
}

/// A class index: a non-negative integer (`2` or `2.0`).
fn parse_label(field: &str) -> Result<i64, String> {
    let s = field.trim();
    if s.is_empty() {
        return Err(
            "the label is missing; every row of a labelled file needs one (or read the file without labels)".into()
        );
    }
    let value = s
        .parse::<i64>()
        .ok()
        .or_else(|| s.parse::<f64>().ok().filter(|v| v.fract() == 0.0 && v.abs() < 9.0e15).map(|v| v as i64));
    match value {
        Some(v) if v >= 0 => Ok(v),
        _ => Err(format!(
            "label '{s}' is not a class index; labels must be integers 0, 1, … (map class names to indices in the model's output order)"
        )),
    }
}

/// RFC 4180 records of a text, each with the line it starts on; fields are borrowed unless a
/// quoted field holds an escaped quote.
struct Records<'t> {
    text: &'t str,
    at: usize,
    line: usize,
}

type Record<'t> = Result<(usize, Vec<std::borrow::Cow<'t, str>>), (usize, String)>;

impl<'t> Iterator for Records<'t> {
    type Item = Record<'t>;

    fn next(&mut self) -> Option<Self::Item> {
        use std::borrow::Cow;
        let bytes = self.text.as_bytes();
        // Skip empty lines.
        while self.at < bytes.len() && (bytes[self.at] == b'\n' || bytes[self.at] == b'\r') {
            if bytes[self.at] == b'\n' {
                self.line += 1;
            }
            self.at += 1;
        }
        if self.at >= bytes.len() {
            return None;
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        loop {
            // One field starting at `self.at`.
            if bytes.get(self.at) == Some(&b'"') {
                let open_line = self.line;
                let mut i = self.at + 1;
                let mut escaped = false;
                loop {
                    match bytes.get(i) {
                        None => {
                            return Some(Err((open_line, "a quoted field is never closed; end it with '\"'".into())));
                        }
                        Some(b'"') if bytes.get(i + 1) == Some(&b'"') => {
                            escaped = true;
                            i += 2;
                        }
                        Some(b'"') => break,
                        Some(b'\n') => {
                            self.line += 1;
                            i += 1;
                        }
                        Some(_) => i += 1,
                    }
                }
                let inner = &self.text[self.at + 1..i];
                fields.push(if escaped { Cow::Owned(inner.replace("\"\"", "\"")) } else { Cow::Borrowed(inner) });
                self.at = i + 1;
                // Only spaces may follow the closing quote before the separator.
                while matches!(bytes.get(self.at), Some(b' ' | b'\t')) {
                    self.at += 1;
                }
                if !matches!(bytes.get(self.at), None | Some(b',' | b'\n' | b'\r')) {
                    return Some(Err((self.line, "text after a closing quote; quote the whole field".into())));
                }
            } else {
                let end = bytes[self.at..]
                    .iter()
                    .position(|b| matches!(b, b',' | b'\n' | b'\r'))
                    .map_or(bytes.len(), |p| self.at + p);
                fields.push(Cow::Borrowed(&self.text[self.at..end]));
                self.at = end;
            }
            match bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'\r') if bytes.get(self.at + 1) == Some(&b'\n') => {
                    self.at += 2;
                    self.line += 1;
                    break;
                }
                Some(b'\n' | b'\r') => {
                    self.at += 1;
                    self.line += 1;
                    break;
                }
                _ => break,
            }
        }
        Some(Ok((start_line, fields)))
    }
}

/// One feature's summary over its present (non-missing) values.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureStats {
    /// Values present.
    pub present: usize,
    /// Values missing (NaN).
    pub missing: usize,
    /// Distinct present values (a binary feature has 2).
    pub distinct: usize,
    pub min: f32,
    pub max: f32,
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// `(level, value)` for each requested level, in the order asked.
    pub quantiles: Vec<(f64, f32)>,
}

impl FeatureStats {
    /// A scale for the feature: its standard deviation, else its range, else 1 (a constant
    /// or absent feature), so that offsets in units of it are never zero.
    pub fn spread(&self) -> f64 {
        let range = f64::from(self.max) - f64::from(self.min);
        if self.std > 0.0 {
            self.std
        } else if range > 0.0 {
            range
        } else {
            1.0
        }
    }

    /// The quantile at `level`, if it was computed.
    pub fn quantile(&self, level: f64) -> Option<f32> {
        self.quantiles.iter().find(|(l, _)| *l == level).map(|&(_, v)| v)
    }
}

/// Statistics of every column of `x` (`[N, F]`, NaN = missing), quantiles at `levels`.
pub fn feature_stats(x: ArrayView2<'_, f32>, levels: &[f64]) -> Vec<FeatureStats> {
    x.axis_iter(Axis(1)).map(|column| column_stats(column.iter().copied(), levels)).collect()
}

/// Statistics of one feature's values.
pub fn column_stats(values: impl Iterator<Item = f32>, levels: &[f64]) -> FeatureStats {
    let mut missing = 0;
    let mut sorted: Vec<f32> = Vec::new();
    for v in values {
        if v.is_nan() { missing += 1 } else { sorted.push(v) }
    }
    sorted.sort_by(f32::total_cmp);
    let n = sorted.len();
    let mean = if n == 0 { f64::NAN } else { sorted.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64 };
    let std = if n == 0 {
        f64::NAN
    } else {
        (sorted.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n as f64).sqrt()
    };
    let mut distinct = 0;
    for (i, v) in sorted.iter().enumerate() {
        if i == 0 || *v != sorted[i - 1] {
            distinct += 1;
        }
    }
    FeatureStats {
        present: n,
        missing,
        distinct,
        min: sorted.first().copied().unwrap_or(f32::NAN),
        max: sorted.last().copied().unwrap_or(f32::NAN),
        mean,
        std,
        quantiles: levels.iter().map(|&l| (l, quantile_of_sorted(&sorted, l))).collect(),
    }
}

/// The `level` quantile of sorted values by linear interpolation between the order statistics
/// at ranks `level · (n − 1)` (Hyndman & Fan's type 7, numpy's and R's default); NaN when empty.
pub fn quantile_of_sorted(sorted: &[f32], level: f64) -> f32 {
    if sorted.is_empty() {
        return f32::NAN;
    }
    let rank = level.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    let (a, b) = (f64::from(sorted[low]), f64::from(sorted[high]));
    (a + (b - a) * (rank - low as f64)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TabularData, TabularDataError> {
        parse_csv(Path::new("data.csv"), text, &LabelColumn::Auto)
    }

    #[test]
    fn a_header_names_the_features_and_the_label_column_holds_classes() {
        let d = parse("age,income,label\n31,5200.5,1\n45,,0\n").unwrap();
        assert_eq!(d.features, ["age", "income"]);
        assert_eq!(d.y, Some(vec![1, 0]));
        assert_eq!(d.x.shape(), [2, 2]);
        assert_eq!(d.x[[0, 1]], 5200.5);
        assert!(d.x[[1, 1]].is_nan(), "an empty cell is a missing value");
    }

    #[test]
    fn the_label_column_may_sit_anywhere_be_renamed_or_be_absent() {
        let d = parse("label,a,b\n2,1,2\n").unwrap();
        assert_eq!((d.features.clone(), d.y.clone()), (vec!["a".to_string(), "b".to_string()], Some(vec![2])));
        let named = parse_csv(Path::new("d.csv"), "a,target\n1,0\n", &LabelColumn::Named("target".into())).unwrap();
        assert_eq!(named.y, Some(vec![0]));
        let unlabelled = parse("a,b\n1,2\n").unwrap();
        assert_eq!(unlabelled.y, None);
        let absent = parse_csv(Path::new("d.csv"), "a,label\n1,7\n", &LabelColumn::Absent).unwrap();
        assert_eq!(absent.features, ["a", "label"]);
        assert_eq!(absent.x[[0, 1]], 7.0);
        let missing = parse_csv(Path::new("d.csv"), "a,b\n1,2\n", &LabelColumn::Named("target".into()));
        let message = missing.unwrap_err().to_string();
        assert!(message.contains("no column named 'target'") && message.contains("a, b"), "{message}");
    }

    #[test]
    fn text_in_a_feature_is_refused_with_line_column_and_fix() {
        let message = parse("a,b,label\n1,2,0\n3,red,1\n").unwrap_err().to_string();
        assert_eq!(
            message,
            "data.csv:3: column 2 ('b'): 'red' is not a number; tabular data must be numeric: encode \
             categories as numbers (ordinal or one-hot) and write a missing value as an empty cell or `nan`"
        );
    }

    #[test]
    fn only_empty_cells_and_nan_are_missing_infinities_are_refused() {
        let d = parse("a,b,c\nnan,NaN, \n").unwrap();
        assert!(d.x.iter().all(|v| v.is_nan()));
        for bad in ["inf", "-Infinity", "NA", "null", "1e40"] {
            let err = parse(&format!("a\n{bad}\n")).unwrap_err().to_string();
            assert!(err.starts_with("data.csv:2: column 1 ('a'): "), "{bad}: {err}");
        }
        assert!(parse("a\n1e40\n").unwrap_err().to_string().contains("float32 range"));
    }

    #[test]
    fn labels_must_be_class_indices() {
        assert_eq!(parse("a,label\n1,2.0\n").unwrap().y, Some(vec![2]));
        for bad in ["-1", "1.5", "yes", ""] {
            let err = parse(&format!("a,label\n1,{bad}\n")).unwrap_err().to_string();
            assert!(err.starts_with("data.csv:2: column 2 ('label'): "), "{bad}: {err}");
        }
    }

    #[test]
    fn ragged_rows_and_bad_headers_name_the_line() {
        let err = parse("a,b\n1,2\n3\n").unwrap_err().to_string();
        assert!(err.starts_with("data.csv:3: 1 fields, but the header names 2 columns"), "{err}");
        assert!(parse("a,a\n1,2\n").unwrap_err().to_string().contains("columns 1 and 2 are both named 'a'"));
        assert!(parse("a,,c\n").unwrap_err().to_string().contains("column 2 of the header has no name"));
        assert!(parse("").unwrap_err().to_string().contains("the file is empty"));
        assert!(parse("label\n1\n").unwrap_err().to_string().contains("no feature column"));
    }

    #[test]
    fn rfc4180_quotes_crlf_blank_lines_and_a_bom() {
        let d = parse("\u{feff}\"a, first\",\"b \"\"q\"\"\",label\r\n\"1.5\", 2 ,1\r\n\r\n3,\"\",0").unwrap();
        assert_eq!(d.features, ["a, first", "b \"q\""]);
        assert_eq!(d.x[[0, 0]], 1.5);
        assert_eq!(d.x[[0, 1]], 2.0);
        assert!(d.x[[1, 1]].is_nan());
        assert_eq!(d.y, Some(vec![1, 0]));
        // A line break inside quotes belongs to the field; lines are counted through it.
        let err = parse("\"a\nb\",c\n1,x\n").unwrap_err().to_string();
        assert!(err.starts_with("data.csv:3: column 2 ('c')"), "{err}");
        assert!(parse("a\n\"1\n").unwrap_err().to_string().contains("never closed"));
    }

    #[test]
    fn the_committed_csv_and_npz_hold_the_same_rows() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tabular");
        for name in ["credit", "segment"] {
            let csv = load(&dir.join(format!("{name}-test.csv")), &LabelColumn::Auto).unwrap();
            let npz = load(&dir.join(format!("{name}-test.npz")), &LabelColumn::Auto).unwrap();
            assert_eq!(csv.x, npz.x, "{name}: float32 values round-trip through the CSV text");
            assert_eq!(csv.y, npz.y);
            assert_eq!(csv.len(), 300);
            assert_eq!(csv.features[0], "f00");
            assert_eq!(npz.features[0], "x[0]");
            assert_eq!(csv.sha256.len(), 64);
        }
        let err = load(&dir.join("README.md"), &LabelColumn::Auto).unwrap_err().to_string();
        assert!(err.contains("must be a .csv file"), "{err}");
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        // numpy.quantile([1, 2, 3, 4, 10], [0, 0.1, 0.25, 0.5, 0.9, 1]) = [1, 1.4, 2, 3, 7.6, 10]
        let s = column_stats([4.0, 1.0, f32::NAN, 10.0, 3.0, 2.0].into_iter(), &[0.0, 0.1, 0.25, 0.5, 0.9, 1.0]);
        let q: Vec<f32> = s.quantiles.iter().map(|q| q.1).collect();
        for (a, e) in q.iter().zip([1.0, 1.4, 2.0, 3.0, 7.6, 10.0]) {
            assert!((a - e).abs() < 1e-6, "{q:?}");
        }
        assert_eq!((s.present, s.missing, s.distinct, s.min, s.max), (5, 1, 5, 1.0, 10.0));
        assert!((s.mean - 4.0).abs() < 1e-12);
        // numpy.std([1, 2, 3, 4, 10]) = 3.1622776601683795
        assert!((s.std - 3.162_277_660_168_379_5).abs() < 1e-12);
        assert_eq!(s.quantile(0.5), Some(3.0));
        assert_eq!(s.quantile(0.3), None);
    }

    #[test]
    fn spread_never_vanishes() {
        let constant = column_stats([2.0f32; 4].into_iter(), &[]);
        assert_eq!((constant.std, constant.spread(), constant.distinct), (0.0, 1.0, 1));
        let empty = column_stats(std::iter::empty(), &[0.5]);
        assert_eq!((empty.present, empty.spread()), (0, 1.0));
        assert!(empty.quantile(0.5).unwrap().is_nan());
    }
}
