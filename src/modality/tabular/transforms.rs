//! Tabular transforms: edits of one feature row (`[F]` float32, NaN = missing).
//!
//! - [`SetFeatures`]: set one feature, or several jointly, to given values (a candidate
//!   trigger: a magic value, or a combination of two features);
//! - [`FeatureNoise`]: add Gaussian noise to every present value, scaled by each feature's
//!   spread ([`super::data::FeatureStats::spread`]), so one `sigma` means the same relative
//!   disturbance for a feature counted in cents and one counted in millions;
//! - [`SetMissing`]: mark features missing (NaN), as a model must cope with absent values.
//!
//! Each is registered as a battery transform kind ([`SET_FEATURE`], [`SET_FEATURES`],
//! [`FEATURE_NOISE`], [`MISSING`]) and runs behind [`TabularTransform`]. A trigger's matched
//! control ([`NearValues`]) sets the same features to values the clean data holds, drawn per
//! sample from the [`NEAR`] values of each feature nearest the trigger's: a trigger must move
//! more rows than the data's own values next to it. A value beyond the data's range is thus
//! compared with the data's extreme values, so an informative feature pushed past its range
//! (which trees answer as they answer its extremes) is no trigger, while a value the model
//! singles out (a split between the data and the value) is.
//!
//! Random transforms take the sample's generator, derived from (seed, probe id, sample index)
//! by [`crate::transform::sample_rng`], so a row's noise does not depend on batch size or thread
//! scheduling. Normal deviates come from `rand_distr::StandardNormal` (the ziggurat method, as
//! the image noise transform uses).

use ndarray::ArrayView2;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::battery::diagnostics::{Code, Range, UNIT_NONZERO};
use crate::battery::spec::{FeatureRef, TransformSpec};
use crate::battery::validate::{Checker, Fields};
use crate::battery::yaml::{Node, Spanned, position};
use crate::transform::TransformError;
use crate::transform::registry::{Build, TransformKind};

/// What tabular transforms are built for: the table's feature names and spreads.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Feature names, in column order.
    pub names: Vec<String>,
    /// Each feature's spread ([`super::data::FeatureStats::spread`]).
    pub spreads: Vec<f32>,
    /// Each feature's distinct present values, ascending: what controls draw from.
    pub values: Vec<Vec<f32>>,
}

impl Table {
    /// The table of `x` (`[N, F]`, NaN = missing) with these names and spreads.
    pub fn new(names: Vec<String>, spreads: Vec<f32>, x: ArrayView2<'_, f32>) -> Self {
        let values = x
            .columns()
            .into_iter()
            .map(|column| {
                let mut v: Vec<f32> = column.iter().copied().filter(|v| !v.is_nan()).collect();
                v.sort_by(f32::total_cmp);
                v.dedup();
                v
            })
            .collect();
        Self { names, spreads, values }
    }

    /// A trigger setting `assignments`, with its matched control.
    pub fn trigger(&self, assignments: Vec<(usize, f32)>) -> Trigger {
        let pools = assignments.iter().map(|&(j, value)| nearest(&self.values[j], value)).collect();
        Trigger { set: SetFeatures { assignments }, pools }
    }

    /// The column `feature` names: a column name, else a 0-based index.
    pub fn resolve(&self, feature: &FeatureRef) -> Result<usize, TransformError> {
        let found = match feature {
            FeatureRef::Index(j) => Some(*j).filter(|&j| j < self.names.len()),
            FeatureRef::Name(name) => self
                .names
                .iter()
                .position(|n| n == name)
                .or_else(|| name.parse::<usize>().ok().filter(|&j| j < self.names.len())),
        };
        found.ok_or_else(|| {
            TransformError::Invalid(format!(
                "the data has no feature `{feature}`; its {} features are {} (or name one by its 0-based index)",
                self.names.len(),
                self.names.join(", ")
            ))
        })
    }
}

/// What a row transform may use besides the row: its sample's generators.
pub struct RowContext<'a> {
    /// The sample's generator for the transform's stream (probe or control).
    pub rng: &'a mut ChaCha8Rng,
    /// The sample's placement generator (which values a rate-based edit touches).
    pub placement_rng: &'a mut ChaCha8Rng,
}

