//! The one place that builds ONNX Runtime sessions and runs models.
//!
//! Responsibilities: choosing and registering the execution provider (and failing loudly when
//! the one asked for cannot be had, unless a fallback was allowed), session options (threads,
//! graph optimisation), describing the model's signature from the session, choosing the
//! classifier output (a float32 `[N, C]` tensor, or failing that a ZipMap: the sequence of maps
//! from class label to probability that skl2onnx exports by default), and running any number of samples through batches of a configured size
//! (batch 1 when the model fixes its batch dimension). Inputs are fed by name, float32 or int64.
//!
//! Every call a session sees has the same batch size: a short last batch is padded (with copies
//! of its last row) to the configured size and the padded rows' outputs are dropped. On CUDA a
//! new input shape costs cuDNN a fresh convolution-algorithm choice and the memory arena a new
//! plan, so one shape per scan keeps those costs to the first call; the shapes a session saw
//! are recorded ([`Engine::input_shapes`]) so reports can show it. A model with a dynamic axis
//! besides the batch (a text model's sequence axis) sees a new shape with each batch length
//! anyway, so its short batches are sent as they are: padding 17 rows to 256 would cost the
//! model fifteen times their work.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD, Axis, IxDyn};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{DynMapValueType, DynSequenceValueType, DynValue, TensorElementType, TensorRef, ValueType};
use serde::{Deserialize, Serialize};

use crate::digest::sha256_file;
use crate::model::{self, ModelFacts};
use crate::onnxruntime::Runtime;

/// Named model inputs for one or more batches.
pub type NamedInputs = Vec<(String, InputData)>;

/// Whether the classifier output holds probabilities or logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreKind {
    Probabilities,
    Logits,
}

/// A binary classifier's single score column as two classes: a probability `p` becomes
/// `[1 - p, p]`; a logit `z` becomes the logits `[0, z]`, whose softmax is
/// `[1 - sigmoid(z), sigmoid(z)]`, so class 1 is predicted when `z > 0` and confidences are the
/// sigmoid's. Scores with any other number of columns are returned as they are.
pub fn two_class_scores(scores: Array2<f32>, kind: ScoreKind) -> Array2<f32> {
    if scores.ncols() != 1 {
        return scores;
    }
    let n = scores.nrows();
    Array2::from_shape_fn((n, 2), |(i, class)| {
        let v = scores[[i, 0]];
        match (kind, class) {
            (_, 1) => v,
            (ScoreKind::Probabilities, _) => 1.0 - v,
            (ScoreKind::Logits, _) => 0.0,
        }
    })
}

/// Execution provider the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ExecutionProvider {
    Cpu,
    Cuda { device: i32 },
}

impl std::fmt::Display for ExecutionProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda { device } => write!(f, "cuda:{device}"),
        }
    }
}

impl std::str::FromStr for ExecutionProvider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda { device: 0 }),
            _ => match s.strip_prefix("cuda:").map(str::parse::<i32>) {
                Some(Ok(device)) if device >= 0 => Ok(Self::Cuda { device }),
                _ => Err(format!("unknown execution provider '{s}': use cpu, cuda or cuda:DEVICE")),
            },
        }
    }
}

/// How cuDNN chooses a convolution algorithm for each new input shape (CUDA only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConvAlgorithmSearch {
    /// Benchmark every algorithm on the first call of each shape: fastest kernels, slow start.
    Exhaustive,
    /// cuDNN's heuristics, no benchmarking: a scan's many short runs never pay for a search.
    #[default]
    Heuristic,
    /// The first algorithm cuDNN lists.
    Default,
}

impl ConvAlgorithmSearch {
    fn ort(self) -> ort::ep::cuda::ConvAlgorithmSearch {
        match self {
            Self::Exhaustive => ort::ep::cuda::ConvAlgorithmSearch::Exhaustive,
            Self::Heuristic => ort::ep::cuda::ConvAlgorithmSearch::Heuristic,
            Self::Default => ort::ep::cuda::ConvAlgorithmSearch::Default,
        }
    }
}

/// ONNX Runtime graph optimisation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizationLevel {
    Disable,
    Basic,
    Extended,
    #[default]
    All,
}

