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
//!
//! A thresholds file is read like a battery: parsed, then every value checked against its range
//! (rates and effects are fractions of 1, so `min-attack-success: 5.0` is refused rather than
//! passing every probe), each problem reported at file:line:column with a stable code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::battery::diagnostics::{Code, Diagnostic, Diagnostics, Findings, PROBABILITY, Range, UNIT, UNIT_NONZERO};
use crate::battery::yaml;
use crate::digest::FileDigest;

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

/// A `thresholds.yaml` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CalibratedThresholds {
    pub schema: String,
    pub false_alarm_rate: f64,
    pub floor: f64,
    pub calibration_set: Vec<FileDigest>,
    pub data: FileDigest,
    pub batteries: Vec<FileDigest>,
    pub seeds: Vec<u64>,
    /// Keyed by `battery-name/probe-id`.
    pub probes: BTreeMap<String, ProbeThreshold>,
}

#[derive(Debug, thiserror::Error)]
pub enum ThresholdsError {
    #[error("cannot read thresholds {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    /// Every problem in the file, located (exit 2).
    #[error("invalid thresholds {}:\n{}", .path.display(), .diagnostics.to_string().trim_end())]
    Invalid { path: PathBuf, diagnostics: Diagnostics },
}

/// An excess over the control: a difference of two rates.
const EFFECT: Range = Range::new(-1.0, false, 1.0, false);

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
        Self::parse(path, &text)
    }

    /// Parses `text` (the contents of `path`) and checks every value; `Invalid` lists every
    /// problem found.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ThresholdsError> {
        let invalid = |diagnostics: Vec<Diagnostic>| ThresholdsError::Invalid {
            path: path.to_path_buf(),
            diagnostics: Diagnostics(diagnostics),
        };
        let one = |code, (line, column), message: String, hint: Option<&str>| Diagnostic {
            code,
            file: path.to_path_buf(),
            line,
            column,
            message,
            hint: hint.map(String::from),
        };
        let root =
            yaml::parse(text).map_err(|e| invalid(vec![one(Code::YamlSyntax, (e.line, e.column), e.message, None)]))?;
        let parsed: CalibratedThresholds = serde_saphyr::from_str(text).map_err(|e| {
            let at = e.location().map_or((1, 1), |l| (clamp(l.line()), clamp(l.column())));
            let message = e.to_string().lines().next().unwrap_or_default().to_string();
            let code = if message.contains("missing field") { Code::MissingKey } else { Code::WrongType };
            invalid(vec![one(code, at, message, Some("produce the file with `probity calibrate`"))])
        })?;
        parsed
            .findings()
            .into_result(path, |at| yaml::locate(&root, at).map(yaml::position))
            .map_err(|d| ThresholdsError::Invalid { path: path.to_path_buf(), diagnostics: d })?;
        Ok(parsed)
    }

    /// Every value outside its range (and a schema this probity does not read).
    fn findings(&self) -> Findings {
        let mut found = Findings::default();
        if self.schema != SCHEMA {
            found.push(
                Code::UnsupportedSchema,
                &["schema"],
                format!("schema '{}' is not '{SCHEMA}'", self.schema),
                Some("produce the file with this probity's `probity calibrate`".into()),
            );
        }
        found.range(&["false-alarm-rate"], "`false-alarm-rate`", self.false_alarm_rate, PROBABILITY);
        found.range(&["floor"], "`floor`", self.floor, UNIT);
        for (list, files) in [("calibration-set", &self.calibration_set), ("batteries", &self.batteries)] {
            for (i, file) in files.iter().enumerate() {
                let i = i.to_string();
                found.sha256(
                    &[list, &i, "sha256"],
                    &format!("`sha256` of {list} entry {}", file.path.display()),
                    &file.sha256,
                );
            }
        }
        found.sha256(&["data", "sha256"], "`sha256` of `data`", &self.data.sha256);
        for (key, probe) in &self.probes {
            let label = |field: &str| format!("`{field}` of probe `{key}`");
            let checks = [
                ("min-attack-success", probe.min_attack_success, UNIT),
                ("min-effect", probe.min_effect, UNIT),
                ("clean-max-attack-success", probe.clean_max_attack_success, UNIT),
                ("clean-max-effect", probe.clean_max_effect, EFFECT),
                ("false-alarm-bound", probe.false_alarm_bound, UNIT_NONZERO),
            ];
            for (field, value, range) in checks {
                found.range(&["probes", key, field], &label(field), value, range);
            }
        }
        found
    }

    pub fn to_yaml(&self) -> String {
        let body = serde_saphyr::to_string(self).expect("thresholds always serialise");
        format!("# Per-probe thresholds from `probity calibrate`; use with `probity scan --thresholds`.\n{body}")
    }
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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
            calibration_set: vec![FileDigest { path: "a.onnx".into(), sha256: "ab".repeat(32) }],
            data: FileDigest { path: "d.npz".into(), sha256: "cd".repeat(32) },
            batteries: vec![],
            seeds: vec![1, 2],
            probes,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.yaml");
        std::fs::write(&path, t.to_yaml()).unwrap();
        assert_eq!(CalibratedThresholds::read(&path).unwrap(), t);
    }

    #[test]
    fn every_value_out_of_range_is_reported_where_it_stands() {
        let text = "schema: probity/thresholds/v1\nfalse-alarm-rate: 0.01\nfloor: 0.3\ncalibration-set: []\n\
                    data: {path: d.npz, sha256: xyz}\nbatteries: []\nseeds: [1]\nprobes:\n  b/p:\n    \
                    min-attack-success: 5.0\n    min-effect: 1.5\n    clean-observations: 3\n    \
                    clean-max-attack-success: 0.2\n    clean-max-effect: -0.1\n    false-alarm-bound: 0.25\n";
        let Err(ThresholdsError::Invalid { diagnostics, .. }) = CalibratedThresholds::parse(Path::new("t.yaml"), text)
        else {
            panic!("invalid thresholds accepted");
        };
        let at: Vec<(&str, u32, u32)> = diagnostics.iter().map(|d| (d.code.as_str(), d.line, d.column)).collect();
        assert_eq!(at, [("bad-value", 5, 29), ("bad-value", 10, 25), ("bad-value", 11, 17)]);
        let first = &diagnostics.0[1];
        assert_eq!(first.message, "`min-attack-success` of probe `b/p` must be in [0, 1], found 5");
        assert_eq!(
            first.hint.as_deref(),
            Some("`min-attack-success` of probe `b/p` is a fraction of 1: 0.8 means 80%, so 5 would mean 500%")
        );
    }
}
