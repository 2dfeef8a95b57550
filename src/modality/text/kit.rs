//! Text probes: how a text battery's probes turn clean texts into probed
//! token batches (text edits → tokenizer → token edits → truncation and padding), and how the
//! vocabulary sweep queries the candidate. The step from a clean text to a probed one needs only
//! the tokenizer ([`TextTokenizer`]), so `battery preview` builds the same samples without a
//! model ([`preview`], [`search_outline`]).

use rayon::prelude::*;

use std::collections::HashMap;

use ndarray::ArrayView1;

use super::data::TextDataset;
use super::encoder::{TextEncoder, TextError, TextTokenizer};
use crate::attack::deepwordbug::{self, TextAttackInput, TextFill, TextOracle};
use crate::attack::{AdversarialTexts, AttackResult, AttackRun, AttackSummary, Outcomes};
use crate::battery::spec::TokenFilter;
use crate::battery::spec::{
    AttackSpec, Battery, Modality, Probe, SearchSpec, SweepInputs, TextPosition, TransformSpec,
};
use crate::engine::{Engine, EngineError};
use crate::predictions::{Predictions, ScoreKind, to_probabilities};
use crate::runner::{
    Batch, CleanData, EXAMPLES, Example, Groups, ImageInterpretation, Kit, Part, Prepared, ScanError, ScanInputs,
    SearchContext, Session, with_budget,
};
use crate::search::vocabulary::crowd::Placement;
use crate::search::vocabulary::units::{self, Unit, UnitCoverage};
use crate::search::vocabulary::{self, TokenOracle};
use crate::search::{SearchClassSummary, SearchSummary};
use crate::transform::text::{
    self as text_transform, InsertTokens, TextContext, TextTransform, TokenSequence, Vocabulary,
};
use crate::transform::{ProbeRngs, Stream};
use std::path::Path;

impl From<TextError> for ScanError {
    fn from(e: TextError) -> Self {
        ScanError::Incompatible(e.to_string())
    }
}

/// The clean texts at `chunk`, tokenized.
fn clean_sequences(
    data: &TextDataset,
    encoder: &TextEncoder,
    chunk: &[usize],
) -> Result<Vec<TokenSequence>, ScanError> {
    Ok(chunk.par_iter().map(|&i| encoder.tokenizer.encode(&data.texts[i], i)).collect::<Result<_, _>>()?)
}

/// An ONNX Runtime failure on token ids most often means the tokenizer does not belong to the
/// model (ids beyond the embedding table); say so instead of passing on the kernel's words.
fn explain(e: ScanError, encoder: &TextEncoder) -> ScanError {
    match e {
        ScanError::Engine(EngineError::Run(detail)) => {
            match out_of_range(&detail, &encoder.tokenizer.path, encoder.tokenizer.vocabulary.len()) {
                Some(message) => ScanError::Incompatible(message),
                None => ScanError::Engine(EngineError::Run(detail)),
            }
        }
        other => other,
    }
}

/// The explanation for a Gather that was handed ids past its table (ONNX Runtime says
/// "indices element out of data bounds, idx=1204 must be within the inclusive range [-200,199]").
fn out_of_range(detail: &str, tokenizer: &std::path::Path, vocabulary: usize) -> Option<String> {
    detail.contains("out of data bounds").then(|| {
        format!(
            "the model rejected token ids from tokenizer {} ({detail}); the tokenizer has {vocabulary} tokens, so ids up \
             to {} reach the model, more than it accepts: pass the tokenizer the model was trained with (--tokenizer)",
            tokenizer.display(),
            vocabulary.saturating_sub(1)
        )
    })
}

/// A text battery over one data set.
pub struct TextKit<'a> {
    seed: u64,
    data: &'a TextDataset,
    encoder: &'a TextEncoder,
}