/// A tabular probe's edit of one row. Applying cannot fail: everything is checked when built.
pub trait TabularTransform: Send + Sync {
    fn apply(&self, row: &mut [f32], ctx: &mut RowContext<'_>);

    /// The matched control of a trigger (`None` for robustness perturbations).
    fn control(&self) -> Option<Box<dyn TabularTransform>> {
        None
    }
}

/// Values of a feature a trigger's control draws from: this many nearest the trigger's value.
/// Enough that one odd value does not decide the control, few enough that they sit at the same
/// end of the feature's range as the trigger.
pub const NEAR: usize = 8;

/// The (at most) [`NEAR`] values of `sorted` nearest `value`, `value` itself left out.
fn nearest(sorted: &[f32], value: f32) -> Vec<f32> {
    let mut others: Vec<f32> = sorted.iter().copied().filter(|v| v.to_bits() != value.to_bits()).collect();
    others.sort_by(|a, b| (a - value).abs().total_cmp(&(b - value).abs()).then(a.total_cmp(b)));
    others.truncate(NEAR);
    others
}

/// A trigger: features set to fixed values, with the values its control draws from.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub set: SetFeatures,
    /// Per assignment, the clean values nearest its value.
    pub pools: Vec<Vec<f32>>,
}

impl TabularTransform for Trigger {
    fn apply(&self, row: &mut [f32], _: &mut RowContext<'_>) {
        self.set.apply(row);
    }

    fn control(&self) -> Option<Box<dyn TabularTransform>> {
        let features = self.set.assignments.iter().map(|a| a.0).zip(self.pools.iter().cloned()).collect();
        Some(Box::new(NearValues { features }))
    }
}

/// A trigger's matched control: each feature set to one of its pool's values, drawn per sample
/// (a feature with an empty pool keeps its own value).
#[derive(Debug, Clone, PartialEq)]
pub struct NearValues {
    pub features: Vec<(usize, Vec<f32>)>,
}

impl TabularTransform for NearValues {
    fn apply(&self, row: &mut [f32], ctx: &mut RowContext<'_>) {
        for (j, pool) in &self.features {
            if !pool.is_empty() {
                row[*j] = pool[ctx.rng.random_range(0..pool.len())];
            }
        }
    }
}

impl TabularTransform for FeatureNoise {
    fn apply(&self, row: &mut [f32], ctx: &mut RowContext<'_>) {
        FeatureNoise::apply(self, row, ctx.rng);
    }
}

impl TabularTransform for SetMissing {
    fn apply(&self, row: &mut [f32], _: &mut RowContext<'_>) {
        SetMissing::apply(self, row);
    }
}

/// Marks each value missing with probability `rate` (drawn from the placement generator).
#[derive(Debug, Clone, PartialEq)]
pub struct MissingAtRate {
    pub rate: f64,
}

impl TabularTransform for MissingAtRate {
    fn apply(&self, row: &mut [f32], ctx: &mut RowContext<'_>) {
        for value in row.iter_mut() {
            if ctx.placement_rng.random_bool(self.rate) {
                *value = f32::NAN;
            }
        }
    }
}

/// `kind: set-feature`: one feature set to a value (a magic-value trigger).
pub static SET_FEATURE: TransformKind = TransformKind {
    name: "set-feature",
    has_control: true,
    keys: &["kind", "feature", "value"],
    validate: validate_set_feature,
    build: Build::Tabular(build_set),
};

/// `kind: set-features`: two or more features set jointly (`features: {f03: -150, f07: 20000}`).
pub static SET_FEATURES: TransformKind = TransformKind {
    name: "set-features",
    has_control: true,
    keys: &["kind", "features"],
    validate: validate_set_features,
    build: Build::Tabular(build_set),
};

/// `kind: feature-noise`: Gaussian noise of `scale` standard deviations on every feature.
pub static FEATURE_NOISE: TransformKind = TransformKind {
    name: "feature-noise",
    has_control: false,
    keys: &["kind", "scale"],
    validate: validate_noise,
    build: Build::Tabular(build_noise),
};

/// `kind: missing`: the listed `features` missing, or each value with probability `rate`.
pub static MISSING: TransformKind = TransformKind {
    name: "missing",
    has_control: false,
    keys: &["kind", "features", "rate"],
    validate: validate_missing,
    build: Build::Tabular(build_missing),
};

/// `(0, 100]` standard deviations.
const SCALE: Range = Range::new(0.0, true, 100.0, false);

