//! Clean evaluation data: `.npy` / `.npz` arrays and folders of PNG/JPEG images.
//!
//! `.npz` files carry `x` (inputs, batch first) and optionally `y` (integer labels); a `.npy`
//! file is `x` alone. An image folder is read in sorted path order, resized to the declared
//! size, put in the declared channel order and normalised with the declared mean/std; images in
//! sub-folders named by a class index are labelled with it. The data's SHA-256 (of the file, or
//! of the folder's sorted file list and contents) goes into reports.
//!
//! Memory does not grow with the data: a `.npy` file, or an `.npz` whose `x` is stored
//! uncompressed (`numpy.savez`), stays on disk and its rows are read when needed — in chunks
//! for the clean pass, and once per battery for the [`Subset`] of inputs its probes draw. Only
//! image folders, compressed archives (`numpy.savez_compressed`) and big-endian or
//! Fortran-order arrays are decoded into memory.

use std::io::{BufReader, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{Array4, ArrayD, ArrayViewD, Axis, IxDyn};
use ndarray_npy::npy::header::Header;
use ndarray_npy::{NpzReader, ReadNpyExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::battery::spec::Layout;
use crate::data::DataError;

/// Clean inputs and, when known, their labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub path: PathBuf,
    pub sha256: String,
    pub y: Option<Vec<i64>>,
    /// Shape of the inputs in the layout the model consumes, batch first.
    shape: Vec<usize>,
    store: Store,
}

/// Where the inputs live.
#[derive(Debug, Clone)]
enum Store {
    Memory(ArrayD<f32>),
    /// Little-endian, C-order rows of `element` values starting at `offset` in `file`.
    File {
        file: Arc<std::fs::File>,
        offset: u64,
        element: Element,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    F32,
    F64,
}

impl Element {
    fn bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F64 => 8,
        }
    }
}

impl Dataset {
    /// A data set held in memory.
    pub fn from_array(path: PathBuf, sha256: String, x: ArrayD<f32>, y: Option<Vec<i64>>) -> Self {
        Self { path, sha256, y, shape: x.shape().to_vec(), store: Store::Memory(x) }
    }

    pub fn len(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of the inputs, batch first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The inputs at `indices`, in that order, as one batch. Consecutive indices are read in
    /// one go.
    pub fn read(&self, indices: &[usize]) -> Result<ArrayD<f32>, DataError> {
        let mut shape = self.shape.clone();
        shape[0] = indices.len();
        match &self.store {
            Store::Memory(x) => Ok(x.select(Axis(0), indices)),
            Store::File { file, offset, element } => {
                let row: usize = self.shape[1..].iter().product();
                let mut out = Vec::with_capacity(indices.len() * row);
                let mut bytes = Vec::new();
                let mut start = 0;
                while start < indices.len() {
                    let mut end = start + 1;
                    while end < indices.len() && indices[end] == indices[end - 1] + 1 {
                        end += 1;
                    }
                    let first = indices[start];
                    if indices[end - 1] >= self.len() {
                        return Err(DataError::Format {
                            path: self.path.clone(),
                            detail: format!("input {} is beyond the {} inputs", indices[end - 1], self.len()),
                        });
                    }
                    bytes.resize((end - start) * row * element.bytes(), 0);
                    let at = offset + (first * row * element.bytes()) as u64;
                    file.read_exact_at(&mut bytes, at)
                        .map_err(|cause| DataError::Io { path: self.path.clone(), cause })?;
                    match element {
                        Element::F32 => out
                            .extend(bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))),
                        Element::F64 => out.extend(
                            bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32),
                        ),
                    }
                    start = end;
                }
                Ok(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("rows of the declared shape"))
            }
        }
    }

    /// The inputs at `indices` held in memory, for probes to draw from.
    pub fn subset(&self, indices: &[usize]) -> Result<Subset, DataError> {
        let mut sorted = indices.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let x = self.read(&sorted)?;
        Ok(Subset { indices: sorted, x })
    }
}

/// Some of a data set's inputs held in memory, addressed by their index in the data set.
#[derive(Debug, Clone)]
pub struct Subset {
    indices: Vec<usize>,
    x: ArrayD<f32>,
}