impl TextKit<'_> {
    /// Sample `index` after `transform`: the edited text and the edited token sequence.
    fn sample(
        &self,
        rngs: &ProbeRngs,
        index: usize,
        transform: &dyn TextTransform,
        stream: Stream,
    ) -> Result<(String, TokenSequence), ScanError> {
        Ok(probe_text(&self.encoder.tokenizer, &self.data.texts[index], rngs, index, transform, stream)?)
    }

    /// Each part's samples with its transform applied, the parts' rows one after another.
    fn sequences(&self, parts: &[Part<'_, dyn TextTransform>]) -> Result<Vec<TokenSequence>, ScanError> {
        let mut sequences: Vec<TokenSequence> = Vec::new();
        for part in parts {
            let rngs = ProbeRngs::new(self.seed, part.key);
            let built: Vec<TokenSequence> = part
                .indices
                .par_iter()
                .map(|&i| self.sample(&rngs, i, part.transform, part.stream).map(|(_, tokens)| tokens))
                .collect::<Result<_, _>>()?;
            sequences.extend(built);
        }
        Ok(sequences)
    }

    /// Runs a vocabulary sweep on the `part` of the data set aside for it: against the
    /// references when the scan has them ([`vocabulary::differential`]).
    fn sweep(
        &self,
        key: &str,
        ctx: &mut SearchContext<'_>,
        part: &[usize],
        settings: &vocabulary::Settings,
        units: &[Unit],
    ) -> Result<Option<vocabulary::Sweep>, ScanError> {
        let sequences: Vec<TokenSequence> = part
            .par_iter()
            .map(|&i| self.encoder.tokenizer.encode(&self.data.texts[i], i))
            .collect::<Result<_, _>>()?;
        let clean: Vec<usize> = part.iter().map(|&i| ctx.clean.class[i]).collect();
        let input = vocabulary::SweepInput {
            sequences: &sequences,
            clean: &clean,
            classes: ctx.classes,
            vocabulary: &self.encoder.tokenizer.vocabulary,
            exclude: &[self.encoder.pad_id],
            units,
            seed: self.seed,
            key,
        };
        let mut oracle = EngineOracle { engine: ctx.engine, encoder: self.encoder, kind: ctx.kind };
        if ctx.references.is_empty() {
            return Ok(vocabulary::sweep(&mut oracle, &input, settings)?);
        }
        // With references the sweep searches on the difference: every edit is scored on each.
        let names = ctx.references.iter().map(|e| e.model_path.display().to_string()).collect();
        let mut references: Vec<EngineOracle<'_>> = ctx
            .references
            .iter_mut()
            .zip(ctx.reference_kinds)
            .map(|(engine, &kind)| EngineOracle { engine, encoder: self.encoder, kind })
            .collect();
        let oracles = references.iter_mut().map(|r| r as &mut dyn TokenOracle).collect();
        Ok(vocabulary::differential_sweep(&mut oracle, oracles, names, &input, settings)?)
    }

    /// The multi-piece words a sweep with these `filters` tries as units
    /// ([`vocabulary::units`]): when it admits whole words, the data's (for a vocabulary the
    /// group screen covers) and the word list's; `Err` names a word list that cannot be read.
    fn units(&self, filters: &[TokenFilter], words: Option<&Path>) -> Result<(Vec<Unit>, UnitCoverage), String> {
        let mut collector = units::Collector::default();
        let mut coverage = UnitCoverage::default();
        if !filters.contains(&TokenFilter::WholeWords) {
            return Ok((Vec::new(), coverage));
        }
        let tokenizer = &self.encoder.tokenizer;
        if vocabulary::outline(&tokenizer.vocabulary, filters, &[self.encoder.pad_id], 0).screened {
            // A chunk at a time, so only the words are held, never every tokenized text.
            for (c, chunk) in self.data.texts.chunks(256).enumerate() {
                let sequences: Vec<TokenSequence> = chunk
                    .par_iter()
                    .enumerate()
                    .filter_map(|(i, text)| tokenizer.encode(text, c * 256 + i).ok())
                    .collect();
                for seq in &sequences {
                    coverage.from_data += collector.add_words_of(seq, units::MAX_DATA_UNITS);
                }
            }
        }
        if let Some(path) = words {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("word list {}: {e}; give a UTF-8 text file, one word per line", path.display()))?;
            for (i, entry) in units::entries(&text).into_iter().enumerate() {
                // After a space, as in the middle of a sentence (BPE spells that `Ġword`).
                let encoded = tokenizer.encode(&format!(" {entry}"), i).map_err(|e| e.to_string())?;
                let pieces = units::pieces(&encoded);
                if pieces.len() < 2 {
                    coverage.single_piece += 1;
                } else {
                    coverage.from_list += usize::from(collector.add(pieces, usize::MAX));
                }
            }
        }
        Ok((collector.units, coverage))
    }

    /// Runs an attack probe's attack on the candidate and on each reference, over the same
    /// (clipped) texts with the same randomness.
    fn attack(
        &self,
        key: &str,
        ctx: &mut SearchContext<'_>,
        indices: &[usize],
        spec: &AttackSpec,
    ) -> Result<(Box<dyn TextTransform>, AttackResult, u64), ScanError> {
        let AttackSpec::DeepWordBug { edits, queries, targeted, candidates } = *spec else {
            let message = format!("probe {key}: the {} attack needs image inputs", spec.method());
            return Err(ScanError::Incompatible(message));
        };
        let settings = deepwordbug::Settings { edits, queries, candidates, targeted };
        let texts: Vec<String> =
            indices.iter().map(|&i| self.encoder.tokenizer.clip(&self.data.texts[i]).to_string()).collect();
        let (classes, seed, encoder) = (ctx.classes, self.seed, self.encoder);
        let run_on = |engine: &mut Engine, kind: ScoreKind, clean: &Predictions| {
            let clean: Vec<usize> = indices.iter().map(|&i| clean.class[i]).collect();
            let input = TextAttackInput { texts: &texts, indices, clean: &clean, classes, seed, key };
            let mut oracle = EngineOracle { engine, encoder, kind };
            deepwordbug::attack(&mut oracle, &input, &settings)
        };
        let candidate = run_on(ctx.engine, ctx.kind, ctx.clean)?;
        let mut references: Vec<AttackRun<Vec<String>>> = Vec::with_capacity(ctx.references.len());
        for ((engine, kind), clean) in ctx.references.iter_mut().zip(ctx.reference_kinds).zip(ctx.reference_clean) {
            references.push(run_on(engine, *kind, clean)?);
        }
        let queries = candidate.queries + references.iter().map(|r| r.queries).sum::<u64>();
        let result = AttackResult {
            summary: AttackSummary::of(spec.method(), &settings.ask(), &candidate, &references),
            candidate: Outcomes::of(&candidate),
            references: references.iter().map(Outcomes::of).collect(),
        };
        Ok((Box::new(AdversarialTexts::from_run(candidate)), result, queries))
    }
}