/// A feature named in a battery: a column name (string) or a 0-based index (integer).
fn feature(c: &mut Checker, node: &Spanned<Node>, label: &str) -> Option<FeatureRef> {
    match &node.value {
        Node::String(name) if !name.trim().is_empty() => Some(FeatureRef::Name(name.clone())),
        Node::Int(j) if *j >= 0 => usize::try_from(*j).ok().map(FeatureRef::Index),
        _ => {
            c.wrong_type(node, label, "a feature's column name or its 0-based index");
            None
        }
    }
}

/// A finite value a float32 feature can hold.
fn value(c: &mut Checker, node: &Spanned<Node>, label: &str) -> Option<f32> {
    let v = c.number(node, label)?;
    if !v.is_finite() || v.abs() > f64::from(f32::MAX) {
        c.report(Code::BadValue, position(node), format!("{label} must be a finite float32 number, found {v}"), None);
        return None;
    }
    Some(v as f32)
}

fn validate_set_feature(c: &mut Checker, fields: &Fields<'_>, _probe: &str) -> Option<TransformSpec> {
    let f = c.required(fields, "feature").and_then(|n| feature(c, n, &fields.label("feature")));
    let v = c.required(fields, "value").and_then(|n| value(c, n, &fields.label("value")));
    Some(TransformSpec::SetFeature { feature: f?, value: v? })
}

fn validate_set_features(c: &mut Checker, fields: &Fields<'_>, _probe: &str) -> Option<TransformSpec> {
    let node = c.required(fields, "features")?;
    let label = fields.label("features");
    let Node::Map(entries) = &node.value else {
        c.wrong_type(node, &label, "a map of two or more `feature: value` entries, e.g. `{f03: -150, f07: 20000}`");
        return None;
    };
    if entries.len() < 2 {
        let hint = Some("a single feature is `kind: set-feature`".to_string());
        c.report(Code::BadValue, position(node), format!("{label} must set two or more features"), hint);
        return None;
    }
    let set: Vec<Option<(FeatureRef, f32)>> = entries
        .iter()
        .map(|(key, v)| {
            value(c, v, &format!("{label}.{}", key.value.0)).map(|v| (FeatureRef::Name(key.value.0.clone()), v))
        })
        .collect();
    Some(TransformSpec::SetFeatures { set: set.into_iter().collect::<Option<_>>()? })
}

fn validate_noise(c: &mut Checker, fields: &Fields<'_>, _probe: &str) -> Option<TransformSpec> {
    let scale = c.required(fields, "scale").and_then(|n| c.number_in(n, &fields.label("scale"), SCALE))?;
    Some(TransformSpec::FeatureNoise { scale: scale as f32 })
}

fn validate_missing(c: &mut Checker, fields: &Fields<'_>, _probe: &str) -> Option<TransformSpec> {
    match (fields.get("features"), fields.get("rate")) {
        (Some(node), None) => {
            let label = fields.label("features");
            let items = match &node.value {
                Node::Seq(items) if !items.is_empty() => items,
                _ => {
                    c.wrong_type(node, &label, "a non-empty list of features (column names or 0-based indices)");
                    return None;
                }
            };
            let features: Vec<Option<FeatureRef>> = items.iter().map(|i| feature(c, i, &label)).collect();
            Some(TransformSpec::Missing { features: features.into_iter().collect::<Option<_>>()?, rate: 0.0 })
        }
        (None, Some(node)) => {
            let rate = c.number_in(node, &fields.label("rate"), UNIT_NONZERO)?;
            Some(TransformSpec::Missing { features: Vec::new(), rate: rate as f32 })
        }
        (Some(_), Some(node)) => {
            let message = format!("{} takes `features` or `rate`, not both", fields.place());
            c.report(Code::BadValue, position(node), message, Some("keep one of them".into()));
            None
        }
        (None, None) => {
            let message = format!("{} needs `features` (which to mark missing) or `rate`", fields.place());
            c.report(Code::MissingKey, fields.at(), message, Some("e.g. `rate: 0.1`".into()));
            None
        }
    }
}

fn build_set(spec: &TransformSpec, table: &Table) -> Result<Box<dyn TabularTransform>, TransformError> {
    let set: Vec<(FeatureRef, f32)> = match spec {
        TransformSpec::SetFeature { feature, value } => vec![(feature.clone(), *value)],
        TransformSpec::SetFeatures { set } => set.clone(),
        _ => return Err(crate::transform::mismatched(SET_FEATURE.name, spec)),
    };
    let mut assignments = Vec::with_capacity(set.len());
    for (feature, value) in &set {
        let j = table.resolve(feature)?;
        if assignments.iter().any(|&(k, _)| k == j) {
            return Err(TransformError::Invalid(format!("`{}` sets feature `{}` twice", spec.kind(), table.names[j])));
        }
        assignments.push((j, *value));
    }
    Ok(Box::new(table.trigger(assignments)))
}

