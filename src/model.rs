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
    })
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