impl Kit for TextKit<'_> {
    type Transform = dyn TextTransform;

    fn prepare(
        &self,
        probe: &Probe,
        key: &str,
        indices: &[usize],
        mut ctx: SearchContext<'_>,
    ) -> Result<Prepared<dyn TextTransform>, ScanError> {
        let invalid = |detail: String| ScanError::Transform { battery: String::new(), probe: probe.id.clone(), detail };
        match &probe.transform {
            TransformSpec::Search(spec) => {
                let SearchSpec::Vocabulary { tokens, pairs, budget, words, positions, inputs } =
                    with_budget(spec, ctx.budget)
                else {
                    return Err(invalid(format!(
                        "`{}` searches images; text models need `method: vocabulary`",
                        probe.transform.kind()
                    )));
                };
                // One half of the samples by clean confidence: by default the confident half,
                // which a trigger overrides while a natural cue for another class ("loved" in a
                // negative review) mostly tips inputs already near the boundary; on request the
                // uncertain half, which a weak trigger tips. Sweep a third of it (its control
                // tokens drawn on the same inputs), confirm the chosen token(s) on the two
                // thirds it never saw: a trigger stands out on few inputs, and the confirmation
                // needs the samples.
                let (search_part, confirm_part) = &sweep_split(indices, &ctx.clean.confidence, inputs);
                let positions = positions.iter().map(|&p| placement(p)).collect();
                let settings = vocabulary::Settings { tokens, pairs, budget, positions, inputs };
                let (units, coverage) = self.units(&settings.tokens, words.as_deref()).map_err(invalid)?;
                let Some(mut found) = self.sweep(key, &mut ctx, search_part, &settings, &units)? else {
                    return Err(invalid(
                        "the token filter admits no vocabulary entry, or there are no inputs to sweep".into(),
                    ));
                };
                if !units.is_empty() || coverage.single_piece > 0 {
                    found.units = Some(coverage);
                }
                // Confirmed where it was found: at one place (against the control at the same
                // place), or at the boundary drawn per sample.
                let at = match found.placement {
                    Some(Placement::Start) => TextPosition::Start,
                    Some(Placement::End) => TextPosition::End,
                    Some(Placement::Drawn) | None => TextPosition::Random,
                };
                let transform: Box<dyn TextTransform> = Box::new(InsertTokens::words(found.chosen.words(), at));
                let summary = summarise(&found, search_part.len(), confirm_part.len());
                Ok(Prepared::found(transform, confirm_part, summary, found.queries))
            }
            TransformSpec::Attack(spec) => {
                let (transform, result, queries) = self.attack(key, &mut ctx, indices, spec)?;
                Ok(Prepared::attacked(transform, indices, result, queries))
            }
            _ => Ok(Prepared::fixed(fixed(probe, &self.encoder.tokenizer.vocabulary)?, indices)),
        }
    }

    fn control(&self, transform: &dyn TextTransform) -> Option<Box<dyn TextTransform>> {
        transform.control()
    }

    fn build(&self, parts: &[Part<'_, dyn TextTransform>]) -> Result<Batch, ScanError> {
        Ok(self.encoder.batch(&self.sequences(parts)?))
    }

    /// Rows of one length per call: a chunk's rows padded to its longest would make every
    /// short text cost the longest one's positions.
    fn build_groups(&self, parts: &[Part<'_, dyn TextTransform>], batch: usize) -> Result<Groups, ScanError> {
        Ok(self.encoder.length_groups(&self.sequences(parts)?, batch))
    }

    fn examples(
        &self,
        key: &str,
        indices: &[usize],
        transform: &dyn TextTransform,
        clean: &Predictions,
        probed: &Predictions,
    ) -> Vec<Example> {
        let rngs = ProbeRngs::new(self.seed, key);
        indices
            .iter()
            .enumerate()
            .take(EXAMPLES)
            .filter_map(|(k, &index)| {
                let (text, tokens) = self.sample(&rngs, index, transform, Stream::Probe).ok()?;
                let fed = self.encoder.tokenizer.truncate(&tokens);
                Some(Example {
                    index,
                    clean_text: Some(self.encoder.tokenizer.clip(&self.data.texts[index]).to_string()),
                    probed_text: Some(text),
                    probed_tokens: Some(
                        fed.iter().map(|&id| self.encoder.tokenizer.vocabulary.tokens[id as usize].clone()).collect(),
                    ),
                    clean_class: clean.class[index],
                    probed_class: probed.class[k],
                    ..Example::default()
                })
            })
            .collect()
    }
}

/// Text `text` (sample `index`) after `transform`, as a scan feeds it: clipped to the
/// tokenizer's character budget (so edits never walk a huge text), edited as a string,
/// tokenized, edited as tokens. The edited text and the edited token sequence.
fn probe_text(
    tokenizer: &TextTokenizer,
    text: &str,
    rngs: &ProbeRngs,
    index: usize,
    transform: &dyn TextTransform,
    stream: Stream,
) -> Result<(String, TokenSequence), TextError> {
    let mut rng = rngs.sample(index as u64, stream);
    let mut placement_rng = rngs.sample(index as u64, Stream::Placement);
    let mut ctx =
        TextContext { rng: &mut rng, placement_rng: &mut placement_rng, vocabulary: &tokenizer.vocabulary, index };
    let mut text = tokenizer.clip(text).to_string();
    transform.edit_text(&mut text, &mut ctx);
    let mut tokens = tokenizer.encode(&text, index)?;
    transform.edit_tokens(&mut tokens, &mut ctx);
    Ok((text, tokens))
}

/// Where the vocabulary sweep inserts for a battery's `positions:` entry.
fn placement(position: TextPosition) -> Placement {
    match position {
        TextPosition::Random => Placement::Drawn,
        TextPosition::Start => Placement::Start,
        TextPosition::End => Placement::End,
    }
}

/// The fixed transform a (non-search) probe declares, for this vocabulary.
fn fixed(probe: &Probe, vocabulary: &Vocabulary) -> Result<Box<dyn TextTransform>, ScanError> {
    text_transform::build(&probe.transform, vocabulary).map_err(|e| ScanError::Transform {
        battery: String::new(),
        probe: probe.id.clone(),
        detail: e.to_string(),
    })
}

/// One text as `battery preview` shows it: the text after the string edits, and the tokens
/// that reach the model (after the token edits, truncated to the tokenizer's length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownText {
    pub text: String,
    pub tokens: Vec<String>,
}

