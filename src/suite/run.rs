//! `probity suite run SUITE.yaml --results DIR [--shard I/N] [--force]`: one scan per model,
//! through the library's scan ([`crate::app::scan`]), each writing the usual report set.
//!
//! Each item is stored in `DIR/items/<key>/`, where the key is made of content digests
//! ([`super::key`]). The scan stages its reports in a temporary sibling folder and renames it
//! into place when every file is written ([`crate::output::OutputDir`]), so an item folder that
//! exists is complete, whatever interrupted the run (SIGKILL included). A rerun skips every
//! item whose `report.json` is there and reads its verdict from it; `--force` redoes them.
//! Staging folders left by a killed run are removed when the next run starts (one run at a
//! time per results folder: shards write to folders of their own, then `suite merge`).
//!
//! Items run one after another, or `jobs` at a time, each scan then given an equal share of
//! the cores; every number in a scan is independent of threads, and `suite.json` lists items in
//! the suite's order, so the results do not depend on `jobs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::key::{DigestCache, ItemKey, RunFacts, item_key, model_size};
use super::shard::{self, Shard};
use super::spec::{Suite, SuiteModel};
use super::{ITEMS_DIR, ItemVerdict, ModelResult, Strongest, SuiteResults, SuiteSection};
use crate::app::scan::ScanOptions;
use crate::app::setup::{DataOptions, ProbeOptions, Setup};
use crate::battery::spec::{Battery, Modality};
use crate::battery::{self, Diagnostics};
use crate::engine::EngineOptions;
use crate::error::Failure;
use crate::report::{Format, Report};

/// A suite run, as the library takes it.
#[derive(Clone, Default)]
pub struct RunOptions {
    pub suite: PathBuf,
    /// The results folder (created if missing).
    pub results: PathBuf,
    /// Redo items whose result exists.
    pub force: bool,
    pub shard: Option<Shard>,
    /// Scans run at once (at least 1).
    pub jobs: usize,
    /// ONNX Runtime library to load instead of the pinned build.
    pub ort_lib: Option<PathBuf>,
    pub engine: EngineOptions,
    pub progress: Option<Arc<dyn SuiteProgress>>,
}

/// Receives progress while a suite runs (one bar over the items; results never depend on it).
pub trait SuiteProgress: Send + Sync {
    /// `items` items will be run or reused.
    fn start(&self, items: usize);
    /// `model`'s item is done (`kept`: reused from an earlier run).
    fn item_done(&self, model: &str, verdict: ItemVerdict, kept: bool);
    fn finish(&self);
}

/// A finished suite run.
#[derive(Debug)]
pub struct SuiteRun {
    pub results: SuiteResults,
    /// `DIR/suite.json`.
    pub written: PathBuf,
    /// Models scanned by this run.
    pub ran: Vec<String>,
    /// Models whose stored result was reused.
    pub kept: Vec<String>,
    /// Models no scan finished for, and why.
    pub errors: Vec<ItemError>,
}

/// Why a model has no result.
#[derive(Debug)]
pub struct ItemError {
    pub model: String,
    /// The scan's failure (invalid input: exit 2; runtime: exit 3).
    pub failure: Failure,
}

/// One model of the suite, planned.
struct Item {
    index: usize,
    model: SuiteModel,
    batteries: Vec<PathBuf>,
    key: ItemKey,
    id: String,
}

/// What running (or reusing) one item gave.
struct Done {
    result: ModelResult,
    kept: bool,
    error: Option<Failure>,
}

