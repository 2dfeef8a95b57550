//! Image probes: how an image battery's probes turn clean `[N, C, H, W]` or
//! `[N, H, W, C]` arrays into probed batches, how the layout and valid value range are
//! interpreted, and how image searches (patch, reverse-engineering) query the candidate.

use ndarray::{Array3, ArrayD, ArrayView3, ArrayViewMut3, Axis, IxDyn};
use rayon::prelude::*;

use super::data::{Dataset, Subset};
use super::png::png_base64;
use crate::attack::{self, Adversarial, AttackInput, AttackResult, AttackRun, AttackSummary, Outcomes};
use crate::battery::spec::{
    AttackSpec, Battery, Epsilon, Layout, Modality, Probe, SearchSpec, TransformSpec, ValueRangeSpec,
};
use crate::engine::{Engine, EngineError, InputData};
use crate::predictions::{Predictions, ScoreKind, to_probabilities};
use crate::runner::{
    Batch, CHUNK, CleanData, EXAMPLES, Example, ImageInterpretation, Kit, Part, Prepared, ScanError, ScanInputs,
    SearchContext, Session, sample_order, with_budget,
};
use crate::search::{self, Oracle, SearchInput, SearchOutcome, SearchSummary};
use crate::transform::{self, Geometry, LazyRng, ProbeRngs, SampleContext, Stream, Transform, ValueRange};

/// The single image input of an image classifier.
fn image_input(engine: &Engine) -> Result<String, ScanError> {
    let inputs = &engine.signature.inputs;
    match inputs.as_slice() {
        [single] if single.element_type == "float32" => Ok(single.name.clone()),
        inputs => {
            let names: Vec<String> = inputs.iter().map(|i| format!("{} {}", i.name, i.element_type)).collect();
            Err(ScanError::Incompatible(format!(
                "image data needs a model with one float32 image input; {} declares {} ({})",
                engine.model_path.display(),
                inputs.len(),
                names.join(", ")
            )))
        }
    }
}

/// Checks that the data fits the model's image input, before anything runs.
fn check(engine: &Engine, dataset: &Dataset) -> Result<String, ScanError> {
    let input = image_input(engine)?;
    if dataset.shape().len() != 4 {
        return Err(ScanError::Incompatible(format!(
            "image probes need 4-D inputs [N, C, H, W] or [N, H, W, C]; the data is {:?}",
            dataset.shape()
        )));
    }
    let first = dataset.read(&[0])?;
    engine.check_inputs(&[(input.clone(), InputData::F32(first))])?;
    Ok(input)
}

/// The clean inputs at `chunk`, read from the data (memory stays bounded by the chunk).
fn clean_chunk(
    input: &str,
    dataset: &Dataset,
    chunk: &[usize],
    extremes: Option<&mut Extremes>,
) -> Result<Batch, ScanError> {
    let x = dataset.read(chunk)?;
    if let Some(extremes) = extremes {
        extremes.fold(&x);
    }
    Ok(vec![(input.to_string(), InputData::F32(x))])
}

/// Per-channel (min, max) over every input along the channel axis of each battery that
/// declares no value range: the inferred value range. The candidate's clean pass folds in each
/// chunk it reads, so the data is not read a second time for it.
#[derive(Debug, Default)]
struct Extremes {
    /// Per channel axis wanted, the (min, max) of each channel so far.
    by_axis: std::collections::BTreeMap<usize, Vec<(f32, f32)>>,
    /// Inputs folded in so far.
    seen: usize,
}

impl Extremes {
    /// Ready to gather what `batteries` will ask for on inputs shaped `shape` (batch first).
    fn for_batteries(batteries: &[Battery], shape: &[usize]) -> Self {
        let wanted = batteries.iter().filter(|b| b.defaults.value_range.is_none());
        Self {
            by_axis: wanted.map(|b| channel_axis(layout(b, shape).0)).map(|a| (a, unseen(shape, a))).collect(),
            seen: 0,
        }
    }

    /// Folds a chunk of inputs (batch first, the data's shape) in.
    fn fold(&mut self, x: &ArrayD<f32>) {
        for (&axis, slots) in &mut self.by_axis {
            fold_axis(x, axis, slots);
        }
        self.seen += x.shape()[0];
    }

    /// The extremes along `axis` over all of `dataset`: those folded in by the clean pass, or,
    /// if it did not cover every input or that axis, a chunked pass of its own.
    fn get(&mut self, dataset: &Dataset, axis: usize) -> Result<Vec<(f32, f32)>, ScanError> {
        if self.seen != dataset.len() || !self.by_axis.contains_key(&axis) {
            *self = Extremes { by_axis: [(axis, unseen(dataset.shape(), axis))].into(), seen: 0 };
            let indices: Vec<usize> = (0..dataset.len()).collect();
            for chunk in indices.chunks(CHUNK) {
                self.fold(&dataset.read(chunk)?);
            }
        }
        Ok(self.by_axis[&axis].clone())
    }
}