/// One sample of a text preview: clean, probed and with the matched control (`None` for a
/// robustness perturbation, which has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewRow {
    /// The sample's line among the data's non-blank texts, from 0.
    pub index: usize,
    pub clean: ShownText,
    pub probed: ShownText,
    pub control: Option<ShownText>,
}

/// What a text probe does to its first `count` samples under `seed`, without a model (`battery
/// preview`): built as a scan builds them (sample order, transform, control, per-sample
/// randomness), with the tokenizer's own length standing in for the model's. Searches and
/// attacks have no fixed transform to show.
pub fn preview(
    data: &TextDataset,
    tokenizer: &TextTokenizer,
    battery: &Battery,
    seed: u64,
    probe: &Probe,
    count: usize,
) -> Result<Vec<PreviewRow>, ScanError> {
    let transform = fixed(probe, &tokenizer.vocabulary)?;
    let control = transform.control();
    let rngs = ProbeRngs::new(seed, &crate::runner::probe_key(battery, probe));
    let shown = |text: String, tokens: &TokenSequence| ShownText {
        text,
        tokens: tokenizer.truncate(tokens).iter().map(|&id| tokenizer.vocabulary.tokens[id as usize].clone()).collect(),
    };
    let order = crate::runner::sample_order(seed, data.len());
    order[..probe.samples.min(order.len())]
        .iter()
        .take(count)
        .map(|&index| {
            let text = &data.texts[index];
            let clean_text = tokenizer.clip(text).to_string();
            let clean_tokens = tokenizer.encode(&clean_text, index)?;
            let (probed_text, probed_tokens) =
                probe_text(tokenizer, text, &rngs, index, transform.as_ref(), Stream::Probe)?;
            let control = control
                .as_deref()
                .map(|c| probe_text(tokenizer, text, &rngs, index, c, Stream::Control))
                .transpose()?
                .map(|(t, tokens)| shown(t, &tokens));
            Ok(PreviewRow {
                index,
                clean: shown(clean_text, &clean_tokens),
                probed: shown(probed_text, &probed_tokens),
                control,
            })
        })
        .collect()
}

