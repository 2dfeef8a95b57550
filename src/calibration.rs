//! Per-probe thresholds calibrated on models known to be clean.
//!
//! `probity calibrate` runs the batteries (self-baseline) over a set of clean models and
//! seeds; for each trigger probe it collects, per (model, seed), the highest attack success
//! rate over classes and the highest excess over the control. A new clean model's value is
//! treated as exchangeable with these `n` observations, so the probability that it exceeds the
//! `k`-th smallest is at most `1 − k/(n+1)` (a distribution-free order-statistic bound; see
//! e.g. Lehmann & Romano, *Testing Statistical Hypotheses*, on conformal/rank arguments). The
//! threshold is the smallest order statistic with `1 − k/(n+1) ≤ rate`, nudged just above it
//! (a probe fails at `≥` the threshold). When `n` is too small for the requested rate
//! (`n + 1 < 1/rate`), the maximum is used and the achieved bound `1/(n+1)` is recorded.
//! Observations from seeds of one model are correlated: many clean models are worth more than
//! many seeds. Thresholds never fall below the battery's floor (`--floor`), so a probe to which
//! clean models never respond does not end up failing on a couple of flips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "probity/thresholds/v1";

/// What one trigger probe's calibration saw and chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProbeThreshold {
    pub min_attack_success: f64,
    pub min_effect: f64,
    pub clean_observations: usize,
    pub clean_max_attack_success: f64,
    pub clean_max_effect: f64,
    /// Upper bound on the per-probe false-alarm rate these thresholds give.
    pub false_alarm_bound: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Digest {
    pub path: PathBuf,
    pub sha256: String,
}

/// A `thresholds.yaml` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CalibratedThresholds {
    pub schema: String,
    pub false_alarm_rate: f64,
    pub floor: f64,
    pub calibration_set: Vec<Digest>,
    pub data: Digest,
    pub batteries: Vec<Digest>,
    pub seeds: Vec<u64>,
    /// Keyed by `battery-name/probe-id`.
    pub probes: BTreeMap<String, ProbeThreshold>,
}

#[derive(Debug, thiserror::Error)]
pub enum ThresholdsError {
    #[error("cannot read thresholds {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{path}: {detail}; produce the file with `probity calibrate`")]
    Format { path: PathBuf, detail: String },
}

/// The threshold for a rate at most `rate` from clean observations, and the bound achieved.
pub fn order_statistic_threshold(observations: &[f64], rate: f64, floor: f64) -> (f64, f64) {
    let mut sorted: Vec<f64> = observations.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return (floor.max(f64::MIN_POSITIVE), 1.0);
    }
    // Smallest k (1-based) with 1 - k/(n+1) <= rate.
    let k = ((1.0 - rate) * (n as f64 + 1.0)).ceil() as usize;
    let (value, bound) = if k <= n {
        (sorted[k - 1], 1.0 - k as f64 / (n as f64 + 1.0))
    } else {
        (sorted[n - 1], 1.0 / (n as f64 + 1.0))
    };
    // Just above the observed value: probes fail at >= threshold.
    let above = value + 1e-9;
    (above.max(floor).min(1.0), bound)
}

impl CalibratedThresholds {
    pub fn read(path: &Path) -> Result<Self, ThresholdsError> {
        let text =
            std::fs::read_to_string(path).map_err(|cause| ThresholdsError::Io { path: path.to_path_buf(), cause })?;
        let parsed: CalibratedThresholds = serde_saphyr::from_str(&text)
            .map_err(|e| ThresholdsError::Format { path: path.to_path_buf(), detail: e.to_string() })?;
        if parsed.schema != SCHEMA {
            return Err(ThresholdsError::Format {
                path: path.to_path_buf(),
                detail: format!("schema '{}' is not '{SCHEMA}'", parsed.schema),
            });
        }
        Ok(parsed)
    }

    pub fn to_yaml(&self) -> String {
        let body = serde_saphyr::to_string(self).expect("thresholds always serialise");
        format!("# Per-probe thresholds from `probity calibrate`; use with `probity scan --thresholds`.\n{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_statistic_threshold_follows_the_rank_bound() {
        // 99 observations 0.01..0.99: for rate 0.05, k = ceil(0.95 * 100) = 95 -> 0.95,
        // bound 1 - 95/100 = 0.05.
        let obs: Vec<f64> = (1..=99).map(|i| f64::from(i) / 100.0).collect();
        let (t, bound) = order_statistic_threshold(&obs, 0.05, 0.0);
        assert!((t - 0.95).abs() < 1e-6, "{t}");
        assert!((bound - 0.05).abs() < 1e-12);
        // Six observations cannot support 1%: the maximum is used and the bound is 1/7.
        let (t, bound) = order_statistic_threshold(&[0.1, 0.3, 0.2, 0.05, 0.4, 0.25], 0.01, 0.0);
        assert!((t - 0.4).abs() < 1e-6);
        assert!((bound - 1.0 / 7.0).abs() < 1e-12);
        // The floor wins over tiny clean responses; nothing exceeds 1.
        assert_eq!(order_statistic_threshold(&[0.0, 0.01], 0.01, 0.3).0, 0.3);
        assert_eq!(order_statistic_threshold(&[1.0], 0.01, 0.3).0, 1.0);
    }

    #[test]
    fn thresholds_round_trip_through_yaml() {
        let mut probes = BTreeMap::new();
        probes.insert(
            "image-triggers/patch-white-1of4-bottom-right".to_string(),
            ProbeThreshold {
                min_attack_success: 0.5,
                min_effect: 0.4,
                clean_observations: 12,
                clean_max_attack_success: 0.49,
                clean_max_effect: 0.39,
                false_alarm_bound: 1.0 / 13.0,
            },
        );
        let t = CalibratedThresholds {
            schema: SCHEMA.into(),
            false_alarm_rate: 0.01,
            floor: 0.3,
            calibration_set: vec![Digest { path: "a.onnx".into(), sha256: "ab".into() }],
            data: Digest { path: "d.npz".into(), sha256: "cd".into() },
            batteries: vec![],
            seeds: vec![1, 2],
            probes,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.yaml");
        std::fs::write(&path, t.to_yaml()).unwrap();
        assert_eq!(CalibratedThresholds::read(&path).unwrap(), t);
    }
}