/// How sessions are built and batches are cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    pub execution_provider: ExecutionProvider,
    /// Run on the CPU if the requested provider cannot be registered.
    pub fallback_to_cpu: bool,
    /// Intra-op threads; `None` lets ONNX Runtime decide.
    pub threads: Option<usize>,
    pub optimization: OptimizationLevel,
    /// Samples per `Session::run`; `None` chooses by input size ([`auto_batch_size`]).
    pub batch_size: Option<usize>,
    /// Name of the classifier output; `None` picks the first float output shaped [N, C], or
    /// failing that the first ZipMap output ([`ScoreLayout`]).
    pub output: Option<String>,
    /// cuDNN convolution algorithm search (ignored on the CPU).
    pub conv_algorithm_search: ConvAlgorithmSearch,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            execution_provider: ExecutionProvider::Cpu,
            fallback_to_cpu: false,
            threads: None,
            optimization: OptimizationLevel::All,
            batch_size: None,
            output: None,
            conv_algorithm_search: ConvAlgorithmSearch::Heuristic,
        }
    }
}

/// One tensor dimension: a number, or a symbol/unknown (`-1`) that any size fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(i64),
    Symbolic(String),
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(n) => write!(f, "{n}"),
            Self::Symbolic(s) => f.write_str(s),
        }
    }
}

/// Name, element type and shape of a model input or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub element_type: String,
    pub shape: Vec<Dim>,
}

impl TensorSpec {
    /// Renders the shape as `[N, 1, 8, 8]`.
    pub fn shape_string(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(ToString::to_string).collect();
        format!("[{}]", dims.join(", "))
    }
}

/// The model's declared inputs and outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// The execution provider that actually ran, and why it differs from the request if it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderUsed {
    pub requested: String,
    pub used: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

/// Data for one model input, with the batch along axis 0.
#[derive(Debug, Clone, PartialEq)]
pub enum InputData {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
}

impl InputData {
    pub fn len(&self) -> usize {
        match self {
            Self::F32(a) => a.len_of(Axis(0)),
            Self::I64(a) => a.len_of(Axis(0)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn element_type(&self) -> &'static str {
        match self {
            Self::F32(_) => "float32",
            Self::I64(_) => "int64",
        }
    }

    fn shape(&self) -> &[usize] {
        match self {
            Self::F32(a) => a.shape(),
            Self::I64(a) => a.shape(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error("ONNX Runtime cannot load model {path}: {detail}")]
    Load { path: PathBuf, detail: String },
    #[error(
        "execution provider {requested} is not available: {detail}; install the GPU build of ONNX Runtime (onnxruntime-gpu) and pass it with --ort-lib, or add --ep-fallback cpu to run on the CPU"
    )]
    ProviderUnavailable { requested: String, detail: String },
    #[error(
        "model {path} has no float output shaped [N, C] (nor a ZipMap sequence of maps) to read class scores from; outputs: {outputs}; name one with --output"
    )]
    NoClassifierOutput { path: PathBuf, outputs: String },
    #[error("model {path} has no output named '{name}'; outputs: {outputs}")]
    UnknownOutput { path: PathBuf, name: String, outputs: String },
    #[error(
        "model {path} output '{name}' is {element_type} {shape}; a classifier output must be float32 [N, C] or a ZipMap (seq(map(int64, float32)) or seq(map(string, float32)))"
    )]
    BadClassifierOutput { path: PathBuf, name: String, element_type: String, shape: String },
    #[error(
        "ZipMap output '{name}' scores classes {found} in row {row} but {expected} in row 0; probity needs the same classes in every row"
    )]
    ZipMapClasses { name: String, row: usize, expected: String, found: String },
    #[error("model input '{name}' is {element_type}; probity feeds float32 and int64 inputs only")]
    UnsupportedInputType { name: String, element_type: String },
    #[error("the data provides no value for model input '{name}' {shape}")]
    MissingInput { name: String, shape: String },
    #[error("the data provides '{name}', which the model does not declare (inputs: {declared})")]
    UnexpectedInput { name: String, declared: String },
    #[error("input '{name}': the model expects {expected} {expected_shape}, the data has {actual} {actual_shape}")]
    InputMismatch { name: String, expected: String, expected_shape: String, actual: String, actual_shape: String },
    #[error("inputs disagree on the number of samples: {detail}")]
    RaggedBatch { detail: String },
    #[error("inference failed: {0}")]
    Run(String),
}

