//! probity: a behavioural backdoor-testing harness for ONNX classifiers.
//!
//! Layers, each in one obvious place:
//! - [`onnxruntime`]: obtaining and loading the ONNX Runtime library;
//! - [`model`]: reading an untrusted ONNX file (metadata, external-data vetting);
//! - [`engine`]: sessions, execution providers, batched inference ([`gpu`]: the device a CUDA
//!   session runs on);
//! - [`battery`]: battery files — spec types, parsing, validation, diagnostics;
//! - [`transform`]: image transforms and text transforms (`transform::text`), one file each;
//! - [`modality`]: each kind of input (images, text) in its own folder: loading, probes,
//!   searches, report examples; [`runner`]: what runs when, the same for every modality;
//! - [`stats`]: pure statistical functions;
//! - [`app`]: the scan, baseline and calibrate flows, as library calls;
//! - [`report`]: the report model ([`report::build`] assembles it), its exporters;
//! - [`suite`]: the nightly job over many models: suite files, stored results, shards, trends;
//! - [`cli`]: what the user typed, turned into [`app`] options.

pub mod app;
pub mod attack;
pub mod attest;
pub mod baseline;
pub mod battery;
pub mod calibration;
pub mod cli;
pub mod data;
pub mod digest;
pub mod engine;
pub mod error;
pub mod gpu;
pub mod modality;
pub mod model;
pub mod onnxruntime;
pub mod output;
pub mod predictions;
pub mod report;
pub mod runner;
pub mod search;
pub mod stats;
pub mod suite;
pub mod transform;
pub mod verdict;
