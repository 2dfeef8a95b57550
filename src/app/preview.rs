//! `probity battery preview`: what a battery's probes do to inputs, without a model, so that a
//! battery author sees a probe before spending a scan on it. Each probe is built by its
//! modality's own kit, exactly as a scan builds it (sample order, transform, matched control,
//! per-sample randomness); only the value range, which a scan may take from the model's clean
//! pass, comes from the data here.
//!
//! Image probes: one PNG grid per probe (`<id>.png`), a row per sample: clean | probed | matched
//! control (empty for a robustness perturbation, which has none). Searches have no fixed
//! transform to show; their candidate space is described instead (`<id>.txt`). Attacks need a
//! model and are only listed. Text and tabular previews are not written yet: they are refused
//! with that said.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::anyhow;

use super::setup::DataOptions;
use crate::battery::{self, spec::Probe, spec::TransformSpec};
use crate::error::Failure;
use crate::modality::{self as data, Data, image};
use crate::output::OutputDir;

/// A preview, as the library takes it.
#[derive(Debug, Clone, Default)]
pub struct PreviewOptions {
    pub battery: PathBuf,
    pub data: DataOptions,
    /// Only this probe (by id); all of them when `None`.
    pub probe: Option<String>,
    /// Samples per probe.
    pub count: usize,
    /// Replaces the battery's seed.
    pub seed: Option<u64>,
    pub out: PathBuf,
    pub force: bool,
}

/// One file written, with what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewFile {
    pub probe: String,
    /// Where it is now (inside `out`).
    pub path: PathBuf,
    /// A line for the user: the grid's size, the search space, or why there is nothing to show.
    pub summary: String,
}

/// Writes the previews into `options.out`.
pub fn preview(options: &PreviewOptions) -> Result<Vec<PreviewFile>, Failure> {
    let out = OutputDir::create(&options.out, options.force).map_err(Failure::invalid)?;
    let load = data::LoadOptions {
        folder: options.data.image_folder.as_ref(),
        modality: options.data.modality,
        label_column: options.data.label_column.as_deref(),
    };
    let loaded = data::load_any(&options.data.path, &load).map_err(Failure::invalid)?;
    let battery = battery::load(&options.battery).map_err(|d| Failure::invalid(anyhow!("invalid battery:\n{d}")))?;
    if battery.modality != loaded.modality() {
        return Err(Failure::invalid(anyhow!(
            "battery {} is for {} inputs, but {} holds {} inputs",
            options.battery.display(),
            battery.modality.name(),
            options.data.path.display(),
            loaded.modality().name()
        )));
    }
    let probes: Vec<&Probe> = match &options.probe {
        None => battery.probes.iter().collect(),
        Some(id) => {
            let found: Vec<&Probe> = battery.probes.iter().filter(|p| &p.id == id).collect();
            if found.is_empty() {
                let ids: Vec<&str> = battery.probes.iter().map(|p| p.id.as_str()).collect();
                return Err(Failure::invalid(anyhow!(
                    "battery {} has no probe `{id}`; its probes: {}",
                    options.battery.display(),
                    ids.join(", ")
                )));
            }
            found
        }
    };
    let Data::Images(dataset) = &loaded else {
        return Err(Failure::invalid(anyhow!(
            "battery preview shows image batteries so far; {} batteries are not previewed yet",
            battery.modality.name()
        )));
    };
    let seed = battery.seed(options.seed);
    let mut files = Vec::new();
    for probe in probes {
        let (name, bytes, summary) = match &probe.transform {
            TransformSpec::Search(spec) => {
                let outline = image::search_outline(dataset, &battery, seed, spec).map_err(Failure::invalid)?;
                let text = describe_search(probe, outline.as_ref());
                let summary = text.lines().next().unwrap_or_default().to_string();
                (format!("{}.txt", probe.id), text.into_bytes(), summary)
            }
            TransformSpec::Attack(spec) => {
                let text = format!(
                    "{}: a `{}` attack searches each input with the model's answers; there is nothing to show \
                     without a model\n",
                    probe.id,
                    spec.method()
                );
                let summary = text.trim_end().to_string();
                (format!("{}.txt", probe.id), text.into_bytes(), summary)
            }
            _ => {
                let shown = image::preview(dataset, &battery, seed, probe, options.count).map_err(Failure::invalid)?;
                let (png, width, height) =
                    image::png::grid_png(&shown.rows, &shown.range).map_err(|e| Failure::runtime(anyhow!(e)))?;
                let columns = if shown.rows.iter().flatten().any(|cells| cells.is_none()) {
                    "clean | probed (no control: a robustness perturbation)"
                } else {
                    "clean | probed | matched control"
                };
                let summary = format!("{} rows × {columns}, {width}×{height} px", shown.rows.len());
                (format!("{}.png", probe.id), png, summary)
            }
        };
        crate::output::write_atomic(&out.path().join(&name), &bytes)
            .map_err(|e| Failure::runtime(anyhow!("writing {name}: {e}")))?;
        files.push(PreviewFile { probe: probe.id.clone(), path: out.final_path(&out.path().join(&name)), summary });
    }
    out.commit().map_err(|e| Failure::runtime(anyhow!("moving the previews into place: {e}")))?;
    Ok(files)
}

/// A search probe's candidate space, in words.
fn describe_search(probe: &Probe, outline: Option<&crate::search::patch::SpaceOutline>) -> String {
    let mut text = String::new();
    let TransformSpec::Search(spec) = &probe.transform else { return text };
    match outline {
        Some(outline) => {
            let _ = writeln!(
                text,
                "{}: patch search over {} candidates ({} sizes × positions × {} contents), budget {} queries",
                probe.id,
                outline.candidates,
                outline.sizes.len(),
                outline.contents,
                spec.budget()
            );
            for (height, width, rows, columns) in &outline.sizes {
                let _ = writeln!(
                    text,
                    "  {width}×{height} px at {rows} rows × {columns} columns = {} places",
                    rows * columns
                );
            }
            let _ = writeln!(
                text,
                "The search coarsens this grid when its budget cannot try every candidate on enough inputs."
            );
        }
        None => {
            let _ = writeln!(
                text,
                "{}: `{}` search, budget {} queries: it optimises a trigger against the model, so it has no \
                 candidate list to show",
                probe.id,
                spec.method(),
                spec.budget()
            );
        }
    }
    text
}
