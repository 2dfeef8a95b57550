//! Tabular probes: how a tabular battery's probes turn clean rows into probed rows, how the
//! feature value sweep ([`super::search`]) queries the candidate, and how the data is readied
//! for a model (one float32 input `[N, F]` with F the data's feature count). Probed rows need
//! only the data, so `battery preview` builds the same samples without a model ([`preview`],
//! [`search_outline`]).
//!
//! A model that outputs non-finite scores on rows with missing values cannot take them; a
//! probe that marks values missing then stops the scan with that explanation instead of
//! judging NaN scores.

use ndarray::{Array2, Axis};
use rayon::prelude::*;

use super::data::{FeatureStats, TabularData};
use super::search::{self, RowOracle, SweepInput};
use super::transforms::{self, RowContext, Table, TabularTransform};
use crate::battery::spec::{Battery, Modality, Probe, SearchSpec, TransformSpec};
use crate::engine::{Dim, Engine, EngineError, InputData};
use crate::error::Failure;
use crate::modality::{LoadedData, ModelInputOptions, ModelInputs};
use crate::predictions::{Predictions, ScoreKind};
use crate::runner::{
    Batch, CleanData, EXAMPLES, Example, FeatureChange, ImageInterpretation, Kit, Part, Prepared, ScanError,
    ScanInputs, SearchContext, Session, with_budget,
};
use crate::search::{SearchClassSummary, SearchSummary};
use crate::transform::{ProbeRngs, Stream};

impl CleanData for TabularData {
    fn modality(&self) -> Modality {
        Modality::Tabular
    }

    fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn sha256(&self) -> &str {
        &self.sha256
    }

    fn len(&self) -> usize {
        TabularData::len(self)
    }

    fn labels(&self) -> Option<&[i64]> {
        self.y.as_deref()
    }
}

impl LoadedData for TabularData {
    fn prepare<'a>(&'a self, engine: &mut Engine, _: &ModelInputOptions<'_>) -> Result<ModelInputs<'a>, Failure> {
        let input = table_input(engine, self).map_err(Failure::invalid)?;
        let (stats, table) = columns(self);
        Ok(ModelInputs::plain(TabularInputs { data: self, input, stats, table }))
    }
}

/// What probes need to know about the data's columns: per-feature statistics (quantiles at
/// [`search::QUANTILE_LEVELS`]) and the table transforms are built for.
fn columns(data: &TabularData) -> (Vec<FeatureStats>, Table) {
    let stats = data.stats(&search::QUANTILE_LEVELS);
    let spreads = stats.iter().map(|s| s.spread() as f32).collect();
    let table = Table::new(data.features.clone(), spreads, data.x.view());
    (stats, table)
}

/// The model's one float32 input `[N, F]`, with F the data's feature count where the model fixes it.
fn table_input(engine: &Engine, data: &TabularData) -> Result<String, anyhow::Error> {
    let features = data.features.len();
    let model = engine.model_path.display();
    let [single] = engine.signature.inputs.as_slice() else {
        let names: Vec<String> =
            engine.signature.inputs.iter().map(|i| format!("{} {}", i.name, i.element_type)).collect();
        anyhow::bail!(
            "{model} takes {} inputs ({}); tabular data feeds a model with one float32 input [N, {features}]",
            names.len(),
            names.join(", ")
        );
    };
    let shape = single.shape_string();
    if single.element_type != "float32" || single.shape.len() != 2 {
        anyhow::bail!(
            "{model} takes `{}` {} {shape}, but {} holds rows of {features} features: a tabular model takes float32 \
             [N, {features}] (for images pass .npz/.npy data, for text .jsonl/.txt)",
            single.name,
            single.element_type,
            data.path.display()
        );
    }
    if let Dim::Fixed(f) = single.shape[1]
        && f as usize != features
    {
        anyhow::bail!(
            "{model} takes {f} features per row (`{}` {shape}), but {} has {features} feature columns ({}); pass \
             the data the model was trained on (--label-column names the label column)",
            single.name,
            data.path.display(),
            data.features.join(", ")
        );
    }
    Ok(single.name.clone())
}