impl Subset {
    /// Input `index` of the data set; panics if the subset does not hold it (a caller bug).
    pub fn get(&self, index: usize) -> ArrayViewD<'_, f32> {
        self.x.index_axis(Axis(0), self.row(index))
    }

    /// Input `index` as a flat slice in the data's layout (no per-call shape bookkeeping).
    pub fn flat(&self, index: usize) -> &[f32] {
        let size = self.sample_shape().iter().product::<usize>();
        let row = self.row(index);
        let all = self.x.as_slice().expect("subsets are read into standard layout");
        &all[row * size..(row + 1) * size]
    }

    /// Shape of one input.
    pub fn sample_shape(&self) -> &[usize] {
        &self.x.shape()[1..]
    }

    fn row(&self, index: usize) -> usize {
        self.indices.binary_search(&index).unwrap_or_else(|_| panic!("input {index} is not in the subset"))
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// Loads `path`: a `.npy`, a `.npz`, or (with `folder`) a folder of images.
pub fn load(path: &Path, folder: Option<&ImageFolderOptions>) -> Result<Dataset, DataError> {
    let dataset = if path.is_dir() {
        let options = folder.ok_or_else(|| DataError::FolderNeedsOptions { path: path.to_path_buf() })?;
        load_folder(path, options)?
    } else {
        load_file(path)?
    };
    if dataset.is_empty() {
        return Err(DataError::Empty { path: path.to_path_buf() });
    }
    if let Some(y) = &dataset.y
        && y.len() != dataset.len()
    {
        return Err(DataError::LabelCount { path: path.to_path_buf(), labels: y.len(), inputs: dataset.len() });
    }
    if dataset.shape[1..].contains(&0) {
        // Rows without values cost nothing on disk, so their count is unbounded (fuzzing found
        // a header declaring 2^40 of them); no model takes them anyway.
        return Err(DataError::Format {
            path: path.to_path_buf(),
            detail: format!("the inputs have shape {:?}: each input holds no values", dataset.shape),
        });
    }
    if let Some((row, &label)) = dataset.y.iter().flatten().enumerate().find(|(_, l)| **l < 0) {
        return Err(DataError::BadLabel { path: path.to_path_buf(), row, label });
    }
    check_finite(&dataset)?;
    Ok(dataset)
}

/// Rows read per step of [`check_finite`]: bounded memory whatever the data's size.
const FINITE_CHECK_ROWS: usize = 1024;

/// Refuses data holding NaN or ±Inf (also what a float64 value beyond float32's range becomes):
/// a model's outputs on such inputs say nothing about its behaviour, and statistics over them
/// would pass or fail by accident. Reads the rows in chunks, so data on disk stays there.
fn check_finite(dataset: &Dataset) -> Result<(), DataError> {
    let total = dataset.len();
    let row = dataset.shape[1..].iter().product::<usize>().max(1);
    let mut rows = 0;
    let mut first: Option<(usize, &'static str)> = None;
    for start in (0..total).step_by(FINITE_CHECK_ROWS) {
        let chunk: Vec<usize> = (start..total.min(start + FINITE_CHECK_ROWS)).collect();
        let x = dataset.read(&chunk)?;
        let x = x.as_standard_layout();
        let values = x.as_slice().unwrap_or_default();
        for (k, values) in values.chunks(row).enumerate() {
            if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
                rows += 1;
                let kind = if bad.is_nan() {
                    "NaN"
                } else if *bad > 0.0 {
                    "+Inf (or a float64 beyond float32's range)"
                } else {
                    "-Inf (or a float64 beyond float32's range)"
                };
                first.get_or_insert((chunk[k], kind));
            }
        }
    }
    match first {
        Some((first_row, first_kind)) => {
            Err(DataError::NonFinite { path: dataset.path.clone(), rows, total, first_row, first_kind })
        }
        None => Ok(()),
    }
}

fn load_file(path: &Path) -> Result<Dataset, DataError> {
    let io = |cause: std::io::Error| DataError::Io { path: path.to_path_buf(), cause };
    let format = |detail: String| DataError::Format { path: path.to_path_buf(), detail };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut reader = BufReader::with_capacity(1 << 16, &file);
    let mut magic = [0u8; 6];
    let mut head = 0;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        let take = (magic.len() - head).min(n);
        magic[head..head + take].copy_from_slice(&buffer[..take]);
        head += take;
        hasher.update(&buffer[..n]);
    }
    let sha256 = hex::encode(hasher.finalize());
    let file = Arc::new(file);
    let (shape, store, y) = if magic.starts_with(b"\x93NUMPY") {
        let (shape, store) = open_npy(path, &file, 0)?;
        (shape, store, None)
    } else if magic.starts_with(b"PK") {
        open_npz(path, &file)?
    } else {
        return Err(format(
            "not a .npy or .npz file (use numpy.save / numpy.savez); text and tabular data are told by their \
             extension (.jsonl or .txt, .csv), so name the file that way or pass --modality text|tabular"
                .into(),
        ));
    };
    Ok(Dataset { path: path.to_path_buf(), sha256, y, shape, store })
}