/// A loaded model ready to run.
pub struct Engine {
    session: Session,
    pub model_path: PathBuf,
    pub model_sha256: String,
    pub facts: ModelFacts,
    pub signature: Signature,
    pub provider: ProviderUsed,
    /// Index into `signature.outputs` of the classifier output.
    pub output_index: usize,
    /// How the classifier output holds its scores.
    pub score_layout: ScoreLayout,
    /// Samples per `Session::run` (1 when the model fixes its batch dimension to 1).
    pub batch_size: usize,
    /// The GPU the session runs on, when it runs on one.
    pub device: Option<crate::gpu::DeviceInfo>,
    /// Distinct input shapes sent to the session, in first-use order.
    shapes: Vec<Vec<Vec<usize>>>,
    /// Whether short batches are padded to `batch_size` rows: only when every input's shape
    /// is fixed beyond the batch axis, so that padding keeps the session to one shape.
    pad_short_batches: bool,
    /// How a single-column output is read as two classes, once a scan has decided.
    single_column: Option<ScoreKind>,
    /// A ZipMap output's class labels in column order, once a batch has shown them.
    zipmap_labels: Option<Vec<String>>,
}

/// How a classifier output holds its class scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreLayout {
    /// A float32 tensor `[N, C]`.
    Tensor,
    /// ONNX-ML's `ZipMap`: a sequence of `N` maps from class label (int64 or string) to
    /// float32, one per sample, as skl2onnx exports classifiers unless told `zipmap=False`.
    /// Read as `[N, C]` with the columns in ascending label order, which is scikit-learn's
    /// `classes_` order and so the column order of the same model's tensor output.
    ZipMap,
}

impl ScoreLayout {
    /// The layout `ty` holds class scores in, if it can hold them.
    fn of(ty: &ValueType) -> Option<Self> {
        match ty {
            ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } if shape.len() == 2 => Some(Self::Tensor),
            ValueType::Sequence(inner) => match inner.as_ref() {
                ValueType::Map {
                    key: TensorElementType::Int64 | TensorElementType::String,
                    value: TensorElementType::Float32,
                } => Some(Self::ZipMap),
                _ => None,
            },
            _ => None,
        }
    }
}