/// Runs the suite (or a shard of it) and writes `DIR/suite.json`.
pub fn run(options: &RunOptions) -> Result<SuiteRun, Failure> {
    let clock = Instant::now();
    let started = crate::output::utc_now();
    let suite = super::spec::load(&options.suite)
        .map_err(|d| Failure::invalid(anyhow::anyhow!("invalid suite file {}:\n{d}", options.suite.display())))?;
    crate::output::check_folder(&options.results).map_err(Failure::invalid)?;
    let runtime = crate::onnxruntime::load(options.ort_lib.as_deref())?;
    let facts = RunFacts {
        seed: suite.seed,
        search_budget: suite.search_budget,
        onnxruntime: runtime.info.library_sha256.clone(),
        execution_provider: options.engine.execution_provider.to_string(),
    };
    let items = plan(&suite, &facts)?;
    let mine: Vec<&Item> = match options.shard {
        None => items.iter().collect(),
        Some(s) => {
            let sizes: Vec<u64> = items.iter().map(|i| model_size(&i.model.path)).collect();
            let shard_of = shard::partition(&sizes, s.count);
            items.iter().zip(shard_of).filter(|(_, of)| *of == s.index).map(|(item, _)| item).collect()
        }
    };
    let items_dir = options.results.join(ITEMS_DIR);
    remove_staging_leftovers(&items_dir);

    let jobs = options.jobs.max(1).min(mine.len().max(1));
    let mut engine = options.engine.clone();
    if jobs > 1 && engine.threads.is_none() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        engine.threads = Some((cores / jobs).max(1));
    }
    if let Some(p) = &options.progress {
        p.start(mine.len());
    }
    let done = in_order(&mine, jobs, |item| {
        let done = run_item(item, &suite, &items_dir, &engine, options);
        if let Some(p) = &options.progress {
            p.item_done(&item.model.model, done.result.verdict, done.kept);
        }
        done
    });
    if let Some(p) = &options.progress {
        p.finish();
    }

    let mut run = SuiteRun {
        results: SuiteResults::new(section(&suite), None, Vec::new(), String::new(), 0.0),
        written: PathBuf::new(),
        ran: Vec::new(),
        kept: Vec::new(),
        errors: Vec::new(),
    };
    let mut models = Vec::new();
    for d in done {
        let model = d.result.model.clone();
        match d.error {
            Some(failure) => run.errors.push(ItemError { model, failure }),
            None if d.kept => run.kept.push(model),
            None => run.ran.push(model),
        }
        models.push(d.result);
    }
    run.results = SuiteResults::new(section(&suite), options.shard, models, started, clock.elapsed().as_secs_f64());
    run.written = run.results.write(&options.results).map_err(|e| {
        Failure::runtime(anyhow::anyhow!("writing {}: {e}", options.results.join(super::RESULTS_FILE).display()))
    })?;
    Ok(run)
}

/// How `suite.json` names the suite.
fn section(suite: &Suite) -> SuiteSection {
    SuiteSection {
        name: suite.name.clone(),
        path: suite.path.clone(),
        sha256: suite.sha256.clone(),
        models: suite.models.len(),
    }
}

/// Every model's batteries and key, computed before any model runs: a bad battery file or an
/// unreadable input stops the suite here (exit 2), with every battery problem listed.
fn plan(suite: &Suite, facts: &RunFacts) -> Result<Vec<Item>, Failure> {
    let mut cache = DigestCache::default();
    let mut problems: Vec<Diagnostics> = Vec::new();
    let mut loaded: Vec<(Vec<PathBuf>, Modality, Vec<Battery>)> = Vec::new();
    let mut items = Vec::new();
    for (index, model) in suite.models.iter().enumerate() {
        let modality = crate::modality::modality_of(&model.data, model.modality);
        let known = loaded.iter().find(|(paths, m, _)| *paths == model.batteries && *m == modality);
        let batteries = match known {
            Some((_, _, b)) => b.clone(),
            None => match load_batteries(&model.batteries, modality) {
                Ok(b) => {
                    loaded.push((model.batteries.clone(), modality, b.clone()));
                    b
                }
                Err(d) => {
                    if !problems.contains(&d) {
                        problems.push(d);
                    }
                    continue;
                }
            },
        };
        let tokenizer = (modality == Modality::Text)
            .then(|| crate::modality::text::encoder::tokenizer_path(model.tokenizer.as_deref(), &model.path))
            .flatten();
        let key = item_key(&suite.path, model, &batteries, tokenizer.as_deref(), facts, &mut cache)
            .map_err(Failure::invalid)?;
        let id = key.id();
        items.push(Item { index, model: model.clone(), batteries: model.batteries.clone(), key, id });
    }
    if !problems.is_empty() {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(Failure::invalid(anyhow::anyhow!(
            "invalid battery in suite {}:\n{}",
            suite.path.display(),
            text.join("\n")
        )));
    }
    Ok(items)
}