/// Extremes before any input: every channel empty.
fn unseen(shape: &[usize], axis: usize) -> Vec<(f32, f32)> {
    vec![(f32::INFINITY, f32::NEG_INFINITY); shape[axis]]
}

/// Folds `x` into the per-channel (min, max) along `axis`, walking a standard-layout chunk in
/// memory order. (Gathering strided lanes for both possible axes made the tiny MLP's scan
/// about 0.3 ms slower.)
fn fold_axis(x: &ArrayD<f32>, axis: usize, slots: &mut [(f32, f32)]) {
    let fold = |slot: &mut (f32, f32), values: &[f32]| {
        slot.0 = values.iter().copied().fold(slot.0, f32::min);
        slot.1 = values.iter().copied().fold(slot.1, f32::max);
    };
    let inner: usize = x.shape()[axis + 1..].iter().product();
    match x.as_slice() {
        Some(flat) if inner > 0 && !slots.is_empty() => {
            for block in flat.chunks_exact(slots.len() * inner) {
                for (slot, values) in slots.iter_mut().zip(block.chunks_exact(inner)) {
                    fold(slot, values);
                }
            }
        }
        _ => {
            for (c, slot) in slots.iter_mut().enumerate() {
                let lane = x.index_axis(Axis(axis), c);
                let values: Vec<f32> = lane.iter().copied().collect();
                fold(slot, &values);
            }
        }
    }
}

/// How a probe's inputs are derived from the clean data: the generators every sample's
/// randomness comes from (keyed by the seed and the probe's key), the layout and the valid
/// range. Public so benchmarks build exactly the inputs a scan builds.
#[derive(Clone)]
pub struct Probing<'a> {
    rngs: ProbeRngs,
    layout: Layout,
    range: &'a ValueRange,
}

impl<'a> Probing<'a> {
    /// The probing of `key` (`battery-name/probe-id`) under `seed`.
    pub fn new(seed: u64, key: &str, layout: Layout, range: &'a ValueRange) -> Self {
        Self { rngs: ProbeRngs::new(seed, key), layout, range }
    }

    /// The transformed copies of the samples at `chunk` (data indices, all held by `subset`),
    /// built in parallel.
    pub fn batch(&self, subset: &Subset, chunk: &[usize], transform: &dyn Transform, stream: Stream) -> ArrayD<f32> {
        let dims = subset.sample_shape();
        let mut flat = buffer(chunk.len() * dims.iter().product::<usize>());
        self.fill(subset, &mut flat, chunk, transform, stream);
        let mut shape = vec![chunk.len()];
        shape.extend_from_slice(dims);
        ArrayD::from_shape_vec(IxDyn(&shape), flat).expect("rows of the sample shape")
    }

    /// Writes the transformed copies of the samples at `chunk` into `rows`, one flat sample
    /// after another.
    pub fn fill(&self, subset: &Subset, rows: &mut [f32], chunk: &[usize], transform: &dyn Transform, stream: Stream) {
        let dims = subset.sample_shape();
        let [a, b, c] = [dims[0], dims[1], dims[2]];
        let size = a * b * c;
        // Fixed-rank views over flat rows: no per-sample shape allocation.
        let build = |(slot, &index): (&mut [f32], &usize)| {
            slot.copy_from_slice(subset.flat(index));
            let sample = ArrayViewMut3::from_shape((a, b, c), slot).expect("rows of the sample shape");
            self.apply(sample, index, transform, stream);
        };
        if rows.len() < PARALLEL_ELEMENTS {
            // Tiny inputs: waking rayon's workers costs more than the work.
            rows.chunks_mut(size.max(1)).zip(chunk).for_each(build);
        } else {
            rows.par_chunks_mut(size.max(1)).with_min_len(MIN_TASK).zip(chunk.par_iter()).for_each(build);
        }
    }

    /// Transforms one sample (stored in `layout`) in place, with the randomness of `index`.
    pub fn apply(&self, sample: ArrayViewMut3<'_, f32>, index: usize, transform: &dyn Transform, stream: Stream) {
        let mut rng = LazyRng::new(&self.rngs, index as u64, stream);
        let mut placement_rng = LazyRng::new(&self.rngs, index as u64, Stream::Placement);
        let mut ctx = SampleContext { rng: &mut rng, placement_rng: &mut placement_rng, range: self.range, index };
        transform.apply(chw(sample, self.layout), &mut ctx);
    }
}