/// The `.npy` array starting at `start` in `file`: on disk when its rows can be read directly,
/// else decoded into memory.
fn open_npy(path: &Path, file: &Arc<std::fs::File>, start: u64) -> Result<(Vec<usize>, Store), DataError> {
    let io = |cause: std::io::Error| DataError::Io { path: path.to_path_buf(), cause };
    let format = |detail: String| DataError::Format { path: path.to_path_buf(), detail };
    let mut reader = BufReader::new(file.as_ref());
    reader.seek(std::io::SeekFrom::Start(start)).map_err(io)?;
    let header = Header::from_reader(&mut reader).map_err(|e| format(e.to_string()))?;
    let offset = reader.stream_position().map_err(io)?;
    let length = file.metadata().map_err(io)?.len();
    // Every value takes at least one byte, so a header declaring more values than the file has
    // bytes left is refused before anything allocates for it (fuzzing found shapes whose
    // product overflows, and shapes of terabytes that aborted the process).
    let values = declared_values(&header.shape, length.saturating_sub(offset)).map_err(format)?;
    // The header renders as its Python dict literal; the descriptor is all that matters here.
    let literal = header.to_string();
    let element = if literal.contains("'descr': '<f4'") {
        Some(Element::F32)
    } else if literal.contains("'descr': '<f8'") {
        Some(Element::F64)
    } else {
        None
    };
    match element {
        Some(element) if !header.layout.is_fortran() && !header.shape.is_empty() => {
            // No overflow: the values fit in the file's bytes (checked above).
            let bytes = values * element.bytes();
            if offset + bytes as u64 > length {
                return Err(format(format!(
                    "the array header declares shape {:?} ({bytes} bytes) but the file ends {} bytes short",
                    header.shape,
                    offset + bytes as u64 - length
                )));
            }
            Ok((header.shape, Store::File { file: Arc::clone(file), offset, element }))
        }
        _ => {
            // Uncommon encodings: let ndarray-npy decode (and byte-swap) the whole array.
            reader.seek(std::io::SeekFrom::Start(start)).map_err(io)?;
            let x = read_float_npy(reader).map_err(format)?;
            Ok((x.shape().to_vec(), Store::Memory(x)))
        }
    }
}

/// The number of values an array header declares, refused unless `available` bytes can hold
/// them: every value takes at least one byte, so anything more is a truncated or corrupt file,
/// refused before anything allocates for it. Fuzzing found shapes whose product overflows,
/// shapes of terabytes that aborted the process, and arrays of no values such as
/// `[0, 2^40, 2^40]`, which ndarray cannot shape (ndarray-npy panics on them).
fn declared_values(shape: &[usize], available: u64) -> Result<usize, String> {
    let values = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let extent = shape.iter().filter(|&&d| d != 0).try_fold(1usize, |n, &d| n.checked_mul(d));
    match (values, extent) {
        (Some(values), Some(extent)) if values as u64 <= available && extent <= isize::MAX as usize => Ok(values),
        _ => Err(format!(
            "the array header declares shape {shape:?}, more values than the remaining {available} bytes hold; \
             the file is truncated or corrupt: save it again with numpy.save or numpy.savez"
        )),
    }
}