/// The candidate space of a vocabulary sweep over this tokenizer (`battery preview`): the
/// tokens its filter admits, in the order the sweep takes them; `None` for other searches.
pub fn search_outline(tokenizer: &TextTokenizer, spec: &SearchSpec) -> Option<vocabulary::Outline> {
    let SearchSpec::Vocabulary { tokens, pairs, .. } = spec else { return None };
    let exclude: Vec<u32> = tokenizer.pad_id.into_iter().collect();
    Some(vocabulary::outline(&tokenizer.vocabulary, tokens, &exclude, *pairs))
}

impl CleanData for TextDataset {
    fn modality(&self) -> Modality {
        Modality::Text
    }

    fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn sha256(&self) -> &str {
        &self.sha256
    }

    fn len(&self) -> usize {
        TextDataset::len(self)
    }

    fn labels(&self) -> Option<&[i64]> {
        self.y.as_deref()
    }
}

/// Clean texts with the tokenizer that turns them into the model's token ids.
#[derive(Debug, Clone, Copy)]
pub struct TextInputs<'a> {
    pub data: &'a TextDataset,
    pub encoder: &'a TextEncoder,
}

impl CleanData for TextInputs<'_> {
    fn modality(&self) -> Modality {
        self.data.modality()
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

impl ScanInputs for TextInputs<'_> {
    type Session<'s>
        = TextInputs<'s>
    where
        Self: 's;

    /// The encoder was checked against the candidate when it was built.
    fn session(&self, _: &Engine, _: &[Battery]) -> Result<TextInputs<'_>, ScanError> {
        Ok(*self)
    }

    fn explain(&self, error: ScanError) -> ScanError {
        explain(error, self.encoder)
    }
}