/// Input buffers handed back after inference ([`recycle`]) for the next chunk to reuse: a
/// fresh multi-megabyte buffer per chunk costs page faults and zeroing, and the faults
/// serialise the parallel build (measured: building 3x32x32 chunks was no faster on 2 threads
/// than on 1).
static BUFFERS: std::sync::Mutex<Vec<Vec<f32>>> = std::sync::Mutex::new(Vec::new());
/// Buffers kept: the chunk being classified, the one being built, and one spare.
const POOLED: usize = 3;

/// A buffer of `len` values; every value is overwritten by the caller.
fn buffer(len: usize) -> Vec<f32> {
    let reused = BUFFERS.lock().ok().and_then(|mut pool| pool.pop());
    let mut buffer = reused.unwrap_or_default();
    buffer.resize(len, 0.0);
    buffer
}

/// Returns a classified batch's float buffers to the pool.
fn recycle(batch: Batch) {
    let Ok(mut pool) = BUFFERS.lock() else { return };
    for (_, data) in batch {
        if let InputData::F32(array) = data
            && pool.len() < POOLED
        {
            let (buffer, offset) = array.into_raw_vec_and_offset();
            if offset == Some(0) {
                pool.push(buffer);
            }
        }
    }
}

/// Fewest samples one rayon task transforms (a 1x8x8 sample takes well under a microsecond).
const MIN_TASK: usize = 16;
/// Chunks with fewer input values than this are built on the calling thread: measured on the
/// 1x8x8 fixture (400 samples, 25,600 values), rayon's 2 threads took 3.9 ms where one took
/// 2.6 ms.
const PARALLEL_ELEMENTS: usize = 1 << 16;

/// An image battery over one data set.
pub struct ImageKit<'a> {
    seed: u64,
    input: &'a str,
    /// The inputs the battery's probes draw (the first `samples` of the sample order).
    subset: Subset,
    layout: Layout,
    geometry: Geometry,
    range: ValueRange,
}

impl<'a> ImageKit<'a> {
    fn new(
        battery: &Battery,
        seed: u64,
        input: &'a str,
        dataset: &Dataset,
        extremes: &mut Extremes,
    ) -> Result<(Self, ImageInterpretation), ScanError> {
        let interpretation = interpret(battery, dataset, extremes)?;
        let geometry = geometry(dataset.shape(), interpretation.layout);
        let range = ValueRange {
            lo: interpretation.value_range.iter().map(|r| r.0).collect(),
            hi: interpretation.value_range.iter().map(|r| r.1).collect(),
        };
        if range.lo.len() != geometry.channels {
            return Err(ScanError::Incompatible(format!(
                "battery {} declares a value range for {} channels; the inputs have {}",
                battery.path.display(),
                range.lo.len(),
                geometry.channels
            )));
        }
        let samples = battery.probes.iter().map(|p| p.samples).max().unwrap_or(0).min(dataset.len());
        let subset = dataset.subset(&sample_order(seed, dataset.len())[..samples])?;
        let kit = Self { seed, input, subset, layout: interpretation.layout, geometry, range };
        Ok((kit, interpretation))
    }