fn element_type_name(ty: TensorElementType) -> String {
    match ty {
        TensorElementType::Float32 => "float32".into(),
        TensorElementType::Float64 => "float64".into(),
        TensorElementType::Float16 => "float16".into(),
        TensorElementType::Int64 => "int64".into(),
        TensorElementType::Int32 => "int32".into(),
        TensorElementType::Uint8 => "uint8".into(),
        TensorElementType::Int8 => "int8".into(),
        TensorElementType::Bool => "bool".into(),
        TensorElementType::String => "string".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn describe(name: &str, ty: &ValueType) -> TensorSpec {
    match ty {
        ValueType::Tensor { ty, shape, dimension_symbols } => TensorSpec {
            name: name.to_string(),
            element_type: element_type_name(*ty),
            shape: shape
                .iter()
                .zip(dimension_symbols.iter())
                .map(|(&d, sym)| match (d, sym.is_empty()) {
                    (d, _) if d >= 0 => Dim::Fixed(d),
                    (_, false) => Dim::Symbolic(sym.clone()),
                    _ => Dim::Symbolic("?".into()),
                })
                .collect(),
        },
        other => TensorSpec { name: name.to_string(), element_type: type_name(other), shape: Vec::new() },
    }
}

/// ONNX's notation for a type that is not a tensor, with probity's element names:
/// `seq(map(int64, float32))` for a ZipMap output.
fn type_name(ty: &ValueType) -> String {
    match ty {
        ValueType::Tensor { ty, .. } => format!("tensor({})", element_type_name(*ty)),
        ValueType::Sequence(inner) => format!("seq({})", type_name(inner)),
        ValueType::Map { key, value } => format!("map({}, {})", element_type_name(*key), element_type_name(*value)),
        ValueType::Optional(inner) => format!("optional({})", type_name(inner)),
    }
}

fn optimization(level: OptimizationLevel) -> GraphOptimizationLevel {
    match level {
        OptimizationLevel::Disable => GraphOptimizationLevel::Disable,
        OptimizationLevel::Basic => GraphOptimizationLevel::Level1,
        OptimizationLevel::Extended => GraphOptimizationLevel::Level2,
        OptimizationLevel::All => GraphOptimizationLevel::All,
    }
}

impl Engine {
    /// Vets the model file, builds a session on the requested provider and checks that the
    /// model is a classifier probity can drive.
    pub fn load(runtime: &Runtime, path: &Path, options: &EngineOptions) -> Result<Self, EngineError> {
        let facts = model::read_facts(path)?;
        let model_sha256 =
            sha256_file(path).map_err(|cause| model::ModelError::Io { path: path.to_path_buf(), cause })?;
        let load_err = |e: ort::Error| EngineError::Load { path: path.to_path_buf(), detail: e.to_string() };

        let requested = options.execution_provider;
        let (session, provider) = match requested {
            ExecutionProvider::Cpu => (
                build_session(runtime, path, options, None).map_err(load_err)?,
                ProviderUsed { requested: "cpu".into(), used: "cpu".into(), fallback_reason: None },
            ),
            ExecutionProvider::Cuda { device } => match build_session(runtime, path, options, Some(device)) {
                Ok(session) => (
                    session,
                    ProviderUsed {
                        requested: requested.to_string(),
                        used: requested.to_string(),
                        fallback_reason: None,
                    },
                ),
                Err(e) => {
                    let detail = cuda_failure_detail(runtime, &e);
                    if !options.fallback_to_cpu {
                        return Err(EngineError::ProviderUnavailable { requested: requested.to_string(), detail });
                    }
                    let session = build_session(runtime, path, options, None).map_err(load_err)?;
                    let provider = ProviderUsed {
                        requested: requested.to_string(),
                        used: "cpu".into(),
                        fallback_reason: Some(detail),
                    };
                    (session, provider)
                }
            },
        };
        let signature = Signature {
            inputs: session.inputs().iter().map(|o| describe(o.name(), o.dtype())).collect(),
            outputs: session.outputs().iter().map(|o| describe(o.name(), o.dtype())).collect(),
        };
        let layouts: Vec<Option<ScoreLayout>> = session.outputs().iter().map(|o| ScoreLayout::of(o.dtype())).collect();
        for input in &signature.inputs {
            if input.element_type != "float32" && input.element_type != "int64" {
                return Err(EngineError::UnsupportedInputType {
                    name: input.name.clone(),
                    element_type: input.element_type.clone(),
                });
            }
        }
        let output_index = classifier_output(path, &signature, &layouts, options.output.as_deref())?;
        let score_layout = layouts[output_index].unwrap_or(ScoreLayout::Tensor);
        let fixed_batch = signature.inputs.iter().any(|i| matches!(i.shape.first(), Some(Dim::Fixed(1))));
        let on_gpu = provider.used != "cpu";
        let batch_size = if fixed_batch {
            1
        } else {
            options.batch_size.unwrap_or_else(|| auto_batch_size(&signature, on_gpu)).max(1)
        };
        let device = match requested {
            ExecutionProvider::Cuda { device } if on_gpu => Some(crate::gpu::describe(device)),
            _ => None,
        };
        let pad_short_batches =
            signature.inputs.iter().all(|i| i.shape.iter().skip(1).all(|d| matches!(d, Dim::Fixed(n) if *n > 0)));
        Ok(Self {
            session,
            model_path: path.to_path_buf(),
            model_sha256,
            facts,
            signature,
            provider,
            output_index,
            score_layout,
            batch_size,
            device,
            shapes: Vec::new(),
            pad_short_batches,
            single_column: None,
            zipmap_labels: None,
        })
    }

    /// The distinct input shapes this session was sent (one entry per call shape: the shape of
    /// every input, in the model's input order).
    pub fn input_shapes(&self) -> &[Vec<Vec<usize>>] {
        &self.shapes
    }

    /// Number of classes the classifier output scores, when the model declares it (a
    /// single-column output read as two classes counts 2).
    pub fn declared_classes(&self) -> Option<usize> {
        match self.signature.outputs[self.output_index].shape.get(1) {
            Some(Dim::Fixed(1)) if self.single_column.is_some() => Some(2),
            Some(Dim::Fixed(c)) if *c > 0 => Some(*c as usize),
            _ => None,
        }
    }

    /// A ZipMap output's class labels in column order (empty until a batch has run, and for
    /// tensor outputs, whose columns are unnamed).
    pub fn class_labels(&self) -> &[String] {
        self.zipmap_labels.as_deref().unwrap_or_default()
    }

    /// From now on reads a single-column output (a binary classifier's one probability or
    /// logit) as two classes ([`two_class_scores`]), and converts `scores`, raw scores this
    /// engine returned earlier, the same way. Outputs of other widths are left as they are.
    pub fn read_single_column_as(&mut self, kind: ScoreKind, scores: Array2<f32>) -> Array2<f32> {
        if scores.ncols() == 1 {
            self.single_column = Some(kind);
        }
        two_class_scores(scores, kind)
    }

    /// Checks that `inputs` name exactly the model's inputs with compatible types and shapes,
    /// and returns the common number of samples.
    pub fn check_inputs(&self, inputs: &[(String, InputData)]) -> Result<usize, EngineError> {
        for (name, _) in inputs {
            if !self.signature.inputs.iter().any(|s| &s.name == name) {
                let declared: Vec<&str> = self.signature.inputs.iter().map(|s| s.name.as_str()).collect();
                return Err(EngineError::UnexpectedInput { name: name.clone(), declared: declared.join(", ") });
            }
        }
        let mut count: Option<(String, usize)> = None;
        for spec in &self.signature.inputs {
            let Some((_, data)) = inputs.iter().find(|(n, _)| n == &spec.name) else {
                return Err(EngineError::MissingInput { name: spec.name.clone(), shape: spec.shape_string() });
            };
            let shape = data.shape();
            let compatible = data.element_type() == spec.element_type
                && shape.len() == spec.shape.len()
                && spec.shape.iter().zip(shape).skip(1).all(|(d, &n)| match d {
                    Dim::Fixed(f) => *f as usize == n,
                    Dim::Symbolic(_) => true,
                });
            if !compatible {
                let dims: Vec<String> =
                    std::iter::once("N".to_string()).chain(shape.iter().skip(1).map(ToString::to_string)).collect();
                return Err(EngineError::InputMismatch {
                    name: spec.name.clone(),
                    expected: spec.element_type.clone(),
                    expected_shape: spec.shape_string(),
                    actual: data.element_type().into(),
                    actual_shape: format!("[{}]", dims.join(", ")),
                });
            }
            match &count {
                Some((first, n)) if *n != data.len() => {
                    return Err(EngineError::RaggedBatch {
                        detail: format!("'{first}' has {n}, '{}' has {}", spec.name, data.len()),
                    });
                }
                None => count = Some((spec.name.clone(), data.len())),
                _ => {}
            }
        }
        Ok(count.map_or(0, |(_, n)| n))
    }

    /// The classifier output for rows fed in groups, each group one `classify` call holding the
    /// rows it lists: one row per row listed, in row order. A modality whose inputs vary in
    /// length groups rows of one length, so that no row is padded to a longer one's length.
    pub fn classify_groups(&mut self, groups: &[(Vec<usize>, NamedInputs)]) -> Result<Array2<f32>, EngineError> {
        let total = groups.iter().map(|(rows, _)| rows.len()).sum();
        let mut out: Option<Array2<f32>> = None;
        for (rows, inputs) in groups {
            let scores = self.classify(inputs)?;
            let out = out.get_or_insert_with(|| Array2::zeros((total, scores.ncols())));
            for (&row, s) in rows.iter().zip(scores.rows()) {
                out.row_mut(row).assign(&s);
            }
        }
        Ok(out.unwrap_or_else(|| Array2::zeros((0, self.declared_classes().unwrap_or(0)))))
    }

    /// Runs every sample through the model in batches of [`Engine::batch_size`] (the last one
    /// padded when the model's shapes are fixed) and returns the classifier output, one row per
    /// sample.
    pub fn classify(&mut self, inputs: &[(String, InputData)]) -> Result<Array2<f32>, EngineError> {
        let total = self.check_inputs(inputs)?;
        let mut rows: Vec<f32> = Vec::new();
        let mut classes = None;
        let mut start = 0;
        while start < total {
            let end = (start + self.batch_size).min(total);
            let batch = self.run_batch(inputs, start, end)?;
            classes = Some(batch.ncols());
            rows.extend(batch.iter());
            start = end;
        }
        let classes = classes.or(self.declared_classes()).unwrap_or(0);
        let scores = Array2::from_shape_vec((total, classes), rows).map_err(|e| EngineError::Run(e.to_string()))?;
        Ok(match self.single_column {
            Some(kind) => two_class_scores(scores, kind),
            None => scores,
        })
    }

    fn run_batch(
        &mut self,
        inputs: &[(String, InputData)],
        start: usize,
        end: usize,
    ) -> Result<Array2<f32>, EngineError> {
        let run_err = |e: ort::Error| EngineError::Run(e.to_string());
        let range = ndarray::Slice::from(start..end);
        let n = end - start;
        // Slices of standard-layout arrays along axis 0 are contiguous, so full batches borrow
        // rather than copy; a short batch is copied and padded to the session's one shape.
        let padded = if self.pad_short_batches { self.batch_size.max(n) } else { n };
        let slices: Vec<(&str, BatchSlice<'_>)> = inputs
            .iter()
            .map(|(name, data)| {
                let slice = match data {
                    InputData::F32(a) => BatchSlice::F32(pad_rows(a.slice_axis(Axis(0), range), padded)),
                    InputData::I64(a) => BatchSlice::I64(pad_rows(a.slice_axis(Axis(0), range), padded)),
                };
                (name.as_str(), slice)
            })
            .collect();
        let shape: Vec<Vec<usize>> = self
            .signature
            .inputs
            .iter()
            .filter_map(|spec| slices.iter().find(|(name, _)| *name == spec.name))
            .map(|(_, slice)| slice.shape().to_vec())
            .collect();
        if !self.shapes.contains(&shape) {
            self.shapes.push(shape);
        }
        let mut values: Vec<(&str, ort::session::SessionInputValue<'_>)> = Vec::with_capacity(slices.len());
        for (name, slice) in &slices {
            let value: ort::session::SessionInputValue<'_> = match slice {
                BatchSlice::F32(a) => TensorRef::from_array_view(a).map_err(run_err)?.into(),
                BatchSlice::I64(a) => TensorRef::from_array_view(a).map_err(run_err)?.into(),
            };
            values.push((name, value));
        }
        let output_name = &self.signature.outputs[self.output_index].name;
        let outputs = self.session.run(values).map_err(run_err)?;
        if self.score_layout == ScoreLayout::ZipMap {
            return read_zipmap(&outputs[output_name.as_str()], output_name, n, &mut self.zipmap_labels);
        }
        let scores = outputs[output_name.as_str()].try_extract_array::<f32>().map_err(run_err)?;
        if scores.ndim() != 2 || scores.len_of(Axis(0)) != padded {
            return Err(EngineError::Run(format!(
                "classifier output '{output_name}' has shape {:?} for a batch of {padded}",
                scores.shape()
            )));
        }
        let scores = scores.slice_axis(Axis(0), ndarray::Slice::from(0..n));
        scores.into_dimensionality::<ndarray::Ix2>().map(|s| s.to_owned()).map_err(|e| EngineError::Run(e.to_string()))
    }
}

/// The first `rows` maps of a ZipMap output as `[rows, C]` scores, columns in ascending label
/// order. `labels` holds the labels seen first; every row must score the same ones.
fn read_zipmap(
    value: &DynValue,
    name: &str,
    rows: usize,
    labels: &mut Option<Vec<String>>,
) -> Result<Array2<f32>, EngineError> {
    let run_err = |e: ort::Error| EngineError::Run(format!("reading ZipMap output '{name}': {e}"));
    let maps = value
        .view()
        .downcast::<DynSequenceValueType>()
        .and_then(|sequence| sequence.try_extract_sequence::<DynMapValueType>())
        .map_err(run_err)?;
    if maps.len() < rows {
        return Err(EngineError::Run(format!("ZipMap output '{name}' has {} maps for {rows} rows", maps.len())));
    }
    let mut scores: Vec<f32> = Vec::new();
    for (row, map) in maps.iter().take(rows).enumerate() {
        let entries = match map.dtype() {
            ValueType::Map { key: TensorElementType::String, .. } => sorted_entries::<String>(map),
            _ => sorted_entries::<i64>(map),
        }
        .map_err(run_err)?;
        let expected = labels.get_or_insert_with(|| entries.iter().map(|(label, _)| label.clone()).collect());
        if entries.len() != expected.len() || entries.iter().zip(expected.iter()).any(|((label, _), e)| label != e) {
            let found: Vec<&str> = entries.iter().map(|(label, _)| label.as_str()).collect();
            return Err(EngineError::ZipMapClasses {
                name: name.into(),
                row,
                expected: format!("[{}]", expected.join(", ")),
                found: format!("[{}]", found.join(", ")),
            });
        }
        scores.extend(entries.iter().map(|&(_, score)| score));
    }
    let classes = labels.as_ref().map_or(0, Vec::len);
    Array2::from_shape_vec((rows, classes), scores).map_err(|e| EngineError::Run(e.to_string()))
}

/// One ZipMap row's (label, score) pairs, in ascending label order (numeric for int64 labels).
fn sorted_entries<K>(map: &ort::value::DynMap) -> Result<Vec<(String, f32)>, ort::Error>
where
    K: ort::value::IntoTensorElementType + Clone + std::hash::Hash + Ord + ToString,
{
    let mut entries = map.try_extract_key_values::<K, f32>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries.into_iter().map(|(label, score)| (label.to_string(), score)).collect())
}

/// Input bytes per `Session::run` that [`auto_batch_size`] aims for: large enough that the
/// per-call cost vanishes for tiny models (the 8x8 MLP fixture runs about twice as many queries
/// per second at 1,024 samples as at 64), small enough to stay in cache for larger inputs.
const AUTO_BATCH_BYTES: usize = 256 * 1024;
/// Elements assumed for a symbolic non-batch dimension (e.g. a text model's sequence length).
const SYMBOLIC_DIM: usize = 64;

/// Input bytes per call on a GPU: a call there costs a host-device round trip and a kernel
/// launch per node whatever its size, so calls carry more (the digits-CNN raw ONNX Runtime
/// figures on an H200 were 198 k inputs/s at batch 64 and 605 k at 1,024).
const AUTO_BATCH_BYTES_GPU: usize = 16 * 1024 * 1024;

/// The batch size when none is configured: `AUTO_BATCH_BYTES` of input per call
/// (`AUTO_BATCH_BYTES_GPU` on a GPU), as a power of two between 64 and 1,024 samples. Batch
/// size never changes results, only speed.
pub fn auto_batch_size(signature: &Signature, gpu: bool) -> usize {
    let bytes = if gpu { AUTO_BATCH_BYTES_GPU } else { AUTO_BATCH_BYTES };
    let fits = bytes / sample_bytes(signature).max(1);
    let power = if fits == 0 { 1 } else { 1usize << fits.ilog2() };
    power.clamp(64, 1024)
}

/// Bytes of input one sample takes (a symbolic dimension counted as [`SYMBOLIC_DIM`]).
pub fn sample_bytes(signature: &Signature) -> usize {
    signature
        .inputs
        .iter()
        .map(|input| {
            let elements: usize = input
                .shape
                .iter()
                .skip(1)
                .map(|d| match d {
                    Dim::Fixed(n) if *n > 0 => *n as usize,
                    _ => SYMBOLIC_DIM,
                })
                .product();
            let width = if input.element_type == "int64" { 8 } else { 4 };
            elements * width
        })
        .sum()
}

/// `view` as a standard-layout array of `rows` rows: borrowed when it already is one, else
/// copied, with missing rows filled by copies of the last row (always a valid input, unlike
/// zeros for token ids).
fn pad_rows<T: Clone>(view: ndarray::ArrayViewD<'_, T>, rows: usize) -> ndarray::CowArray<'_, T, IxDyn> {
    let n = view.len_of(Axis(0));
    if n == rows || n == 0 {
        return if view.is_standard_layout() { view.into() } else { view.as_standard_layout().into_owned().into() };
    }
    let last = view.index_axis(Axis(0), n - 1);
    let views: Vec<_> =
        std::iter::once(view.view()).chain(std::iter::repeat_n(last.insert_axis(Axis(0)), rows - n)).collect();
    ndarray::concatenate(Axis(0), &views).expect("rows of one shape").into()
}

/// One batch of one input, borrowed from the caller's array where its layout allows.
enum BatchSlice<'a> {
    F32(ndarray::CowArray<'a, f32, IxDyn>),
    I64(ndarray::CowArray<'a, i64, IxDyn>),
}

impl BatchSlice<'_> {
    fn shape(&self) -> &[usize] {
        match self {
            Self::F32(a) => a.shape(),
            Self::I64(a) => a.shape(),
        }
    }
}

fn build_session(
    runtime: &Runtime,
    path: &Path,
    options: &EngineOptions,
    cuda_device: Option<i32>,
) -> Result<Session, ort::Error> {
    let mut builder = Session::builder(runtime.environment())?
        .with_optimization_level(optimization(options.optimization))?
        // Runs are issued one after another; ORT's inter-op pool only helps branchy graphs.
        .with_inter_threads(1)?
        // Between runs probity builds the next inputs on the same cores; spinning intra-op
        // workers would starve that work (measured: most CPU samples of a tiny-model scan were
        // ORT workers spinning). Latency of one run is unaffected at these batch sizes.
        .with_intra_op_spinning(false)?;
    if let Some(threads) = options.threads {
        builder = builder.with_intra_threads(threads)?;
    }
    if let Some(device) = cuda_device {
        // error_on_failure: ort would otherwise silently fall back to the CPU.
        let cuda = ort::ep::CUDA::default()
            .with_device_id(device)
            .with_conv_algorithm_search(options.conv_algorithm_search.ort());
        builder = builder.with_execution_providers([cuda.build().error_on_failure()])?;
    }
    builder.commit_from_file(path)
}

fn cuda_failure_detail(runtime: &Runtime, error: &ort::Error) -> String {
    if !runtime.info.available_providers.iter().any(|p| p == "CUDAExecutionProvider") {
        format!(
            "the loaded ONNX Runtime {} ({}) was built without the CUDA execution provider (it offers {})",
            runtime.info.version,
            runtime.info.library_path.display(),
            runtime.info.available_providers.join(", ")
        )
    } else {
        format!("registering CUDAExecutionProvider failed: {error}")
    }
}

/// Index of the classifier output: the one named `wanted`, else the first float32 `[N, C]`
/// tensor, else the first ZipMap. `layouts[i]` is how output `i` holds scores, if it can. A
/// scikit-learn export's int64 `label` output never qualifies, so its probabilities are chosen.
fn classifier_output(
    path: &Path,
    signature: &Signature,
    layouts: &[Option<ScoreLayout>],
    wanted: Option<&str>,
) -> Result<usize, EngineError> {
    let names = || {
        signature
            .outputs
            .iter()
            .map(|o| format!("{} {} {}", o.name, o.element_type, o.shape_string()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match wanted {
        Some(name) => {
            let index = signature.outputs.iter().position(|o| o.name == name).ok_or_else(|| {
                EngineError::UnknownOutput { path: path.to_path_buf(), name: name.into(), outputs: names() }
            })?;
            let output = &signature.outputs[index];
            if layouts[index].is_none() {
                return Err(EngineError::BadClassifierOutput {
                    path: path.to_path_buf(),
                    name: name.into(),
                    element_type: output.element_type.clone(),
                    shape: output.shape_string(),
                });
            }
            Ok(index)
        }
        None => [ScoreLayout::Tensor, ScoreLayout::ZipMap]
            .iter()
            .find_map(|wanted| layouts.iter().position(|layout| layout.as_ref() == Some(wanted)))
            .ok_or_else(|| EngineError::NoClassifierOutput { path: path.to_path_buf(), outputs: names() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_column_becomes_two_classes_with_sigmoid_confidences() {
        let p = two_class_scores(ndarray::arr2(&[[0.25f32], [1.0]]), ScoreKind::Probabilities);
        assert_eq!(p, ndarray::arr2(&[[0.75f32, 0.25], [0.0, 1.0]]));
        let z = two_class_scores(ndarray::arr2(&[[2.0f32], [-1.0], [0.0]]), ScoreKind::Logits);
        assert_eq!(z, ndarray::arr2(&[[0.0f32, 2.0], [0.0, -1.0], [0.0, 0.0]]));
        // softmax([0, z])[1] = 1 / (1 + e^-z): scipy.special.expit(2.0) = 0.8807970779778823.
        let softmax = 2.0f32.exp() / (1.0 + 2.0f32.exp());
        assert!((softmax - 0.880_797_1).abs() < 1e-6);
        // Two or more columns pass through untouched.
        let wide = ndarray::arr2(&[[0.1f32, 0.9]]);
        assert_eq!(two_class_scores(wide.clone(), ScoreKind::Logits), wide);
    }
}
