//! `probity inspect MODEL [--json]`: what a model is and what would run it.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::{Cli, EngineArgs, print_stdout};
use crate::engine::{ProviderUsed, TensorSpec};
use crate::error::{Failure, Outcome};
use crate::model::{ExternalDataFile, OpsetImport};
use crate::onnxruntime::RuntimeInfo;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ONNX model file.
    pub model: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Everything `inspect` reports; also the JSON schema of `inspect --json`.
#[derive(Debug, Serialize)]
pub struct Inspection {
    pub model: PathBuf,
    pub sha256: String,
    pub size_bytes: u64,
    pub ir_version: i64,
    pub producer_name: String,
    pub producer_version: String,
    pub opset_imports: Vec<OpsetImport>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub classifier_output: String,
    pub batch_size: usize,
    pub external_data: Vec<ExternalDataFile>,
    /// Tables gathered by a model input (token embeddings): a tokenizer's ids must stay below
    /// `rows`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lookup_tables: Vec<crate::model::LookupTable>,
    pub execution_provider: ProviderUsed,
    pub onnxruntime: RuntimeInfo,
}

pub fn run(cli: &Cli, args: &InspectArgs) -> Result<Outcome, Failure> {
    let runtime = crate::onnxruntime::load(cli.ort_lib.as_deref())?;
    let engine = crate::app::setup::load_engine(runtime, &args.model, &args.engine.options())?;
    let size_bytes = std::fs::metadata(&args.model).map(|m| m.len()).unwrap_or(0);
    let inspection = Inspection {
        model: args.model.clone(),
        sha256: engine.model_sha256.clone(),
        size_bytes,
        ir_version: engine.facts.ir_version,
        producer_name: engine.facts.producer_name.clone(),
        producer_version: engine.facts.producer_version.clone(),
        opset_imports: engine.facts.opset_imports.clone(),
        inputs: engine.signature.inputs.clone(),
        outputs: engine.signature.outputs.clone(),
        classifier_output: engine.signature.outputs[engine.output_index].name.clone(),
        batch_size: engine.batch_size,
        external_data: engine.facts.external_data.clone(),
        lookup_tables: engine
            .facts
            .lookup_tables
            .iter()
            .filter(|t| engine.signature.inputs.iter().any(|i| i.name == t.input))
            .cloned()
            .collect(),
        execution_provider: engine.provider.clone(),
        onnxruntime: runtime.info.clone(),
    };
    if args.json {
        let text = serde_json::to_string_pretty(&inspection).map_err(Failure::runtime)?;
        print_stdout(&format!("{text}\n"));
    } else {
        print_stdout(&render_text(&inspection));
    }
    Ok(Outcome::Pass)
}

fn render_text(i: &Inspection) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "model        {}", i.model.display());
    let _ = writeln!(s, "sha256       {}", i.sha256);
    let _ = writeln!(s, "size         {} bytes", i.size_bytes);
    let _ = writeln!(s, "producer     {} {}", i.producer_name, i.producer_version);
    let _ = writeln!(s, "ir version   {}", i.ir_version);
    let opsets: Vec<String> = i.opset_imports.iter().map(|o| format!("{} {}", o.domain, o.version)).collect();
    let _ = writeln!(s, "opsets       {}", opsets.join(", "));
    let _ = writeln!(s, "inputs");
    for t in &i.inputs {
        let _ = writeln!(s, "  {:<20} {:<8} {}", t.name, t.element_type, t.shape_string());
    }
    let _ = writeln!(s, "outputs");
    for t in &i.outputs {
        let marker = if t.name == i.classifier_output { "  (classifier output)" } else { "" };
        let _ = writeln!(s, "  {:<20} {:<8} {}{marker}", t.name, t.element_type, t.shape_string());
    }
    for t in &i.lookup_tables {
        let _ = writeln!(s, "lookup       {} indexes {} ({} rows)", t.input, t.table, t.rows);
    }
    if !i.external_data.is_empty() {
        let files: Vec<&str> = i.external_data.iter().map(|f| f.location.as_str()).collect();
        let _ = writeln!(s, "external data {}", files.join(", "));
    }
    let ep = &i.execution_provider;
    match &ep.fallback_reason {
        Some(reason) => {
            let _ = writeln!(s, "provider     {} (requested {}; fell back: {reason})", ep.used, ep.requested);
        }
        None => {
            let _ = writeln!(s, "provider     {}", ep.used);
        }
    }
    let rt = &i.onnxruntime;
    let _ = writeln!(s, "onnxruntime  {} ({})", rt.version, rt.library_path.display());
    let _ = writeln!(s, "  sha256     {}", rt.library_sha256);
    let _ = writeln!(s, "  providers  {}", rt.available_providers.join(", "));
    s
}
