//! Clean evaluation data: `.npy` / `.npz` arrays and folders of PNG/JPEG images.
//!
//! `.npz` files carry `x` (inputs, batch first) and optionally `y` (integer labels); a `.npy`
//! file is `x` alone. An image folder is read in sorted path order, resized to the declared
//! size, put in the declared channel order and normalised with the declared mean/std; images in
//! sub-folders named by a class index are labelled with it. The data's SHA-256 (of the file, or
//! of the folder's sorted file list and contents) goes into reports.

use std::path::{Path, PathBuf};

use ndarray::{Array4, ArrayD, IxDyn};
use ndarray_npy::{NpzReader, ReadNpyExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::battery::spec::Layout;

/// Clean inputs and, when known, their labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub path: PathBuf,
    pub sha256: String,
    /// Inputs in the layout the model consumes, batch first.
    pub x: ArrayD<f32>,
    pub y: Option<Vec<i64>>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.x.shape().first().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How to turn a folder of images into model inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageFolderOptions {
    pub width: u32,
    pub height: u32,
    pub channels: ChannelOrder,
    /// Per-channel mean and std applied to intensities in [0, 1]: `(v - mean) / std`.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub layout: Layout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
    Gray,
}

impl ChannelOrder {
    pub fn channels(self) -> usize {
        match self {
            Self::Gray => 1,
            Self::Rgb | Self::Bgr => 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read data {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("data {path}: {detail}")]
    Format { path: PathBuf, detail: String },
    #[error("data {path} has no array named 'x' (it holds: {names}); save the inputs as x (and labels as y)")]
    NoInputs { path: PathBuf, names: String },
    #[error("data {path}: 'y' has {labels} labels for {inputs} inputs")]
    LabelCount { path: PathBuf, labels: usize, inputs: usize },
    #[error(
        "{path} is a folder of images: give --image-size WxH (and --channel-order, --mean, --std as the model was trained)"
    )]
    FolderNeedsOptions { path: PathBuf },
    #[error("data {path} holds no inputs")]
    Empty { path: PathBuf },
}

/// Loads `path`: a `.npy`, a `.npz`, or (with `folder`) a folder of images.
pub fn load(path: &Path, folder: Option<&ImageFolderOptions>) -> Result<Dataset, DataError> {
    let dataset = if path.is_dir() {
        let options = folder.ok_or_else(|| DataError::FolderNeedsOptions { path: path.to_path_buf() })?;
        load_folder(path, options)?
    } else {
        let bytes = std::fs::read(path).map_err(|cause| DataError::Io { path: path.to_path_buf(), cause })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let format = |detail: String| DataError::Format { path: path.to_path_buf(), detail };
        let (x, y) = if bytes.starts_with(b"\x93NUMPY") {
            (read_float_npy(&bytes).map_err(format)?, None)
        } else if bytes.starts_with(b"PK") {
            read_npz(path, &bytes)?
        } else {
            return Err(format("not a .npy or .npz file (use numpy.save / numpy.savez)".into()));
        };
        Dataset { path: path.to_path_buf(), sha256, x, y }
    };
    if dataset.is_empty() {
        return Err(DataError::Empty { path: path.to_path_buf() });
    }
    if let Some(y) = &dataset.y
        && y.len() != dataset.len()
    {
        return Err(DataError::LabelCount { path: path.to_path_buf(), labels: y.len(), inputs: dataset.len() });
    }
    Ok(dataset)
}

fn read_float_npy(bytes: &[u8]) -> Result<ArrayD<f32>, String> {
    match ArrayD::<f32>::read_npy(bytes) {
        Ok(x) => Ok(x),
        Err(first) => ArrayD::<f64>::read_npy(bytes)
            .map(|x| x.mapv(|v| v as f32))
            .map_err(|_| format!("inputs must be a float32 or float64 array: {first}")),
    }
}

fn read_npz(path: &Path, bytes: &[u8]) -> Result<(ArrayD<f32>, Option<Vec<i64>>), DataError> {
    let format = |detail: String| DataError::Format { path: path.to_path_buf(), detail };
    let mut npz = NpzReader::new(std::io::Cursor::new(bytes)).map_err(|e| format(e.to_string()))?;
    let names = npz.names().map_err(|e| format(e.to_string()))?;
    let has = |n: &str| names.iter().any(|m| m == n || m == &format!("{n}.npy"));
    if !has("x") {
        return Err(DataError::NoInputs { path: path.to_path_buf(), names: names.join(", ") });
    }
    let x = match npz.by_name::<ndarray::OwnedRepr<f32>, IxDyn>("x") {
        Ok(x) => x,
        Err(first) => npz
            .by_name::<ndarray::OwnedRepr<f64>, IxDyn>("x")
            .map(|x| x.mapv(|v| v as f32))
            .map_err(|_| format(format!("'x' must be float32 or float64: {first}")))?,
    };
    let y = if has("y") {
        let y = match npz.by_name::<ndarray::OwnedRepr<i64>, IxDyn>("y") {
            Ok(y) => y,
            Err(first) => npz
                .by_name::<ndarray::OwnedRepr<i32>, IxDyn>("y")
                .map(|y| y.mapv(i64::from))
                .map_err(|_| format(format!("'y' must be an int64 or int32 array of class indices: {first}")))?,
        };
        Some(y.iter().copied().collect())
    } else {
        None
    };
    Ok((x, y))
}

fn load_folder(root: &Path, options: &ImageFolderOptions) -> Result<Dataset, DataError> {
    let mut files = Vec::new();
    collect_images(root, root, &mut files)?;
    files.sort();
    let channels = options.channels.channels();
    let (h, w) = (options.height as usize, options.width as usize);
    if options.mean.len() != channels || options.std.len() != channels || options.std.iter().any(|s| *s <= 0.0) {
        return Err(DataError::Format {
            path: root.to_path_buf(),
            detail: format!("--mean and --std need {channels} values each, std > 0"),
        });
    }
    let mut x = Array4::<f32>::zeros((files.len(), channels, h, w));
    let mut labels: Vec<Option<i64>> = Vec::with_capacity(files.len());
    let mut hasher = Sha256::new();
    for (i, relative) in files.iter().enumerate() {
        let path = root.join(relative);
        let bytes = std::fs::read(&path).map_err(|cause| DataError::Io { path: path.clone(), cause })?;
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0u8]);
        hasher.update(Sha256::digest(&bytes));
        let image = image::load_from_memory(&bytes)
            .map_err(|e| DataError::Format { path: path.clone(), detail: e.to_string() })?
            .resize_exact(options.width, options.height, image::imageops::FilterType::Triangle);
        let pixels: Vec<[f32; 3]> = match options.channels {
            ChannelOrder::Gray => image.to_luma8().pixels().map(|p| [f32::from(p[0]) / 255.0; 3]).collect(),
            ChannelOrder::Rgb | ChannelOrder::Bgr => image
                .to_rgb8()
                .pixels()
                .map(|p| {
                    let [r, g, b] = p.0.map(|v| f32::from(v) / 255.0);
                    if options.channels == ChannelOrder::Bgr { [b, g, r] } else { [r, g, b] }
                })
                .collect(),
        };
        for (k, px) in pixels.iter().enumerate() {
            let (row, col) = (k / w, k % w);
            for c in 0..channels {
                x[[i, c, row, col]] = (px[c] - options.mean[c]) / options.std[c];
            }
        }
        labels.push(
            relative.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).and_then(|n| n.parse::<i64>().ok()),
        );
    }
    let x = match options.layout {
        Layout::Nchw => x.into_dyn(),
        Layout::Nhwc => x.permuted_axes([0, 2, 3, 1]).as_standard_layout().into_owned().into_dyn(),
    };
    let y = labels.iter().all(Option::is_some).then(|| labels.into_iter().flatten().collect());
    Ok(Dataset { path: root.to_path_buf(), sha256: hex::encode(hasher.finalize()), x, y })
}

