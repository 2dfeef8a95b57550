//! `probity battery preview`: what a battery's probes do to inputs, without a model, so that a
//! battery author sees a probe before spending a scan on it. Each probe is built by its
//! modality's own kit code, exactly as a scan builds it (sample order, transform, matched
//! control, per-sample randomness); what a scan would take from the model comes from the data
//! (an image battery's value range) or the tokenizer (a text model's sequence length) here.
//!
//! One file per probe in `--out`:
//! - image probes: a PNG grid (`<id>.png`), a row per sample: clean | probed | matched control
//!   (empty for a robustness perturbation, which has none);
//! - text probes: an HTML page (`<id>.html`), a row per sample: clean | probed | matched control,
//!   each text with the tokens the model reads, what the probe changed highlighted. Text
//!   probes need the tokenizer (`--tokenizer`): its vocabulary is what they insert and draw
//!   their controls from;
//! - tabular probes: a Markdown table (`<id>.md`) of the values the probe or its control
//!   changed: sample, feature, clean, probed, control;
//! - searches have no fixed transform to show; their candidate space is described instead
//!   (`<id>.txt`: patch sizes and places, the vocabulary slice a sweep tries, the values a
//!   feature sweep sets). Attacks need a model and are only listed.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::anyhow;

use super::setup::DataOptions;
use crate::battery;
use crate::battery::spec::{Probe, SearchSpec, SweepInputs, TextPosition, TransformSpec};
use crate::error::Failure;
use crate::modality::{self as data, Data, image, tabular, text};
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
    let seed = battery.seed(options.seed);
    let tokenizer = match &loaded {
        Data::Text(_) => Some(tokenizer(options)?),
        _ => None,
    };
    let mut files = Vec::new();
    for probe in probes {
        let (name, bytes, summary) = match (&loaded, &probe.transform) {
            (_, TransformSpec::Attack(spec)) => {
                let text = format!(
                    "{}: a `{}` attack searches each input with the model's answers; there is nothing to show \
                     without a model\n",
                    probe.id,
                    spec.method()
                );
                let summary = text.trim_end().to_string();
                (format!("{}.txt", probe.id), text.into_bytes(), summary)
            }
            (data, TransformSpec::Search(spec)) => {
                let text = match data {
                    Data::Images(dataset) => {
                        let outline = image::search_outline(dataset, &battery, seed, spec).map_err(Failure::invalid)?;
                        describe_image_search(probe, spec, &outline)
                    }
                    Data::Text(_) => {
                        let tokenizer = tokenizer.as_ref().expect("loaded for text data");
                        describe_vocabulary_search(probe, spec, text::search_outline(tokenizer, spec).as_ref())
                    }
                    Data::Tabular(table) => {
                        describe_feature_search(probe, spec, tabular::kit::search_outline(table, spec).as_deref())
                    }
                };
                let summary = text.lines().next().unwrap_or_default().to_string();
                (format!("{}.txt", probe.id), text.into_bytes(), summary)
            }
            (Data::Images(dataset), _) => {
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
            (Data::Text(dataset), _) => {
                let tokenizer = tokenizer.as_ref().expect("loaded for text data");
                let rows = text::preview(dataset, tokenizer, &battery, seed, probe, options.count)
                    .map_err(Failure::invalid)?;
                let columns = if rows.iter().any(|row| row.control.is_none()) {
                    "clean | probed (no control: a robustness perturbation)"
                } else {
                    "clean | probed | matched control"
                };
                let lead = format!(
                    "The {} {} probe of battery {} (seed {seed}) on the first {} of its samples: {columns}. \
                     Highlighted: what differs from the clean text (word by word) and from the clean tokens. \
                     Under each text, its tokens as tokenizer {} splits them, up to its {} positions.",
                    probe.transform.kind(),
                    crate::report::text::category_word(probe.category),
                    battery.name,
                    rows.len(),
                    tokenizer.path.display(),
                    tokenizer.max_length
                );
                let summary = format!("{} texts × {columns}", rows.len());
                (format!("{}.html", probe.id), text::page::html(&probe.id, &lead, &rows).into_bytes(), summary)
            }
            (Data::Tabular(table), _) => {
                let changed =
                    tabular::kit::preview(table, &battery, seed, probe, options.count).map_err(Failure::invalid)?;
                let samples = options.count.min(probe.samples).min(table.len());
                let summary = format!("{} changed values in {samples} rows", changed.len());
                (format!("{}.md", probe.id), changed_table(probe, samples, &changed).into_bytes(), summary)
            }
        };
        crate::output::write_atomic(&out.path().join(&name), &bytes)
            .map_err(|e| Failure::runtime(anyhow!("writing {name}: {e}")))?;
        files.push(PreviewFile { probe: probe.id.clone(), path: out.final_path(&out.path().join(&name)), summary });
    }
    out.commit().map_err(|e| Failure::runtime(anyhow!("moving the previews into place: {e}")))?;
    Ok(files)
}