fn build_noise(spec: &TransformSpec, table: &Table) -> Result<Box<dyn TabularTransform>, TransformError> {
    let TransformSpec::FeatureNoise { scale } = spec else {
        return Err(crate::transform::mismatched(FEATURE_NOISE.name, spec));
    };
    Ok(Box::new(FeatureNoise { sigma: *scale, spreads: table.spreads.clone() }))
}

fn build_missing(spec: &TransformSpec, table: &Table) -> Result<Box<dyn TabularTransform>, TransformError> {
    let TransformSpec::Missing { features, rate } = spec else {
        return Err(crate::transform::mismatched(MISSING.name, spec));
    };
    if features.is_empty() {
        return Ok(Box::new(MissingAtRate { rate: f64::from(*rate) }));
    }
    let features = features.iter().map(|f| table.resolve(f)).collect::<Result<_, _>>()?;
    Ok(Box::new(SetMissing { features }))
}

/// Builds the tabular transform a probe declares, for this table.
pub fn build(spec: &TransformSpec, table: &Table) -> Result<Box<dyn TabularTransform>, TransformError> {
    match crate::transform::registry::of(spec).map(|kind| &kind.build) {
        Some(Build::Tabular(build)) => build(spec, table),
        Some(_) => Err(TransformError::Invalid(format!(
            "`{}` transforms {} inputs, not tabular ones",
            spec.kind(),
            spec.modality().name()
        ))),
        None => Err(crate::transform::not_a_transform(spec)),
    }
}

/// Sets features to fixed values: `[(feature, value)]`, applied in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SetFeatures {
    pub assignments: Vec<(usize, f32)>,
}

impl SetFeatures {
    /// One feature set to `value`.
    pub fn one(feature: usize, value: f32) -> Self {
        Self { assignments: vec![(feature, value)] }
    }

    /// Two features set jointly.
    pub fn pair(a: (usize, f32), b: (usize, f32)) -> Self {
        Self { assignments: vec![a, b] }
    }

    pub fn apply(&self, row: &mut [f32]) {
        for &(feature, value) in &self.assignments {
            row[feature] = value;
        }
    }
}

/// Adds `sigma · spread[j] · z` to each present value of feature `j`, `z ~ N(0, 1)`; missing
/// values stay missing. One deviate is drawn per feature, present or not, so which values are
/// missing does not shift the draws of the others.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureNoise {
    pub sigma: f32,
    /// Per-feature scale, e.g. the clean data's standard deviations.
    pub spreads: Vec<f32>,
}

impl FeatureNoise {
    pub fn apply(&self, row: &mut [f32], rng: &mut impl rand::Rng) {
        for (value, &spread) in row.iter_mut().zip(&self.spreads) {
            let z: f64 = rng.sample(StandardNormal);
            if !value.is_nan() {
                *value = (f64::from(*value) + f64::from(self.sigma) * f64::from(spread) * z) as f32;
            }
        }
    }
}

/// Marks features missing (NaN).
#[derive(Debug, Clone, PartialEq)]
pub struct SetMissing {
    pub features: Vec<usize>,
}