/// Clean rows with the model input they feed and what probes need to know about the columns.
pub struct TabularInputs<'a> {
    pub data: &'a TabularData,
    /// The model's input name.
    pub input: String,
    /// Per-feature statistics, quantiles at [`search::QUANTILE_LEVELS`].
    pub stats: Vec<FeatureStats>,
    pub table: Table,
}

impl TabularInputs<'_> {
    fn batch(&self, rows: Array2<f32>) -> Batch {
        vec![(self.input.clone(), InputData::F32(rows.into_dyn()))]
    }
}

impl CleanData for TabularInputs<'_> {
    fn modality(&self) -> Modality {
        Modality::Tabular
    }

    fn path(&self) -> &std::path::Path {
        &self.data.path
    }

    fn sha256(&self) -> &str {
        &self.data.sha256
    }

    fn len(&self) -> usize {
        self.data.len()
    }

    fn labels(&self) -> Option<&[i64]> {
        self.data.y.as_deref()
    }
}

impl ScanInputs for TabularInputs<'_> {
    type Session<'s>
        = &'s TabularInputs<'s>
    where
        Self: 's;

    /// The input was checked against the candidate when the data was readied.
    fn session(&self, _: &Engine, _: &[Battery]) -> Result<&TabularInputs<'_>, ScanError> {
        Ok(self)
    }
}

impl<'a> Session for &'a TabularInputs<'a> {
    type Kit<'k>
        = TabularKit<'k>
    where
        Self: 'k;

    fn clean_chunk(&mut self, chunk: &[usize], _candidate: bool) -> Result<Batch, ScanError> {
        Ok(self.batch(self.data.x.select(Axis(0), chunk)))
    }

    fn kit(&mut self, _: &Battery, seed: u64) -> Result<(TabularKit<'_>, Option<ImageInterpretation>), ScanError> {
        Ok((TabularKit { seed, inputs: self }, None))
    }
}

/// A tabular battery over one data set.
pub struct TabularKit<'a> {
    seed: u64,
    inputs: &'a TabularInputs<'a>,
}

impl TabularKit<'_> {
    /// Row `index` after `transform`.
    fn row(&self, rngs: &ProbeRngs, index: usize, transform: &dyn TabularTransform, stream: Stream) -> Vec<f32> {
        probe_row(self.inputs.data, rngs, index, transform, stream)
    }

    /// Rows at `indices` after `transform`, `[n, F]`.
    fn rows(&self, key: &str, indices: &[usize], transform: &dyn TabularTransform, stream: Stream) -> Array2<f32> {
        let rngs = ProbeRngs::new(self.seed, key);
        let f = self.inputs.table.names.len();
        let values: Vec<f32> = indices.par_iter().flat_map_iter(|&i| self.row(&rngs, i, transform, stream)).collect();
        Array2::from_shape_vec((indices.len(), f), values).expect("F values per row")
    }
}

