//! The application: what `scan`, `baseline record` and `calibrate` do, as library calls that
//! take option structs and return what happened. The command line ([`crate::cli`]) only turns
//! what the user typed into these options, prints the results and maps them to exit codes.
//!
//! - [`setup`]: what every scanning command does first (data, batteries, runtime, engines,
//!   tokenizer);
//! - [`scan`]: a scan and its report set (the report itself is built in
//!   [`crate::report::build`]);
//! - [`baseline`]: recording a model's behaviour for later scans;
//! - [`calibrate`]: per-probe thresholds from clean models;
//! - [`check`]: a battery's detection and false-alarm rates over known-clean and known-backdoored
//!   models (`battery check`);
//! - [`preview`]: what a battery's probes do to inputs, without a model (`battery preview`).

pub mod baseline;
pub mod calibrate;
pub mod check;
pub mod preview;
pub mod scan;
pub mod setup;

/// Writes a warning to stderr; a closed stderr is not an error (`eprint!` would panic on it).
pub fn warn(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