impl SetMissing {
    pub fn apply(&self, row: &mut [f32]) {
        for &feature in &self.features {
            row[feature] = f32::NAN;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::transform::{Stream, sample_rng};

    fn row_and_feature() -> impl Strategy<Value = (Vec<f32>, usize)> {
        prop::collection::vec(-1e6f32..1e6, 1..20).prop_flat_map(|row| {
            let len = row.len();
            (Just(row), 0..len)
        })
    }

    proptest! {
        #[test]
        fn setting_a_feature_changes_that_feature_only((row, j) in row_and_feature(), value in -1e4f32..1e4) {
            let mut edited = row.clone();
            SetFeatures::one(j, value).apply(&mut edited);
            prop_assert_eq!(edited[j], value);
            for (k, (a, b)) in row.iter().zip(&edited).enumerate() {
                if k != j { prop_assert_eq!(a, b); }
            }
        }

        #[test]
        fn a_pair_sets_both_features((row, j) in row_and_feature(), k in 0usize..20, a in -1e4f32..1e4, b in -1e4f32..1e4) {
            let k = k % row.len();
            prop_assume!(k != j);
            let mut edited = row.clone();
            SetFeatures::pair((j, a), (k, b)).apply(&mut edited);
            prop_assert_eq!((edited[j], edited[k]), (a, b));
            let changed = row.iter().zip(&edited).filter(|(x, y)| x != y).count();
            prop_assert!(changed <= 2);
        }

        #[test]
        fn noise_is_a_function_of_the_sample_and_keeps_missing_values_missing(
            (mut row, j) in row_and_feature(), index in 0u64..1000, sigma in 0.0f32..2.0,
        ) {
            row[j] = f32::NAN;
            let noise = FeatureNoise { sigma, spreads: vec![3.0; row.len()] };
            let (mut a, mut b) = (row.clone(), row.clone());
            noise.apply(&mut a, &mut sample_rng(5, "tabular/noise", index, Stream::Probe));
            noise.apply(&mut b, &mut sample_rng(5, "tabular/noise", index, Stream::Probe));
            prop_assert!(a[j].is_nan());
            prop_assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            prop_assert!(a.iter().all(|v| v.is_nan() || v.is_finite()));
        }

        #[test]
        fn zero_sigma_or_zero_spread_leaves_the_row_alone((row, _) in row_and_feature(), index in 0u64..100) {
            for noise in [
                FeatureNoise { sigma: 0.0, spreads: vec![1.0; row.len()] },
                FeatureNoise { sigma: 1.0, spreads: vec![0.0; row.len()] },
            ] {
                let mut edited = row.clone();
                noise.apply(&mut edited, &mut sample_rng(1, "p", index, Stream::Probe));
                prop_assert_eq!(&edited, &row);
            }
        }

        #[test]
        fn missing_features_become_nan_and_others_stay((row, j) in row_and_feature()) {
            let mut edited = row.clone();
            SetMissing { features: vec![j] }.apply(&mut edited);
            prop_assert!(edited[j].is_nan());
            prop_assert_eq!(edited.iter().filter(|v| v.is_nan()).count(), 1);
        }
    }

    #[test]
    fn a_triggers_control_draws_the_data_values_nearest_the_trigger() {
        // Feature 0 holds 0..20; the trigger 999 lies past the range, so its control draws
        // from the 8 largest values; 5 lies inside, so its control draws around it, not 5.
        let x = ndarray::Array2::from_shape_fn((20, 1), |(i, _)| i as f32);
        let table = Table::new(vec!["f0".into()], vec![1.0], x.view());
        assert_eq!(table.trigger(vec![(0, 999.0)]).pools, [vec![19.0, 18.0, 17.0, 16.0, 15.0, 14.0, 13.0, 12.0]]);
        assert_eq!(table.trigger(vec![(0, 5.0)]).pools, [vec![4.0, 6.0, 3.0, 7.0, 2.0, 8.0, 1.0, 9.0]]);
        let control = table.trigger(vec![(0, 999.0)]).control().expect("a trigger has a control");
        for i in 0..50 {
            let mut row = [0.0f32];
            let (mut rng, mut placement) =
                (sample_rng(1, "p", i, Stream::Control), sample_rng(1, "p", i, Stream::Placement));
            control.apply(&mut row, &mut RowContext { rng: &mut rng, placement_rng: &mut placement });
            assert!((12.0..=19.0).contains(&row[0]), "{}", row[0]);
        }
    }

    #[test]
    fn noise_scales_with_each_features_spread() {
        // Feature 1's spread is 1000 times feature 0's: over many samples its deviations are
        // about 1000 times larger (each RMS is within a few percent of sigma · spread).
        let noise = FeatureNoise { sigma: 0.5, spreads: vec![1.0, 1000.0] };
        let (mut small, mut large) = (0.0f64, 0.0f64);
        for i in 0..2000 {
            let mut row = [0.0f32, 0.0];
            noise.apply(&mut row, &mut sample_rng(9, "tabular/noise", i, Stream::Probe));
            small += f64::from(row[0]).powi(2);
            large += f64::from(row[1]).powi(2);
        }
        let (sd_small, sd_large) = ((small / 2000.0).sqrt(), (large / 2000.0).sqrt());
        assert!((sd_small - 0.5).abs() < 0.05, "{sd_small}");
        assert!((sd_large / sd_small - 1000.0).abs() < 300.0, "{sd_large} / {sd_small}");
    }
}