/// The batteries an item runs: the files named, or the bundled ones for the data's modality.
fn load_batteries(paths: &[PathBuf], modality: Modality) -> Result<Vec<Battery>, Diagnostics> {
    if paths.is_empty() {
        return battery::defaults(modality);
    }
    let mut batteries = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match battery::load(path) {
            Ok(b) => batteries.push(b),
            Err(d) => problems.extend(d.0),
        }
    }
    if problems.is_empty() { Ok(batteries) } else { Err(Diagnostics(problems)) }
}

/// Runs `work` over `items`, `jobs` at a time, and returns the results in the items' order.
fn in_order<T: Send>(items: &[&Item], jobs: usize, work: impl Fn(&Item) -> T + Sync) -> Vec<T> {
    if jobs <= 1 {
        return items.iter().map(|item| work(item)).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<T>>> = items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = work(item);
                    *slots[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
                }
            });
        }
    });
    slots.into_iter().filter_map(|slot| slot.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)).collect()
}

/// Reuses the item's stored result when there is one (and not `--force`), else scans it.
fn run_item(item: &Item, suite: &Suite, items_dir: &Path, engine: &EngineOptions, options: &RunOptions) -> Done {
    let dir = items_dir.join(&item.id);
    if !options.force
        && let Some(report) = read_report(&dir)
    {
        return Done { result: result(item, &report), kept: true, error: None };
    }
    let model = &item.model;
    let scan = ScanOptions {
        model: model.path.clone(),
        setup: Setup {
            ort_lib: options.ort_lib.clone(),
            data: DataOptions {
                path: model.data.clone(),
                tokenizer: model.tokenizer.clone(),
                image_folder: None,
                modality: model.modality,
                label_column: model.label_column.clone(),
            },
            probes: ProbeOptions {
                batteries: item.batteries.clone(),
                seed: suite.seed,
                scores: None,
                search_budget: suite.search_budget,
                time_budget: None,
            },
            engine: engine.clone(),
        },
        references: model.references.clone(),
        baseline: model.baseline.clone(),
        out: Some(dir),
        // Only reached when no complete result is there: whatever is, is replaced.
        force: true,
        formats: vec![Format::Json, Format::Md],
        ..ScanOptions::default()
    };
    match crate::app::scan::scan(&scan) {
        Ok(scanned) => Done { result: result(item, &scanned.report), kept: false, error: None },
        Err(failure) => {
            let result = ModelResult {
                model: model.model.clone(),
                index: item.index,
                verdict: ItemVerdict::Error,
                report: None,
                key: item.id.clone(),
                digests: item.key.clone(),
                summary: format!("{:#}", failure.error()),
                strongest: None,
                queries: 0,
                elapsed_seconds: 0.0,
            };
            Done { result, kept: false, error: Some(failure) }
        }
    }
}

/// The stored report of a complete item; `None` when absent or unreadable (then rerun).
fn read_report(dir: &Path) -> Option<Report> {
    let text = std::fs::read_to_string(dir.join(Format::Json.file_name())).ok()?;
    serde_json::from_str(&text).ok()
}

fn result(item: &Item, report: &Report) -> ModelResult {
    ModelResult {
        model: item.model.model.clone(),
        index: item.index,
        verdict: report.verdict.into(),
        report: Some(Path::new(ITEMS_DIR).join(&item.id).join(Format::Json.file_name())),
        key: item.id.clone(),
        digests: item.key.clone(),
        summary: report.summary.clone(),
        strongest: Strongest::of(report),
        queries: report.queries,
        elapsed_seconds: report.elapsed_seconds,
    }
}

/// Deletes the staging folders (`.KEY.XXXXXX.tmp`, and `.old` ones set aside by `--force`) that
/// a killed run left in `items/`: never a complete item, so never worth keeping.
fn remove_staging_leftovers(items_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(items_dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && (name.ends_with(".tmp") || name.ends_with(".old")) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