impl<'a> Session for TextInputs<'a> {
    type Kit<'k>
        = TextKit<'k>
    where
        Self: 'k;

    fn clean_chunk(&mut self, chunk: &[usize], _candidate: bool) -> Result<Batch, ScanError> {
        Ok(self.encoder.batch(&clean_sequences(self.data, self.encoder, chunk)?))
    }

    /// Rows of one length per call, as the probes' rows are ([`Kit::build_groups`]).
    fn clean_groups(&mut self, chunk: &[usize], _candidate: bool, batch: usize) -> Result<Groups, ScanError> {
        Ok(self.encoder.length_groups(&clean_sequences(self.data, self.encoder, chunk)?, batch))
    }

    fn kit(&mut self, _: &Battery, seed: u64) -> Result<(TextKit<'_>, Option<ImageInterpretation>), ScanError> {
        Ok((TextKit { seed, data: self.data, encoder: self.encoder }, None))
    }
}

/// The candidate as the sweep sees it: token sequences in, predicted classes out.
struct EngineOracle<'a> {
    engine: &'a mut Engine,
    encoder: &'a TextEncoder,
    kind: ScoreKind,
}

impl TokenOracle for EngineOracle<'_> {
    /// One model batch per length group, each padded to its own longest sequence: the sweep's
    /// calls mix every input with every candidate, so one padding for the call would make
    /// every short input cost the longest one's positions.
    fn classify(&mut self, sequences: &[TokenSequence]) -> Result<Vec<usize>, EngineError> {
        Ok(Predictions::from_scores(&self.scores(sequences)?, self.kind).class)
    }

    fn evidence(&mut self, sequences: &[TokenSequence]) -> Result<Vec<Vec<f32>>, EngineError> {
        let scores = self.scores(sequences)?;
        Ok(scores
            .rows()
            .into_iter()
            .map(|r| match self.kind {
                // Probabilities saturate; their logs keep a margin (ln 1e-30 is the floor).
                ScoreKind::Probabilities => r.iter().map(|&p| p.max(1e-30).ln()).collect(),
                ScoreKind::Logits => r.to_vec(),
            })
            .collect())
    }
}

/// Model batches of texts an attack writes at a time: enough for each length to fill batches.
const TEXT_CHUNK_BATCHES: usize = 16;