/// An image search probe's candidate space, in words.
fn describe_image_search(probe: &Probe, spec: &SearchSpec, outline: &image::SearchOutline) -> String {
    let mut text = String::new();
    let g = &outline.geometry;
    let pixels = g.height * g.width;
    match (&outline.patch, spec) {
        (Some(outline), _) => {
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
        (None, SearchSpec::ReverseEngineer { directions, sigma, learning_rate, budget }) => {
            let _ = writeln!(
                text,
                "{}: `reverse-engineer` search, budget {budget} queries: for each class, the smallest mask and \
                 pattern that send inputs to it",
                probe.id
            );
            let _ = writeln!(
                text,
                "Its space is every mask over the {}×{} = {pixels} pixels and every {}-channel pattern over them in \
                 the valid range, optimised against the model with NES gradient estimates ({directions} \
                 antithetic directions, sigma {sigma}, learning rate {learning_rate}); there is no candidate list \
                 to show. The class whose mask is anomalously small is confirmed on held-out inputs.",
                g.width, g.height, g.channels
            );
        }
        (None, SearchSpec::AdversarialPeak { inputs, budget }) => {
            let _ = writeln!(
                text,
                "{}: `adversarial-peak` search, budget {budget} queries: targeted HopSkipJump towards each class \
                 from {inputs} search inputs of other classes",
                probe.id
            );
            let _ = writeln!(
                text,
                "Each attack gets budget / (classes × {inputs}) queries and perturbs the {}×{} = {pixels} pixels of \
                 a {}-channel image; the class whose perturbations concentrate on the fewest pixels is confirmed on \
                 held-out inputs. The attacks need the model's answers: there is no candidate list to show.",
                g.width, g.height, g.channels
            );
        }
        (None, _) => {
            let _ = writeln!(
                text,
                "{}: `{}` searches {} inputs, not images",
                probe.id,
                spec.method(),
                spec.modality().name()
            );
        }
    }
    text
}

/// The tokenizer text probes are built with: `--tokenizer`, required (there is no model to
/// find one beside).
fn tokenizer(options: &PreviewOptions) -> Result<text::TextTokenizer, Failure> {
    let Some(path) = &options.data.tokenizer else {
        return Err(Failure::invalid(anyhow!(
            "text probes insert the tokenizer's tokens and draw their controls from its vocabulary: pass the \
             model's tokenizer.json with --tokenizer PATH (no model is needed)"
        )));
    };
    text::TextTokenizer::load(path).map_err(Failure::invalid)
}

/// A vocabulary sweep's candidate space, in words: the slice of the vocabulary it tries (sizes
/// and the first tokens in the order it takes them) and where it puts them.
fn describe_vocabulary_search(
    probe: &Probe,
    spec: &SearchSpec,
    outline: Option<&crate::search::vocabulary::Outline>,
) -> String {
    let mut text = String::new();
    let Some(outline) = outline else {
        let _ = writeln!(text, "{}: `{}` searches images, not texts", probe.id, spec.method());
        return text;
    };
    let admitted = outline.whole_words + outline.sub_words + outline.special;
    let _ = writeln!(
        text,
        "{}: vocabulary sweep over {admitted} of the tokenizer's {} tokens ({} whole words, {} sub-word pieces, {} \
         special), budget {} queries",
        probe.id,
        outline.vocabulary,
        outline.whole_words,
        outline.sub_words,
        outline.special,
        spec.budget()
    );
    let _ = writeln!(
        text,
        "Each token is inserted at one word boundary per input, drawn once per input and shared by every token."
    );
    if outline.screened {
        let _ = writeln!(
            text,
            "Above {} tokens a group screen (groups of {}) chooses which tokens are swept one by one.",
            crate::search::vocabulary::screen::SCREEN_ABOVE,
            crate::search::vocabulary::screen::GROUP_SIZE
        );
    }
    if outline.pairs > 1 {
        let _ = writeln!(
            text,
            "The best {} tokens are also inserted two at a time ({} pairs).",
            outline.pairs,
            outline.pairs * (outline.pairs - 1) / 2
        );
    }
    if let SearchSpec::Vocabulary { words, positions, inputs, .. } = spec {
        if *inputs == SweepInputs::Uncertain {
            let _ = writeln!(
                text,
                "It sweeps the uncertain half of the samples (clean confidence below the median), with its own \
                 control and held-out confirmation there."
            );
        }
        if let Some(words) = words {
            let _ = writeln!(
                text,
                "The words and phrases of {} that the tokenizer splits are also swept, each as one unit (its pieces \
                 inserted together).",
                words.display()
            );
        }
        let places: Vec<&str> = positions
            .iter()
            .filter_map(|p| match p {
                TextPosition::Start => Some("start"),
                TextPosition::End => Some("end"),
                TextPosition::Random => None,
            })
            .collect();
        if !places.is_empty() {
            let _ = writeln!(
                text,
                "Then each admitted token is tried alone at the {} of the text as well, and the strongest there are \
                 swept against words put at the same place.",
                places.join(" and the ")
            );
        }
    }
    let quoted: Vec<String> = outline.first.iter().map(|t| format!("'{}'", crate::report::text::visible(t))).collect();
    let _ = writeln!(text, "First {} tokens in the order tried: {}", quoted.len(), quoted.join(" "));
    text
}

/// A feature value sweep's candidate space, in words: the values it sets each feature to.
fn describe_feature_search(probe: &Probe, spec: &SearchSpec, outline: Option<&[(String, Vec<f32>)]>) -> String {
    let mut text = String::new();
    let Some(features) = outline else {
        let _ = writeln!(text, "{}: `{}` does not search tables", probe.id, spec.method());
        return text;
    };
    let singles: usize = features.iter().map(|(_, values)| values.len()).sum();
    let _ = writeln!(
        text,
        "{}: feature value sweep over {} features, {singles} single edits (a feature set to one value), budget {} \
         queries",
        probe.id,
        features.len(),
        spec.budget()
    );
    if let SearchSpec::FeatureSweep { pairs, .. } = spec
        && *pairs > 1
    {
        let _ = writeln!(text, "The best {pairs} features are also set two at a time.");
    }
    let beyond: Vec<String> = tabular::search::BEYOND.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        text,
        "Values per feature: quantiles, beyond the range by {} spreads, and sentinels:",
        beyond.join(", ")
    );
    for (name, values) in features {
        let values: Vec<String> = values.iter().map(ToString::to_string).collect();
        let _ = writeln!(text, "  {name} ({}): {}", values.len(), values.join(" "));
    }
    text
}

/// The values a tabular probe changed, as a Markdown table.
fn changed_table(probe: &Probe, samples: usize, changed: &[tabular::kit::ChangedValue]) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# {}\n\n`{}` {} probe: the values {} changed in its first {samples} samples.\n",
        probe.id,
        probe.transform.kind(),
        crate::report::text::category_word(probe.category),
        if crate::transform::registry::of(&probe.transform).is_some_and(|kind| kind.has_control) {
            "it or its matched control"
        } else {
            "it (a robustness perturbation, no control)"
        }
    );
    if changed.is_empty() {
        let _ = writeln!(text, "Nothing changed in these samples.");
        return text;
    }
    let _ = writeln!(text, "| sample | feature | clean | probed | control |\n|---:|---|---:|---:|---:|");
    for c in changed {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} |",
            c.index,
            c.feature.replace('|', "\\|"),
            c.clean,
            c.probed,
            c.control.as_deref().unwrap_or("–")
        );
    }
    text
}