    fn probing(&self, key: &str) -> Probing<'_> {
        Probing::new(self.seed, key, self.layout, &self.range)
    }

    /// A probe's declared transform, built for these inputs.
    fn fixed(&self, probe: &Probe, spec: &TransformSpec) -> Result<Box<dyn Transform>, ScanError> {
        transform::build(spec, self.geometry).map_err(|e| ScanError::Transform {
            battery: String::new(),
            probe: probe.id.clone(),
            detail: e.to_string(),
        })
    }

    /// Sample `index` (a data index the kit holds) as a `[C, H, W]` image, after `transform`
    /// with the randomness of `key` and `stream` when one is given.
    fn chw(&self, key: &str, index: usize, transform: Option<(&dyn Transform, Stream)>) -> Array3<f32> {
        let mut sample = self.subset.get(index).into_dimensionality::<ndarray::Ix3>().expect("4-D").to_owned();
        if let Some((transform, stream)) = transform {
            self.probing(key).apply(sample.view_mut(), index, transform, stream);
        }
        match self.layout {
            Layout::Nchw => sample,
            Layout::Nhwc => sample.permuted_axes([2, 0, 1]).as_standard_layout().into_owned(),
        }
    }

    /// Runs a search probe's search on the `part` of the data set aside for it.
    fn search(
        &self,
        key: &str,
        ctx: &mut SearchContext<'_>,
        part: &[usize],
        spec: &SearchSpec,
    ) -> Result<SearchOutcome, ScanError> {
        // The search reads the battery's inputs where they are held: no copy per search.
        let images = SubsetImages { subset: &self.subset, part, layout: self.layout };
        let clean_classes: Vec<usize> = part.iter().map(|&i| ctx.clean.class[i]).collect();
        let input = SearchInput {
            images: &images,
            clean: &clean_classes,
            classes: ctx.classes,
            range: &self.range,
            seed: self.seed,
            key,
        };
        let mut oracle = EngineOracle {
            engine: ctx.engine,
            kind: ctx.kind,
            layout: self.layout,
            input: self.input,
            shape: self.subset.sample_shape().to_vec(),
        };
        let outcome = match spec {
            SearchSpec::Patch { sizes, stride, contents, budget } => {
                search::patch::search(&mut oracle, &input, sizes, *stride, contents, *budget)
            }
            SearchSpec::ReverseEngineer { budget, directions, sigma, learning_rate } => {
                let settings = search::reverse::Settings {
                    budget: *budget,
                    directions: *directions,
                    sigma: *sigma,
                    learning_rate: *learning_rate,
                };
                search::reverse::search(&mut oracle, &input, &settings)
            }
            SearchSpec::AdversarialPeak { inputs, budget } => {
                let settings = search::peak::Settings { budget: *budget, inputs: *inputs };
                search::peak::search(&mut oracle, &input, &settings)
            }
            SearchSpec::Vocabulary { .. } => {
                return Err(ScanError::Incompatible(format!("probe {key}: a vocabulary sweep needs text inputs")));
            }
            SearchSpec::FeatureSweep { .. } => {
                return Err(ScanError::Incompatible(format!("probe {key}: a feature sweep needs tabular inputs")));
            }
        };
        Ok(outcome?)
    }

    /// Runs an attack probe's attack on the candidate and on each reference, over the same
    /// inputs with the same randomness.
    fn attack(
        &self,
        key: &str,
        ctx: &mut SearchContext<'_>,
        indices: &[usize],
        spec: &AttackSpec,
    ) -> Result<(Box<dyn Transform>, AttackResult, u64), ScanError> {
        let widths: Vec<f32> = self.range.lo.iter().zip(&self.range.hi).map(|(lo, hi)| hi - lo).collect();
        let in_units = |epsilon: Epsilon| match epsilon {
            Epsilon::Value(v) => v,
            Epsilon::Fraction(f) => f * widths.iter().sum::<f32>() / widths.len().max(1) as f32,
        };
        /// An attack's settings, by method.
        enum Method {
            Square(attack::square::Settings),
            HopSkipJump(attack::hopskipjump::Settings),
        }
        let (method, ask) = match *spec {
            AttackSpec::Square { norm, epsilon, queries, targeted, p_init } => {
                let settings = attack::square::Settings { norm, epsilon: in_units(epsilon), queries, p_init, targeted };
                (Method::Square(settings), settings.ask())
            }
            AttackSpec::HopSkipJump { epsilon, queries, targeted, gradient_samples } => {
                let settings = attack::hopskipjump::Settings {
                    epsilon: in_units(epsilon),
                    queries,
                    targeted,
                    init_evals: gradient_samples,
                };
                (Method::HopSkipJump(settings), settings.ask())
            }
            AttackSpec::DeepWordBug { .. } => {
                return Err(ScanError::Incompatible(format!("probe {key}: the deepwordbug attack needs text inputs")));
            }
        };
        let images = SubsetImages { subset: &self.subset, part: indices, layout: self.layout };
        let shape = self.subset.sample_shape().to_vec();
        let (layout, input_name, range, seed, classes) = (self.layout, self.input, &self.range, self.seed, ctx.classes);
        let run_on = |engine: &mut Engine, kind: ScoreKind, clean: &Predictions| -> Result<AttackRun, ScanError> {
            let clean: Vec<usize> = indices.iter().map(|&i| clean.class[i]).collect();
            let input = AttackInput { images: &images, indices, clean: &clean, classes, range, seed, key };
            let mut oracle = EngineOracle { engine, kind, layout, input: input_name, shape: shape.clone() };
            Ok(match &method {
                Method::Square(settings) => attack::square::attack(&mut oracle, &input, settings)?,
                Method::HopSkipJump(settings) => attack::hopskipjump::attack(&mut oracle, &input, settings)?,
            })
        };
        let candidate = run_on(ctx.engine, ctx.kind, ctx.clean)?;
        let mut references = Vec::with_capacity(ctx.references.len());
        for ((engine, kind), clean) in ctx.references.iter_mut().zip(ctx.reference_kinds).zip(ctx.reference_clean) {
            references.push(run_on(engine, *kind, clean)?);
        }
        let queries = candidate.queries + references.iter().map(|r| r.queries).sum::<u64>();
        let result = AttackResult {
            summary: AttackSummary::of(spec.method(), &ask, &candidate, &references),
            candidate: Outcomes::of(&candidate),
            references: references.iter().map(Outcomes::of).collect(),
        };
        Ok((Box::new(Adversarial::from_run(candidate)), result, queries))
    }
}

