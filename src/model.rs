//! Reading an ONNX file as untrusted input, before ONNX Runtime sees it.
//!
//! A model is attacker-controlled. This module decodes just enough of the ONNX protobuf
//! (`onnx.proto3`, field numbers from the ONNX repository) to report what `inspect` shows
//! (IR version, opset imports, producer) and to vet every tensor stored as external data: a
//! location that is absolute, climbs out with `..`, or resolves (through links) outside the
//! model's folder is refused with the tensor's name, so a model cannot make probity read
//! arbitrary files. Decoding is bounded by prost's recursion limit; unknown fields are skipped.

use std::path::{Component, Path, PathBuf};

use prost::Message;
use serde::{Deserialize, Serialize};

/// `TensorProto.DataLocation.EXTERNAL`.
const DATA_LOCATION_EXTERNAL: i32 = 1;

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(int64, tag = "1")]
    ir_version: i64,
    #[prost(string, tag = "2")]
    producer_name: String,
    #[prost(string, tag = "3")]
    producer_version: String,
    #[prost(string, tag = "4")]
    domain: String,
    #[prost(int64, tag = "5")]
    model_version: i64,
    #[prost(string, tag = "6")]
    doc_string: String,
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    opset_import: Vec<OperatorSetIdProto>,
    #[prost(message, repeated, tag = "25")]
    functions: Vec<FunctionProto>,
}

#[derive(Clone, PartialEq, Message)]
struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    domain: String,
    #[prost(int64, tag = "2")]
    version: i64,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "15")]
    sparse_initializer: Vec<SparseTensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct FunctionProto {
    #[prost(message, repeated, tag = "7")]
    node: Vec<NodeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct AttributeProto {
    #[prost(message, optional, tag = "5")]
    t: Option<TensorProto>,
    #[prost(message, optional, tag = "6")]
    g: Option<GraphProto>,
    #[prost(message, repeated, tag = "10")]
    tensors: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    graphs: Vec<GraphProto>,
    #[prost(message, optional, tag = "22")]
    sparse_tensor: Option<SparseTensorProto>,
    #[prost(message, repeated, tag = "23")]
    sparse_tensors: Vec<SparseTensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct SparseTensorProto {
    #[prost(message, optional, tag = "1")]
    values: Option<TensorProto>,
    #[prost(message, optional, tag = "2")]
    indices: Option<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(message, repeated, tag = "13")]
    external_data: Vec<StringStringEntryProto>,
    #[prost(int32, tag = "14")]
    data_location: i32,
}

#[derive(Clone, PartialEq, Message)]
struct StringStringEntryProto {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(string, tag = "2")]
    value: String,
}

/// One opset the model imports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpsetImport {
    /// `ai.onnx` when the file leaves the domain empty.
    pub domain: String,
    pub version: i64,
}

/// A file the model reads tensor data from, relative to the model's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalDataFile {
    pub location: String,
    pub path: PathBuf,
}

/// What the ONNX file says about itself, after vetting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFacts {
    pub ir_version: i64,
    pub producer_name: String,
    pub producer_version: String,
    pub domain: String,
    pub model_version: i64,
    pub graph_name: String,
    pub opset_imports: Vec<OpsetImport>,
    /// Distinct external data files, in first-use order.
    pub external_data: Vec<ExternalDataFile>,
    /// Lookup tables indexed directly by a graph input (token embeddings): ids at or beyond
    /// `rows` make ONNX Runtime's Gather fail, so a tokenizer must stay below it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lookup_tables: Vec<LookupTable>,
}

/// An initializer gathered by the values of a graph input (an embedding table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupTable {
    /// The graph input whose values index the table.
    pub input: String,
    pub table: String,
    pub rows: u64,
}

/// Why a file was refused before ONNX Runtime saw it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error(
        "{path} is not an ONNX model (protobuf decoding failed: {detail}); pass a .onnx file exported by your framework"
    )]
    NotOnnx { path: PathBuf, detail: String },
    #[error("{path} is not an ONNX model (it has no graph); pass a .onnx file exported by your framework")]
    NoGraph { path: PathBuf },
    #[error(
        "model {path}: tensor '{tensor}' stores its data at '{location}', which {why}; external data must be a relative path inside the model's folder — refusing to load an untrusted model that reads other files"
    )]
    UnsafeExternalData { path: PathBuf, tensor: String, location: String, why: &'static str },
}

/// Decodes and vets the model file at `path`.
pub fn read_facts(path: &Path) -> Result<ModelFacts, ModelError> {
    let bytes = std::fs::read(path).map_err(|cause| ModelError::Io { path: path.to_path_buf(), cause })?;
    facts_from_bytes(path, &bytes)
}