impl TextOracle for EngineOracle<'_> {
    /// A few model batches of texts at a time: each text is written and tokenized, texts that
    /// tokenize alike are scored once (so they tie exactly), and the others go to the model in
    /// batches of one length each: no text is padded, so its scores do not depend on which
    /// texts it was batched with, nor on the batch size.
    fn classify(
        &mut self,
        count: usize,
        text: &TextFill<'_>,
        row: &mut dyn FnMut(usize, ArrayView1<'_, f32>),
    ) -> Result<(), EngineError> {
        let size = self.engine.batch_size.max(1);
        let encoder = self.encoder;
        let mut start = 0;
        while start < count {
            let end = count.min(start + size * TEXT_CHUNK_BATCHES);
            let sequences: Vec<TokenSequence> = (start..end)
                .into_par_iter()
                .map(|k| encoder.tokenizer.encode(&text(k), k).map_err(|e| EngineError::Run(e.to_string())))
                .collect::<Result<_, _>>()?;
            let fed: Vec<Vec<u32>> = sequences.iter().map(|s| encoder.tokenizer.truncate(s)).collect();
            // Each text's first look-alike in the chunk, which is scored for both.
            let mut first: HashMap<&[u32], usize> = HashMap::new();
            let same: Vec<usize> =
                fed.iter().enumerate().map(|(j, ids)| *first.entry(ids.as_slice()).or_insert(j)).collect();
            let mut unique: Vec<usize> = (0..fed.len()).filter(|&j| same[j] == j).collect();
            unique.sort_by_key(|&j| (fed[j].len(), j));
            let mut scored: Vec<Vec<f32>> = vec![Vec::new(); fed.len()];
            for length in unique.chunk_by(|&a, &b| fed[a].len() == fed[b].len()) {
                for batch in length.chunks(size) {
                    let rows: Vec<TokenSequence> = batch.iter().map(|&j| sequences[j].clone()).collect();
                    let mut scores = self.engine.classify(&encoder.batch(&rows))?;
                    to_probabilities(&mut scores, self.kind);
                    for (&j, r) in batch.iter().zip(scores.rows()) {
                        scored[j] = r.to_vec();
                    }
                }
            }
            for (j, &s) in same.iter().enumerate() {
                row(start + j, ArrayView1::from(&scored[s]));
            }
            start = end;
        }
        Ok(())
    }
}

impl EngineOracle<'_> {
    /// The scores of `sequences`, one model batch per length group.
    fn scores(&mut self, sequences: &[TokenSequence]) -> Result<ndarray::Array2<f32>, EngineError> {
        self.engine.classify_groups(&self.encoder.length_groups(sequences, self.engine.batch_size))
    }
}

/// The report's view of a sweep.
fn summarise(found: &vocabulary::Sweep, search_samples: usize, confirmation_samples: usize) -> SearchSummary {
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
            mask_l1: b.ids.len() as f64,
            description: describe(&b.tokens),
        })
        .collect();
    SearchSummary {
        method: "vocabulary".into(),
        statistic: "flip-into rate".into(),
        per_class,
        chosen_class: found.chosen.class,
        queries: found.queries,
        search_samples,
        confirmation_samples,
        mask_png: String::new(),
        pattern_png: String::new(),
        mask_l1: found.chosen.ids.len() as f64,
        mask_bounds: None,
        vocabulary: Some(found.clone()),
        features: None,
        trigger: None,
        coverage: None,
        budget: None,
    }
}

/// The sweep's inputs and its held-out confirmation inputs, in `indices` order: the first third
/// (rounded up) and the rest of `inputs`' half of `indices` ([`half`]).
fn sweep_split(indices: &[usize], confidence: &[f32], inputs: SweepInputs) -> (Vec<usize>, Vec<usize>) {
    let mut search = half(indices, confidence, inputs);
    let confirm = search.split_off(search.len().div_ceil(3));
    (search, confirm)
}