impl Kit for ImageKit<'_> {
    type Transform = dyn Transform;

    fn prepare(
        &self,
        probe: &Probe,
        key: &str,
        indices: &[usize],
        mut ctx: SearchContext<'_>,
    ) -> Result<Prepared<dyn Transform>, ScanError> {
        // A search probe first recovers a trigger on one half of its samples; the trigger is
        // then confirmed like any transform on the other half, which the search never saw.
        match &probe.transform {
            TransformSpec::Search(spec) => {
                let (search_part, confirm_part) = indices.split_at(indices.len().div_ceil(2));
                let spec = with_budget(spec, ctx.budget);
                let found = self.search(key, &mut ctx, search_part, &spec)?;
                let summary = summarise_search(&found, search_part.len(), confirm_part.len());
                let transform: Box<dyn Transform> = Box::new(found.candidates[found.chosen].trigger.clone());
                Ok(Prepared::found(transform, confirm_part, summary, found.queries))
            }
            TransformSpec::Attack(spec) => {
                let (transform, result, queries) = self.attack(key, &mut ctx, indices, spec)?;
                Ok(Prepared::attacked(transform, indices, result, queries))
            }
            spec => Ok(Prepared::fixed(self.fixed(probe, spec)?, indices)),
        }
    }

    fn control(&self, transform: &dyn Transform) -> Option<Box<dyn Transform>> {
        transform.control()
    }

    fn recycle(&self, batch: Batch) {
        recycle(batch);
    }

    fn build(&self, parts: &[Part<'_, dyn Transform>]) -> Result<Batch, ScanError> {
        let dims = self.subset.sample_shape();
        let size: usize = dims.iter().product();
        let total: usize = parts.iter().map(|p| p.indices.len()).sum();
        let mut flat = buffer(total * size);
        let mut rest = flat.as_mut_slice();
        for part in parts {
            let (rows, tail) = rest.split_at_mut(part.indices.len() * size);
            self.probing(part.key).fill(&self.subset, rows, part.indices, part.transform, part.stream);
            rest = tail;
        }
        let mut shape = vec![total];
        shape.extend_from_slice(dims);
        let batch = ArrayD::from_shape_vec(IxDyn(&shape), flat).expect("rows of the sample shape");
        Ok(vec![(self.input.to_string(), InputData::F32(batch))])
    }

    /// The first few samples before and after the probe (recomputed: cheap and exact).
    fn examples(
        &self,
        key: &str,
        indices: &[usize],
        transform: &dyn Transform,
        clean: &Predictions,
        probed: &Predictions,
    ) -> Vec<Example> {
        indices
            .iter()
            .enumerate()
            .take(EXAMPLES)
            .map(|(k, &index)| Example {
                index,
                clean_png: png_base64(&self.chw(key, index, None), &self.range),
                probed_png: png_base64(&self.chw(key, index, Some((transform, Stream::Probe))), &self.range),
                clean_class: clean.class[index],
                probed_class: probed.class[k],
                ..Example::default()
            })
            .collect()
    }
}

/// What an image probe does to its first samples, without a model (`battery preview`).
pub struct Preview {
    /// Per sample: clean, probed, and with the matched control (`None` for a robustness
    /// perturbation), each `[C, H, W]`.
    pub rows: Vec<Vec<Option<Array3<f32>>>>,
    /// The valid range the samples are drawn in (declared, or the data's own per channel).
    pub range: ValueRange,
}

/// The first `count` samples `probe` of `battery` runs on under `seed`, before the probe, after
/// it and after its matched control: built by the scan's own kit (sample order, transform,
/// control and per-sample randomness), with the value range inferred from the data when the
/// battery declares none. Searches and attacks have no fixed transform to show.
pub fn preview(
    dataset: &Dataset,
    battery: &Battery,
    seed: u64,
    probe: &Probe,
    count: usize,
) -> Result<Preview, ScanError> {
    let (kit, _) = ImageKit::new(battery, seed, "", dataset, &mut Extremes::default())?;
    let transform = kit.fixed(probe, &probe.transform)?;
    let control = transform.control();
    let key = crate::runner::probe_key(battery, probe);
    let order = sample_order(seed, dataset.len());
    let rows = order[..probe.samples.min(order.len())]
        .iter()
        .take(count)
        .map(|&index| {
            vec![
                Some(kit.chw(&key, index, None)),
                Some(kit.chw(&key, index, Some((transform.as_ref(), Stream::Probe)))),
                control.as_deref().map(|c| kit.chw(&key, index, Some((c, Stream::Control)))),
            ]
        })
        .collect();
    Ok(Preview { rows, range: kit.range })
}

