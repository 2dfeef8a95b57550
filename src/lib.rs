//! probity: a behavioural backdoor-testing harness for ONNX classifiers.
//!
//! Layers, each in one obvious place:
//! - [`onnxruntime`]: obtaining and loading the ONNX Runtime library;
//! - [`model`]: reading an untrusted ONNX file (metadata, external-data vetting);
//! - [`engine`]: sessions, execution providers, batched inference ([`gpu`]: the device a CUDA
//!   session runs on);
//! - [`battery`]: battery files — spec types, parsing, validation, diagnostics;
//! - [`transform`]: image transforms and text transforms (`transform::text`), one file each;
//! - [`stats`]: pure statistical functions;
//! - [`cli`]: what the user typed, and the commands built from it.

pub mod attest;
pub mod baseline;
pub mod battery;
pub mod calibration;
pub mod cli;
pub mod data;
pub mod engine;
pub mod error;
pub mod gpu;
pub mod modality;
pub mod model;
pub mod onnxruntime;
pub mod output;
pub mod report;
pub mod runner;
pub mod search;
pub mod stats;
pub mod text;
pub mod transform;
pub mod verdict;
