//! The statistics layer: pure functions from counts and samples to p-values,
//! intervals, distances and outlier scores. No I/O, no clocks, no randomness;
//! the runner gathers the counts and the verdict layer interprets the numbers.
//!
//! One file per family of statistics, each citing its reference:
//! - [`binomial`]: binomial tails and the exact one-sided binomial test;
//! - [`mcnemar`]: exact McNemar test for paired probe/control outcomes;
//! - [`fisher`]: one-sided Fisher exact test for unpaired 2x2 tables;
//! - [`interval`]: Clopper–Pearson confidence intervals for a rate;
//! - [`multiple`]: Holm and Benjamini–Hochberg adjusted p-values;
//! - [`distribution`]: two-sample Kolmogorov–Smirnov and Jensen–Shannon;
//! - [`robust`]: median, MAD and the Neural Cleanse anomaly index.
//!
//! Conventions shared by every function:
//! - Counts are `u64`, everything else `f64`.
//! - Nothing panics on edge inputs (empty samples, n = 0, NaN). Where there is
//!   no evidence the result is the neutral value — p-value 1.0, interval
//!   [0, 1], divergence 0 — and each function documents its own cases.
//! - Exact tests are computed in the tail they report, so tiny p-values (down
//!   to ~1e-300) keep their relative accuracy; reference values in the tests
//!   come from scipy/statsmodels and name the call that produced them.

pub mod binomial;
mod discrete;
pub mod distribution;
pub mod fisher;
pub mod interval;
pub mod mcnemar;
pub mod multiple;
pub mod robust;

pub use binomial::{binomial_cdf_le, binomial_sf_ge, binomial_test_greater};
pub use distribution::{KsTest, jensen_shannon, kolmogorov_sf, ks_two_sample};
pub use fisher::fisher_exact_greater;
pub use interval::{Interval, clopper_pearson};
pub use mcnemar::{mcnemar_exact_greater, mcnemar_exact_two_sided};
pub use multiple::{benjamini_hochberg, holm};
pub use robust::{anomaly_indices, mad, median};