/// What `battery preview` shows of an image search over this data.
pub struct SearchOutline {
    /// The images' channels, height and width, as the probes see them.
    pub geometry: Geometry,
    /// A patch search's candidate space; `None` for a search that has no enumerable space
    /// (reverse-engineering optimises a mask and a pattern, the adversarial peak attacks).
    pub patch: Option<search::patch::SpaceOutline>,
}

/// The candidate space of an image search probe over this data (`battery preview`).
pub fn search_outline(
    dataset: &Dataset,
    battery: &Battery,
    seed: u64,
    spec: &SearchSpec,
) -> Result<SearchOutline, ScanError> {
    let (kit, _) = ImageKit::new(battery, seed, "", dataset, &mut Extremes::default())?;
    let geometry = kit.geometry;
    let dims = (geometry.channels, geometry.height, geometry.width);
    let patch = match spec {
        SearchSpec::Patch { sizes, stride, contents, .. } => {
            Some(search::patch::outline(dims, sizes, *stride, contents))
        }
        _ => None,
    };
    Ok(SearchOutline { geometry, patch })
}

impl CleanData for Dataset {
    fn modality(&self) -> Modality {
        Modality::Image
    }

    fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn sha256(&self) -> &str {
        &self.sha256
    }

    fn len(&self) -> usize {
        Dataset::len(self)
    }

    fn labels(&self) -> Option<&[i64]> {
        self.y.as_deref()
    }
}

impl ScanInputs for Dataset {
    type Session<'s> = ImageSession<'s>;

    fn session(&self, candidate: &Engine, batteries: &[Battery]) -> Result<ImageSession<'_>, ScanError> {
        let input = check(candidate, self)?;
        Ok(ImageSession { dataset: self, input, extremes: Extremes::for_batteries(batteries, self.shape()) })
    }
}

/// A scan of an image data set: the model's image input, and the value range the candidate's
/// clean pass finds for batteries that declare none.
pub struct ImageSession<'a> {
    dataset: &'a Dataset,
    input: String,
    extremes: Extremes,
}

impl Session for ImageSession<'_> {
    type Kit<'k>
        = ImageKit<'k>
    where
        Self: 'k;

    fn clean_chunk(&mut self, chunk: &[usize], candidate: bool) -> Result<Batch, ScanError> {
        clean_chunk(&self.input, self.dataset, chunk, candidate.then_some(&mut self.extremes))
    }

    fn kit(&mut self, battery: &Battery, seed: u64) -> Result<(ImageKit<'_>, Option<ImageInterpretation>), ScanError> {
        let (kit, interpretation) = ImageKit::new(battery, seed, &self.input, self.dataset, &mut self.extremes)?;
        Ok((kit, Some(interpretation)))
    }
}

/// A search split of the battery's inputs, seen as `[C, H, W]` images.
struct SubsetImages<'a> {
    subset: &'a Subset,
    part: &'a [usize],
    layout: Layout,
}

impl search::Images for SubsetImages<'_> {
    fn count(&self) -> usize {
        self.part.len()
    }

    fn image(&self, i: usize) -> ArrayView3<'_, f32> {
        let sample = self.subset.get(self.part[i]).into_dimensionality::<ndarray::Ix3>().expect("4-D");
        match self.layout {
            Layout::Nchw => sample,
            Layout::Nhwc => sample.permuted_axes([2, 0, 1]),
        }
    }
}

/// The candidate model as the search sees it: `[C, H, W]` images in, probabilities out.
struct EngineOracle<'a> {
    engine: &'a mut Engine,
    kind: ScoreKind,
    layout: Layout,
    input: &'a str,
    /// One sample's shape in the model's layout.
    shape: Vec<usize>,
}