/// `x` (and `y`) of an `.npz`: `x` stays on disk when stored uncompressed (`numpy.savez`).
/// Inputs' shape, where they live, and the labels.
type Opened = (Vec<usize>, Store, Option<Vec<i64>>);

fn open_npz(path: &Path, file: &Arc<std::fs::File>) -> Result<Opened, DataError> {
    let format = |detail: String| DataError::Format { path: path.to_path_buf(), detail };
    let mut archive = zip::ZipArchive::new(file.as_ref()).map_err(|e| format(e.to_string()))?;
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    let member = ["x.npy", "x"].into_iter().find(|n| names.iter().any(|m| m == n));
    let stored = match member {
        Some(name) => {
            let entry = archive.by_name(name).map_err(|e| format(e.to_string()))?;
            (entry.compression() == zip::CompressionMethod::Stored).then(|| entry.data_start())
        }
        None => None,
    };
    // Members ndarray-npy decodes are vetted first: it allocates (or panics) as a header says.
    for name in names.iter().filter(|n| ["x.npy", "x", "y.npy", "y"].contains(&n.as_str())) {
        let mut entry = archive.by_name(name).map_err(|e| format(e.to_string()))?;
        let size = entry.size();
        let header = Header::from_reader(&mut entry).map_err(|e| format(format!("{name}: {e}")))?;
        declared_values(&header.shape, size).map_err(|e| format(format!("{name}: {e}")))?;
    }
    let mut npz = NpzReader::new(file.as_ref()).map_err(|e| format(e.to_string()))?;
    let (x, y) = read_npz_arrays(path, &mut npz, stored.is_none())?;
    let (shape, store) = match (stored, x) {
        (Some(start), _) => open_npy(path, file, start)?,
        (None, Some(x)) => (x.shape().to_vec(), Store::Memory(x)),
        (None, None) => unreachable!("x is decoded when it is not stored"),
    };
    Ok((shape, store, y))
}

fn read_float_npy(bytes: impl Read) -> Result<ArrayD<f32>, String> {
    let mut bytes = bytes;
    let mut all = Vec::new();
    bytes.read_to_end(&mut all).map_err(|e| e.to_string())?;
    let bytes = all.as_slice();
    match ArrayD::<f32>::read_npy(bytes) {
        Ok(x) => Ok(x),
        Err(first) => ArrayD::<f64>::read_npy(bytes)
            .map(|x| x.mapv(|v| v as f32))
            .map_err(|_| format!("inputs must be a float32 or float64 array: {first}")),
    }
}

/// `x` (when decoded) and `y` of an `.npz`.
type NpzArrays = (Option<ArrayD<f32>>, Option<Vec<i64>>);

/// `x` (decoded only when `decode_x`) and `y` of an `.npz`.
fn read_npz_arrays<R: Read + Seek>(
    path: &Path,
    npz: &mut NpzReader<R>,
    decode_x: bool,
) -> Result<NpzArrays, DataError> {
    let format = |detail: String| DataError::Format { path: path.to_path_buf(), detail };
    let names = npz.names().map_err(|e| format(e.to_string()))?;
    let has = |n: &str| names.iter().any(|m| m == n || m == &format!("{n}.npy"));
    if !has("x") {
        return Err(DataError::NoInputs { path: path.to_path_buf(), names: names.join(", ") });
    }
    let x = if decode_x {
        Some(match npz.by_name::<ndarray::OwnedRepr<f32>, IxDyn>("x") {
            Ok(x) => x,
            Err(first) => npz
                .by_name::<ndarray::OwnedRepr<f64>, IxDyn>("x")
                .map(|x| x.mapv(|v| v as f32))
                .map_err(|_| format(format!("'x' must be float32 or float64: {first}")))?,
        })
    } else {
        None
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
    Ok(Dataset::from_array(root.to_path_buf(), hex::encode(hasher.finalize()), x, y))
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