/// As [`read_facts`], over bytes already read (`path` names the file in messages and anchors
/// external data).
pub fn facts_from_bytes(path: &Path, bytes: &[u8]) -> Result<ModelFacts, ModelError> {
    let model = ModelProto::decode(bytes)
        .map_err(|e| ModelError::NotOnnx { path: path.to_path_buf(), detail: e.to_string() })?;
    let graph = model.graph.as_ref().ok_or_else(|| ModelError::NoGraph { path: path.to_path_buf() })?;
    if graph.node.is_empty() && model.opset_import.is_empty() {
        return Err(ModelError::NoGraph { path: path.to_path_buf() });
    }
    let mut tensors = Vec::new();
    collect_graph_tensors(graph, &mut tensors);
    for function in &model.functions {
        for node in &function.node {
            collect_node_tensors(node, &mut tensors);
        }
    }
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut external_data: Vec<ExternalDataFile> = Vec::new();
    for tensor in tensors {
        if let Some(file) = vet_external(path, &folder, tensor)?
            && !external_data.iter().any(|f| f.location == file.location)
        {
            external_data.push(file);
        }
    }
    Ok(ModelFacts {
        ir_version: model.ir_version,
        producer_name: model.producer_name,
        producer_version: model.producer_version,
        domain: model.domain,
        model_version: model.model_version,
        graph_name: graph.name.clone(),
        opset_imports: model
            .opset_import
            .iter()
            .map(|o| OpsetImport {
                domain: if o.domain.is_empty() { "ai.onnx".into() } else { o.domain.clone() },
                version: o.version,
            })
            .collect(),
        external_data,
        lookup_tables: lookup_tables(graph),
    })
}

/// Gather nodes whose data is an initializer and whose indices are a graph input, directly or
/// through Cast/Identity nodes (exporters often cast token ids first).
fn lookup_tables(graph: &GraphProto) -> Vec<LookupTable> {
    let initializers: std::collections::HashMap<&str, &TensorProto> =
        graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    // Value name → the graph value it is a pass-through copy of.
    let mut origin: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for node in &graph.node {
        if matches!(node.op_type.as_str(), "Cast" | "Identity")
            && let (Some(from), Some(to)) = (node.input.first(), node.output.first())
        {
            let root = origin.get(from.as_str()).copied().unwrap_or(from.as_str());
            origin.insert(to.as_str(), root);
        }
    }
    let mut out: Vec<LookupTable> = Vec::new();
    for node in graph.node.iter().filter(|n| n.op_type == "Gather") {
        let (Some(data), Some(indices)) = (node.input.first(), node.input.get(1)) else { continue };
        let Some(table) = initializers.get(data.as_str()) else { continue };
        let Some(&rows) = table.dims.first() else { continue };
        let input = origin.get(indices.as_str()).copied().unwrap_or(indices.as_str()).to_string();
        if initializers.contains_key(input.as_str()) || rows < 0 {
            continue;
        }
        let entry = LookupTable { input, table: data.clone(), rows: rows as u64 };
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    out
}

fn collect_graph_tensors<'a>(graph: &'a GraphProto, out: &mut Vec<&'a TensorProto>) {
    out.extend(graph.initializer.iter());
    for sparse in &graph.sparse_initializer {
        collect_sparse(sparse, out);
    }
    for node in &graph.node {
        collect_node_tensors(node, out);
    }
}

fn collect_node_tensors<'a>(node: &'a NodeProto, out: &mut Vec<&'a TensorProto>) {
    for attr in &node.attribute {
        out.extend(attr.t.iter().chain(attr.tensors.iter()));
        for sparse in attr.sparse_tensor.iter().chain(attr.sparse_tensors.iter()) {
            collect_sparse(sparse, out);
        }
        for graph in attr.g.iter().chain(attr.graphs.iter()) {
            collect_graph_tensors(graph, out);
        }
    }
}

fn collect_sparse<'a>(sparse: &'a SparseTensorProto, out: &mut Vec<&'a TensorProto>) {
    out.extend(sparse.values.iter().chain(sparse.indices.iter()));
}

fn vet_external(model: &Path, folder: &Path, tensor: &TensorProto) -> Result<Option<ExternalDataFile>, ModelError> {
    if tensor.data_location != DATA_LOCATION_EXTERNAL && tensor.external_data.is_empty() {
        return Ok(None);
    }
    let location = tensor.external_data.iter().find(|e| e.key == "location").map(|e| e.value.clone());
    let refuse = |location: &str, why: &'static str| ModelError::UnsafeExternalData {
        path: model.to_path_buf(),
        tensor: tensor.name.clone(),
        location: location.to_string(),
        why,
    };
    let Some(location) = location.filter(|l| !l.is_empty()) else {
        return Err(refuse("", "is empty"));
    };
    let relative = Path::new(&location);
    if location.contains('\\') || location.contains('\0') {
        return Err(refuse(&location, "contains a backslash or NUL byte"));
    }
    for component in relative.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(refuse(&location, "climbs out of the model's folder with '..'")),
            Component::RootDir | Component::Prefix(_) => return Err(refuse(&location, "is an absolute path")),
        }
    }
    let path = folder.join(relative);
    // A link inside the folder may still point elsewhere: compare real paths when it exists.
    if let (Ok(real), Ok(real_folder)) = (std::fs::canonicalize(&path), std::fs::canonicalize(folder_or_dot(folder)))
        && !real.starts_with(&real_folder)
    {
        return Err(refuse(&location, "resolves through a link to a file outside the model's folder"));
    }
    Ok(Some(ExternalDataFile { location, path }))
}

fn folder_or_dot(folder: &Path) -> &Path {
    if folder.as_os_str().is_empty() { Path::new(".") } else { folder }
}