impl Oracle for EngineOracle<'_> {
    fn classify(
        &mut self,
        count: usize,
        fill: &search::Fill<'_>,
        row: &mut dyn FnMut(usize, ndarray::ArrayView1<'_, f32>),
    ) -> Result<(), EngineError> {
        let [a, b, c] = [self.shape[0], self.shape[1], self.shape[2]];
        let size = a * b * c;
        let batch = self.engine.batch_size.max(1);
        let layout = self.layout;
        // One batch of probed images at a time, whatever `count`: the buffer goes to the
        // engine and comes back for the next batch.
        let mut flat: Vec<f32> = Vec::new();
        let mut start = 0;
        while start < count {
            let n = batch.min(count - start);
            flat.resize(n * size, 0.0);
            let build = |(k, slot): (usize, &mut [f32])| {
                let sample = ArrayViewMut3::from_shape((a, b, c), slot).expect("rows of the sample shape");
                fill(start + k, chw(sample, layout));
            };
            if flat.len() < PARALLEL_ELEMENTS {
                flat.chunks_mut(size.max(1)).enumerate().for_each(build);
            } else {
                flat.par_chunks_mut(size.max(1)).enumerate().with_min_len(MIN_TASK).for_each(build);
            }
            let array = ArrayD::from_shape_vec(IxDyn(&[n, a, b, c]), std::mem::take(&mut flat)).expect("n samples");
            let inputs = [(self.input.to_string(), InputData::F32(array))];
            let mut scores = self.engine.classify(&inputs)?;
            to_probabilities(&mut scores, self.kind);
            for (k, probabilities) in scores.rows().into_iter().enumerate() {
                row(start + k, probabilities);
            }
            let [(_, InputData::F32(array))] = inputs else { unreachable!("built just above") };
            flat = array.into_raw_vec_and_offset().0;
            start += n;
        }
        Ok(())
    }
}

/// The report's view of a search: per-class statistics and the chosen trigger as images.
fn summarise_search(found: &SearchOutcome, search_samples: usize, confirmation_samples: usize) -> SearchSummary {
    let chosen = &found.candidates[found.chosen];
    let (channels, h, w) = chosen.trigger.pattern.dim();
    let unit = ValueRange { lo: vec![0.0; channels], hi: vec![1.0; channels] };
    let mask = chosen.trigger.mask.clone().into_shape_with_order((1, h, w)).expect("same size");
    let shown = Array3::from_shape_fn((channels, h, w), |(c, y, x)| {
        chosen.trigger.pattern[[c, y, x]] * chosen.trigger.mask[[y, x]]
    });
    SearchSummary {
        method: found.method.into(),
        statistic: found.statistic.into(),
        per_class: found
            .candidates
            .iter()
            .zip(&found.anomaly_index)
            .map(|(c, a)| search::SearchClassSummary {
                class: c.class,
                statistic: c.statistic,
                anomaly_index: *a,
                attack_success_rate: c.attack_success_rate,
                mask_l1: f64::from(c.trigger.mask_l1()),
                description: c.description.clone(),
            })
            .collect(),
        chosen_class: chosen.class,
        queries: found.queries,
        search_samples,
        confirmation_samples,
        mask_png: png_base64(&mask, &ValueRange { lo: vec![0.0], hi: vec![1.0] }),
        pattern_png: png_base64(&shown, &unit),
        mask_l1: f64::from(chosen.trigger.mask_l1()),
        mask_bounds: search::Bounds::of_mask(&chosen.trigger.mask),
        vocabulary: None,
        features: None,
        trigger: None,
        coverage: found.coverage.clone(),
        budget: None,
    }
}

