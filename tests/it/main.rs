//! The integration tests, one binary: each module is one area's tests (the module docs say
//! which), against the real ONNX Runtime and the built `probity` binary. One binary links once
//! and lets the long tests of one area run beside the short ones of another. Tests that need a
//! process of their own (the first load of the runtime) or insta snapshots named by their
//! file (`tests/snapshots/`) stay beside this folder.

#[path = "../common/mod.rs"]
mod common;

mod adversarial;
mod adversarial_text;
mod attest_cli;
mod battery_check;
mod battery_schema;
mod calibration;
mod cli_inspect;
mod cli_scan;
mod config_ranges;
mod data;
mod differential;
mod engine;
mod failsafe;
mod fuzz;
mod fuzz_attest;
mod inconclusive;
mod large;
mod reports_cli;
mod reports_diff;
mod runner;
mod search;
mod single_output;
mod tabular;
mod tabular_engine;
mod tabular_search;
mod text;
mod writing_batteries;