impl Kit for TabularKit<'_> {
    type Transform = dyn TabularTransform;

    fn prepare(
        &self,
        probe: &Probe,
        key: &str,
        indices: &[usize],
        ctx: SearchContext<'_>,
    ) -> Result<Prepared<dyn TabularTransform>, ScanError> {
        let invalid = |detail: String| ScanError::Transform { battery: String::new(), probe: probe.id.clone(), detail };
        match &probe.transform {
            TransformSpec::Search(spec) => {
                let SearchSpec::FeatureSweep { pairs, budget } = with_budget(spec, ctx.budget) else {
                    return Err(invalid(format!(
                        "`{}` does not search tables; tabular models need `method: feature-sweep`",
                        probe.transform.kind()
                    )));
                };
                // Sweep a third, confirm the chosen edit on the two thirds it never saw.
                let (search_part, confirm_part) = indices.split_at(indices.len().div_ceil(3));
                let inputs = self.inputs;
                let rows = inputs.data.x.select(Axis(0), search_part);
                let clean: Vec<usize> = search_part.iter().map(|&i| ctx.clean.class[i]).collect();
                let input = SweepInput {
                    rows: rows.view(),
                    clean: &clean,
                    classes: ctx.classes,
                    stats: &inputs.stats,
                    names: &inputs.table.names,
                    seed: self.seed,
                    key,
                };
                let settings = search::Settings { pair_features: pairs, budget };
                let mut oracle = EngineOracle { engine: ctx.engine, input: &inputs.input, kind: ctx.kind };
                let Some(found) = search::sweep(&mut oracle, &input, &settings)? else {
                    return Err(invalid("there are no rows or features to sweep".into()));
                };
                let assignments = found.chosen.set.iter().map(|s| (s.feature, s.value)).collect();
                let transform: Box<dyn TabularTransform> = Box::new(inputs.table.trigger(assignments));
                let summary = summarise(&found, search_part.len(), confirm_part.len());
                Ok(Prepared::found(transform, confirm_part, summary, found.queries))
            }
            _ => Ok(Prepared::fixed(fixed(probe, &self.inputs.table)?, indices)),
        }
    }

    fn control(&self, transform: &dyn TabularTransform) -> Option<Box<dyn TabularTransform>> {
        transform.control()
    }

    fn build(&self, parts: &[Part<'_, dyn TabularTransform>]) -> Result<Batch, ScanError> {
        let f = self.inputs.table.names.len();
        let mut values: Vec<f32> = Vec::new();
        let mut n = 0;
        for part in parts {
            values.extend(self.rows(part.key, part.indices, part.transform, part.stream));
            n += part.indices.len();
        }
        Ok(self.inputs.batch(Array2::from_shape_vec((n, f), values).expect("F values per row")))
    }

    fn examples(
        &self,
        key: &str,
        indices: &[usize],
        transform: &dyn TabularTransform,
        clean: &Predictions,
        probed: &Predictions,
    ) -> Vec<Example> {
        let rngs = ProbeRngs::new(self.seed, key);
        let names = &self.inputs.table.names;
        indices
            .iter()
            .enumerate()
            .take(EXAMPLES)
            .map(|(k, &index)| {
                let before = self.inputs.data.x.row(index);
                let after = self.row(&rngs, index, transform, Stream::Probe);
                let changes = before
                    .iter()
                    .zip(&after)
                    .enumerate()
                    .filter(|(_, (a, b))| a.to_bits() != b.to_bits())
                    .map(|(j, (a, b))| FeatureChange { feature: names[j].clone(), clean: cell(*a), probed: cell(*b) })
                    .collect();
                Example {
                    index,
                    changes,
                    clean_class: clean.class[index],
                    probed_class: probed.class[k],
                    ..Example::default()
                }
            })
            .collect()
    }
}

/// Row `index` of `data` after `transform`, with the sample's generators for `stream`.
fn probe_row(
    data: &TabularData,
    rngs: &ProbeRngs,
    index: usize,
    transform: &dyn TabularTransform,
    stream: Stream,
) -> Vec<f32> {
    let mut row = data.x.row(index).to_vec();
    let mut rng = rngs.sample(index as u64, stream);
    let mut placement_rng = rngs.sample(index as u64, Stream::Placement);
    let mut ctx = RowContext { rng: &mut rng, placement_rng: &mut placement_rng };
    transform.apply(&mut row, &mut ctx);
    row
}

/// The fixed transform a (non-search) probe declares, for this table.
fn fixed(probe: &Probe, table: &Table) -> Result<Box<dyn TabularTransform>, ScanError> {
    transforms::build(&probe.transform, table).map_err(|e| ScanError::Transform {
        battery: String::new(),
        probe: probe.id.clone(),
        detail: e.to_string(),
    })
}

/// One value a tabular probe changed in a sample (`battery preview`), as reports write values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedValue {
    /// The sample's row among the data's rows, from 0.
    pub index: usize,
    pub feature: String,
    pub clean: String,
    pub probed: String,
    /// After the matched control; `None` for a robustness perturbation, which has none.
    pub control: Option<String>,
}