/// A `[C, H, W]` view of one sample stored in `layout`, without copying.
fn chw(sample: ArrayViewMut3<'_, f32>, layout: Layout) -> ArrayViewMut3<'_, f32> {
    match layout {
        Layout::Nchw => sample,
        Layout::Nhwc => sample.permuted_axes([2, 0, 1]),
    }
}

fn geometry(shape: &[usize], layout: Layout) -> Geometry {
    match layout {
        Layout::Nchw => Geometry { channels: shape[1], height: shape[2], width: shape[3] },
        Layout::Nhwc => Geometry { channels: shape[3], height: shape[1], width: shape[2] },
    }
}

/// The battery's declared layout, or the one the data's shape suggests; and whether it was
/// inferred.
fn layout(battery: &Battery, shape: &[usize]) -> (Layout, bool) {
    match battery.defaults.layout {
        Some(layout) => (layout, false),
        None => {
            let looks_like_channels = |d: usize| matches!(d, 1 | 3 | 4);
            let layout = if !looks_like_channels(shape[1]) && looks_like_channels(shape[3]) {
                Layout::Nhwc
            } else {
                Layout::Nchw
            };
            (layout, true)
        }
    }
}

/// Where the channels are in a batch of inputs.
fn channel_axis(layout: Layout) -> usize {
    match layout {
        Layout::Nchw => 1,
        Layout::Nhwc => 3,
    }
}

/// The battery's declared layout and range, or what the data says.
fn interpret(battery: &Battery, dataset: &Dataset, extremes: &mut Extremes) -> Result<ImageInterpretation, ScanError> {
    let shape = dataset.shape();
    let (layout, layout_inferred) = layout(battery, shape);
    let channels = geometry(shape, layout).channels;
    let (value_range, value_range_inferred) = match &battery.defaults.value_range {
        Some(ValueRangeSpec::All { lo, hi }) => (vec![(*lo, *hi); channels], false),
        Some(ValueRangeSpec::PerChannel(ranges)) => (ranges.clone(), false),
        None => {
            let ranges = extremes
                .get(dataset, channel_axis(layout))?
                .into_iter()
                .map(|(lo, hi)| if hi > lo { (lo, hi) } else { (lo, lo + 1.0) })
                .collect();
            (ranges, true)
        }
    };
    Ok(ImageInterpretation { layout, layout_inferred, value_range, value_range_inferred })
}

#[cfg(test)]
mod tests {
    use ndarray::Array;

    use super::*;

    /// 5 inputs of 3x2x2 whose values are all different.
    fn dataset() -> Dataset {
        let x = Array::from_iter((0..60).map(|v| ((v * 37) % 61) as f32 - 30.0))
            .into_shape_with_order(IxDyn(&[5, 3, 2, 2]));
        Dataset::from_array("mem.npy".into(), String::new(), x.expect("60 values"), None)
    }

    /// Per-channel (min, max) along `axis`, the obvious way.
    fn direct(x: &ArrayD<f32>, axis: usize) -> Vec<(f32, f32)> {
        x.axis_iter(Axis(axis))
            .map(|lane| lane.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v))))
            .collect()
    }

    /// A battery with one probe and these `defaults` lines.
    fn battery(defaults: &str) -> Battery {
        let text = format!(
            "schema: probity/battery/v1\nname: b\nversion: \"1\"\ndescription: d\nmodality: image\n\
             defaults:\n  seed: 1\n{defaults}probes:\n  - id: p\n    category: robustness\n    \
             transform: {{kind: brightness-contrast, brightness: 0.1}}\n"
        );
        crate::battery::parse(std::path::Path::new("b.yaml"), &text).expect("a valid battery")
    }

    #[test]
    fn only_the_channel_axes_of_batteries_without_a_value_range_are_gathered() {
        let shape = [5, 3, 2, 2];
        let axes =
            |batteries: &[Battery]| Extremes::for_batteries(batteries, &shape).by_axis.into_keys().collect::<Vec<_>>();
        assert_eq!(axes(&[battery("")]), vec![1]);
        assert_eq!(axes(&[battery("  layout: nhwc\n"), battery("")]), vec![1, 3]);
        assert_eq!(axes(&[battery("  value-range: [0, 1]\n")]), Vec::<usize>::new());
    }

    #[test]
    fn extremes_folded_chunk_by_chunk_are_those_of_all_the_data() {
        let data = dataset();
        let x = data.read(&[0, 1, 2, 3, 4]).expect("in memory");
        let mut folded = Extremes::for_batteries(&[battery("  layout: nhwc\n"), battery("")], data.shape());
        folded.fold(&data.read(&[0, 1]).expect("in memory"));
        folded.fold(&data.read(&[2, 3, 4]).expect("in memory"));
        for axis in [1, 3] {
            assert_eq!(folded.by_axis[&axis], direct(&x, axis), "axis {axis}");
        }
    }

    #[test]
    fn extremes_that_cover_every_input_are_not_read_again() {
        let data = dataset();
        let mut folded = Extremes::for_batteries(&[battery("")], data.shape());
        // Five inputs of zeros stand in for the clean pass: had the data been read again,
        // its own values would come back.
        folded.fold(&ArrayD::zeros(IxDyn(&[5, 3, 2, 2])));
        assert_eq!(folded.get(&data, 1).expect("folded"), vec![(0.0, 0.0); 3]);
    }

    #[test]
    fn extremes_of_part_of_the_data_are_read_again_in_full() {
        let data = dataset();
        let x = data.read(&[0, 1, 2, 3, 4]).expect("in memory");
        let mut partial = Extremes::for_batteries(&[battery("")], data.shape());
        partial.fold(&data.read(&[0]).expect("in memory"));
        assert_eq!(partial.get(&data, 1).expect("read again"), direct(&x, 1));
        // An axis nobody asked for up front is read too.
        assert_eq!(partial.get(&data, 3).expect("read"), direct(&x, 3));
    }
}