fn collect_images(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let entries = std::fs::read_dir(dir).map_err(|cause| DataError::Io { path: dir.to_path_buf(), cause })?;
    for entry in entries {
        let path = entry.map_err(|cause| DataError::Io { path: dir.to_path_buf(), cause })?.path();
        if path.is_dir() {
            collect_images(root, &path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// Clean text inputs and, when known, their labels.
#[derive(Debug, Clone)]
pub struct TextDataset {
    pub path: PathBuf,
    pub sha256: String,
    pub texts: Vec<String>,
    pub y: Option<Vec<i64>>,
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
pub fn is_text(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("jsonl" | "txt"))
}

/// Loads text data: `.jsonl` with one `{"text": ..., "label": ...}` object per line (`label`
/// optional, but on every line or none), or `.txt` with one text per line. Blank lines are
/// skipped; errors name the line.
pub fn load_text(path: &Path) -> Result<TextDataset, DataError> {
    let bytes = std::fs::read(path).map_err(|cause| DataError::Io { path: path.to_path_buf(), cause })?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let format = |line: usize, detail: String| DataError::Format {
        path: path.to_path_buf(),
        detail: if line == 0 { detail } else { format!("line {line}: {detail}") },
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| format(0, format!("not UTF-8 text ({e})")))?;
    let jsonl = path.extension().and_then(|e| e.to_str()) == Some("jsonl");
    let mut texts = Vec::new();
    let mut labels: Vec<(usize, Option<i64>)> = Vec::new();
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
        match object.get("text") {
            Some(serde_json::Value::String(s)) => texts.push(s.clone()),
            Some(_) => return Err(format(number, "`text` must be a string".into())),
            None => return Err(format(number, "no `text` field; each line needs {\"text\": \"...\"}".into())),
        }
        let label =
            match object.get("label") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(v.as_i64().filter(|l| *l >= 0).ok_or_else(|| {
                    format(number, format!("`label` must be a class index (an integer >= 0), got {v}"))
                })?),
            };
        labels.push((number, label));
    }
    let with = labels.iter().filter(|(_, l)| l.is_some()).count();
    if with > 0 && with < labels.len() {
        let (line, _) = labels.iter().find(|(_, l)| l.is_none()).expect("some line lacks a label");
        return Err(format(*line, "no `label`, but other lines have one: label every line or none".into()));
    }
    let y = (with > 0).then(|| labels.into_iter().filter_map(|(_, l)| l).collect());
    if texts.is_empty() {
        return Err(DataError::Empty { path: path.to_path_buf() });
    }
    Ok(TextDataset { path: path.to_path_buf(), sha256, texts, y })
}

/// Clean data of either modality, as loaded from `--data`.
#[derive(Debug, Clone)]
pub enum Data {
    Images(Dataset),
    Text(TextDataset),
}

impl Data {
    pub fn path(&self) -> &Path {
        match self {
            Self::Images(d) => &d.path,
            Self::Text(d) => &d.path,
        }
    }

    pub fn sha256(&self) -> &str {
        match self {
            Self::Images(d) => &d.sha256,
            Self::Text(d) => &d.sha256,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Images(d) => d.len(),
            Self::Text(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn labelled(&self) -> bool {
        match self {
            Self::Images(d) => d.y.is_some(),
            Self::Text(d) => d.y.is_some(),
        }
    }

    pub fn modality(&self) -> crate::battery::spec::Modality {
        match self {
            Self::Images(_) => crate::battery::spec::Modality::Image,
            Self::Text(_) => crate::battery::spec::Modality::Text,
        }
    }
}

/// Loads `path` as text (`.jsonl`, `.txt`) or as image data (everything else).
pub fn load_any(path: &Path, folder: Option<&ImageFolderOptions>) -> Result<Data, DataError> {
    if is_text(path) { load_text(path).map(Data::Text) } else { load(path, folder).map(Data::Images) }
}