/// What a tabular probe does to its first `count` samples under `seed`, without a model
/// (`battery preview`): the values the probe or its control changed, built as a scan builds
/// them (sample order, transform, control, per-sample randomness). Searches and attacks have
/// no fixed transform to show.
pub fn preview(
    data: &TabularData,
    battery: &Battery,
    seed: u64,
    probe: &Probe,
    count: usize,
) -> Result<Vec<ChangedValue>, ScanError> {
    let (_, table) = columns(data);
    let transform = fixed(probe, &table)?;
    let control = transform.control();
    let rngs = ProbeRngs::new(seed, &crate::runner::probe_key(battery, probe));
    let order = crate::runner::sample_order(seed, data.len());
    let mut changed = Vec::new();
    for &index in order[..probe.samples.min(order.len())].iter().take(count) {
        let clean = data.x.row(index);
        let probed = probe_row(data, &rngs, index, transform.as_ref(), Stream::Probe);
        let controlled = control.as_deref().map(|c| probe_row(data, &rngs, index, c, Stream::Control));
        for (j, &value) in clean.iter().enumerate() {
            let differs = |row: &[f32]| row[j].to_bits() != value.to_bits();
            if differs(&probed) || controlled.as_deref().is_some_and(differs) {
                changed.push(ChangedValue {
                    index,
                    feature: table.names[j].clone(),
                    clean: cell(value),
                    probed: cell(probed[j]),
                    control: controlled.as_ref().map(|row| cell(row[j])),
                });
            }
        }
    }
    Ok(changed)
}

/// The values a feature value sweep tries per feature over this data (`battery preview`), in
/// column order; `None` for other searches.
pub fn search_outline(data: &TabularData, spec: &SearchSpec) -> Option<Vec<(String, Vec<f32>)>> {
    let SearchSpec::FeatureSweep { .. } = spec else { return None };
    let (stats, table) = columns(data);
    Some(table.names.into_iter().zip(stats.iter().map(search::candidate_values)).collect())
}

/// A value as reports write it: the shortest decimal that reads back as the same float32.
fn cell(value: f32) -> String {
    if value.is_nan() { "missing".into() } else { value.to_string() }
}

/// The candidate as the sweep sees it: feature rows in, predicted classes out.
struct EngineOracle<'a> {
    engine: &'a mut Engine,
    input: &'a str,
    kind: ScoreKind,
}

impl RowOracle for EngineOracle<'_> {
    fn classify(&mut self, rows: &[f32], n: usize, features: usize) -> Result<Vec<usize>, EngineError> {
        let x = Array2::from_shape_vec((n, features), rows.to_vec()).expect("n rows of F values");
        let scores = self.engine.classify(&[(self.input.to_string(), InputData::F32(x.into_dyn()))])?;
        Ok(Predictions::from_scores(&scores, self.kind).class)
    }
}

/// The report's view of a sweep: each class's best edit ("f11 = 999") and the whole sweep.
fn summarise(found: &search::Sweep, search_samples: usize, confirmation_samples: usize) -> SearchSummary {
    let per_class = found
        .per_class
        .iter()
        .enumerate()
        .filter_map(|(class, best)| best.as_ref().map(|b| (class, b)))
        .map(|(class, b)| SearchClassSummary {
            class,
            statistic: b.flip_into_rate,
            anomaly_index: b.robust_z,
            attack_success_rate: b.flip_into_rate,
            mask_l1: b.set.len() as f64,
            description: b.description(),
        })
        .collect();
    SearchSummary {
        method: "feature-sweep".into(),
        statistic: "flip-into rate".into(),
        per_class,
        chosen_class: found.chosen.class,
        queries: found.queries,
        search_samples,
        confirmation_samples,
        mask_png: String::new(),
        pattern_png: String::new(),
        mask_l1: found.chosen.set.len() as f64,
        mask_bounds: None,
        vocabulary: None,
        features: Some(found.clone()),
        trigger: Some(format!("{} → class {}", found.chosen.description(), found.chosen.class)),
        coverage: None,
        budget: None,
    }
}