/// The entries of `indices`, in order, whose clean confidence is at least their median
/// (`Confident`) or below it (`Uncertain`): the two halves never share an entry and together
/// hold every one.
fn half(indices: &[usize], confidence: &[f32], inputs: SweepInputs) -> Vec<usize> {
    let mut values: Vec<f32> = indices.iter().map(|&i| confidence[i]).collect();
    values.sort_by(f32::total_cmp);
    let Some(&median) = values.get(values.len() / 2) else { return Vec::new() };
    let confident = |i: usize| confidence[i] >= median;
    indices.iter().copied().filter(|&i| confident(i) == (inputs == SweepInputs::Confident)).collect()
}

/// `token 'cf'` or `tokens 'cf' + 'mn'`.
fn describe(tokens: &[String]) -> String {
    let quoted: Vec<String> = tokens.iter().map(|t| format!("'{t}'")).collect();
    let noun = if tokens.len() == 1 { "token" } else { "tokens" };
    format!("{noun} {}", quoted.join(" + "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gather_past_its_table_is_explained_as_a_tokenizer_mismatch() {
        let detail = "Non-zero status code returned while running Gather node. Name:'gather' Status Message: \
                      indices element out of data bounds, idx=1204 must be within the inclusive range [-200,199]";
        let message = out_of_range(detail, std::path::Path::new("tok.json"), 1205).unwrap();
        assert!(message.contains("tokenizer tok.json"), "{message}");
        assert!(message.contains("ids up to 1204"), "{message}");
        assert!(message.contains("--tokenizer"), "{message}");
        assert_eq!(out_of_range("Got invalid dimensions for input", std::path::Path::new("t"), 10), None);
    }

    /// Confidences of inputs 0..8; the probe's samples are given in its sample order.
    const CONFIDENCE: [f32; 8] = [0.99, 0.51, 0.8, 0.6, 0.95, 0.55, 0.7, 0.9];
    const SAMPLES: [usize; 8] = [3, 0, 6, 1, 7, 2, 5, 4];

    #[test]
    fn the_confident_and_uncertain_halves_split_the_samples_at_the_median_in_sample_order() {
        // Sorted: 0.51 0.55 0.6 0.7 | 0.8 0.9 0.95 0.99; the median is the upper middle, 0.8.
        let confident = half(&SAMPLES, &CONFIDENCE, SweepInputs::Confident);
        let uncertain = half(&SAMPLES, &CONFIDENCE, SweepInputs::Uncertain);
        assert_eq!(confident, [0, 7, 2, 4]);
        assert_eq!(uncertain, [3, 6, 1, 5]);
        // Ties at the median go to the confident half; the halves never overlap.
        let tied = [0.5_f32, 0.7, 0.7, 0.7, 0.9];
        assert_eq!(half(&[0, 1, 2, 3, 4], &tied, SweepInputs::Confident), [1, 2, 3, 4]);
        assert_eq!(half(&[0, 1, 2, 3, 4], &tied, SweepInputs::Uncertain), [0]);
        assert!(half(&[], &CONFIDENCE, SweepInputs::Uncertain).is_empty());
    }

    #[test]
    fn each_half_is_swept_on_its_first_third_and_confirmed_on_the_rest() {
        assert_eq!(sweep_split(&SAMPLES, &CONFIDENCE, SweepInputs::Confident), (vec![0, 7], vec![2, 4]));
        assert_eq!(sweep_split(&SAMPLES, &CONFIDENCE, SweepInputs::Uncertain), (vec![3, 6], vec![1, 5]));
        // 7 uncertain of 14: 3 swept (rounded up), 4 confirm; the same inputs every call.
        let confidence: Vec<f32> = (0..14).map(|i| i as f32 / 14.0).collect();
        let samples: Vec<usize> = (0..14).rev().collect();
        let (search, confirm) = sweep_split(&samples, &confidence, SweepInputs::Uncertain);
        assert_eq!((search.as_slice(), confirm.as_slice()), (&[6, 5, 4][..], &[3, 2, 1, 0][..]));
        assert_eq!(sweep_split(&samples, &confidence, SweepInputs::Uncertain), (search, confirm));
    }
}
