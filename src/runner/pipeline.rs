//! The stream of probed inputs into the models.
//!
//! A scan queues runs (a probe's transform over its samples, and its matched control). One
//! producer thread builds their chunks in order while the calling thread classifies the chunk
//! before. Large chunks are built with rayon. The producer runs at most [`AHEAD`] chunks ahead of
//! inference, so memory stays bounded by a few chunks whatever the battery's size. The stream
//! crosses run and probe boundaries: the next probe's first chunk is built while this probe's
//! last one is classified. So generation hides behind inference even when a probe's samples fit
//! in one batch (the tiny MLP's 400 samples at batch 1,024).
//!
//! Results do not depend on how runs are cut into chunks: every sample's randomness comes from
//! its own (seed, probe, index) generator.

use std::sync::mpsc::Receiver;

use super::{Groups, Kit, Models, Part, Predictions, ScanError, ScoreKinds, chunk_size};
use crate::transform::Stream;

/// Chunks built and waiting while one is classified. With the one being built, and the one
/// being classified, at most three chunks exist at once (the recycled buffer pool's size).
const AHEAD: usize = 1;

/// One run through the models: `transform` applied to the samples at `indices`.
pub(super) struct Job<'a, T: ?Sized> {
    pub key: &'a str,
    pub indices: &'a [usize],
    pub transform: &'a T,
    pub stream: Stream,
    /// Whether the reference models classify this run too (a probe: yes; its control, which
    /// only the candidate's own evidence uses: no).
    pub references: bool,
}

/// A run's predictions: the candidate's, and each reference's when the run asked for them.
pub(super) struct JobOutput {
    pub candidate: Predictions,
    pub references: Vec<Predictions>,
    /// Inputs on which the candidate's scores are not all finite (NaN or ±Inf): its
    /// predictions there rest on no number, and no verdict may rest on them.
    pub non_finite: usize,
}

/// A chunk: consecutive parts of consecutive jobs, `(job, indices)`.
type Chunk<'a> = Vec<(usize, &'a [usize])>;

/// Classifies every job's inputs in order, calling `done(job, output)` as each job finishes
/// (in job order, so a caller can report progress).
pub(super) fn run<K: Kit>(
    models: &mut Models<'_>,
    kinds: &ScoreKinds,
    kit: &K,
    jobs: &[Job<'_, K::Transform>],
    mut done: impl FnMut(usize, JobOutput),
) -> Result<(), ScanError> {
    let batch = models.candidate.batch_size;
    let chunks = plan(jobs, batch, chunk_size(models.candidate));
    let chunks = &chunks;
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Result<Groups, ScanError>>(AHEAD);
        let producer = scope.spawn(move || {
            for chunk in chunks {
                let parts: Vec<Part<'_, K::Transform>> = chunk
                    .iter()
                    .map(|&(j, indices)| {
                        let job = &jobs[j];
                        Part { key: job.key, indices, transform: job.transform, stream: job.stream }
                    })
                    .collect();
                let built = kit.build_groups(&parts, batch);
                let failed = built.is_err();
                // A closed channel means inference stopped on an error: stop building.
                if sender.send(built).is_err() || failed {
                    break;
                }
            }
        });
        let classified = consume(models, kinds, kit, jobs, chunks, &receiver, &mut done);
        // Unblocks a producer waiting to hand over a chunk nobody will classify.
        drop(receiver);
        let joined = producer.join();
        classified?;
        joined.map_err(|_| stopped())
    })
}

/// The calling thread's half of [`run`]: classifies the chunks as they arrive and hands each
/// job's predictions over once its last part is classified.
fn consume<K: Kit>(
    models: &mut Models<'_>,
    kinds: &ScoreKinds,
    kit: &K,
    jobs: &[Job<'_, K::Transform>],
    chunks: &[Chunk<'_>],
    receiver: &Receiver<Result<Groups, ScanError>>,
    done: &mut impl FnMut(usize, JobOutput),
) -> Result<(), ScanError> {
    let references = models.references.len();
    let mut outputs: Vec<Option<JobOutput>> = jobs
        .iter()
        .map(|job| {
            let n = if job.references { references } else { 0 };
            Some(JobOutput {
                candidate: Predictions::default(),
                references: vec![Predictions::default(); n],
                non_finite: 0,
            })
        })
        .collect();
    let mut next = 0;
    let mut finish = |outputs: &mut [Option<JobOutput>], next: &mut usize| {
        while *next < jobs.len() {
            let output = outputs[*next].as_ref().expect("handed over once");
            if output.candidate.len() < jobs[*next].indices.len() {
                break;
            }
            done(*next, outputs[*next].take().expect("handed over once"));
            *next += 1;
        }
    };
    for chunk in chunks {
        finish(&mut outputs, &mut next);
        let groups = receiver.recv().map_err(|_| stopped())??;
        // A chunk mixing runs with and without references is classified by the references
        // whole; the rows of runs that did not ask are dropped.
        let with_references = chunk.iter().any(|&(j, _)| jobs[j].references);
        let (own, finite, others) = classify_all(models, &groups, kinds, with_references)?;
        for (_, batch) in groups {
            kit.recycle(batch);
        }
        let mut offset = 0;
        for &(j, indices) in chunk {
            let rows = offset..offset + indices.len();
            let output = outputs[j].as_mut().expect("a job's parts come before it is handed over");
            output.candidate.extend(own.rows(rows.clone()));
            output.non_finite += finite[rows.clone()].iter().filter(|&&f| !f).count();
            for (out, predictions) in output.references.iter_mut().zip(&others) {
                out.extend(predictions.rows(rows.clone()));
            }
            offset = rows.end;
        }
    }
    finish(&mut outputs, &mut next);
    Ok(())
}

/// One chunk's model calls through the candidate and, when `references`, every reference,
/// each read with its own score kind (decided on its clean pass, never again per batch); with,
/// per input, whether the candidate's scores are all finite.
fn classify_all(
    models: &mut Models<'_>,
    groups: &Groups,
    kinds: &ScoreKinds,
    references: bool,
) -> Result<(Predictions, Vec<bool>, Vec<Predictions>), ScanError> {
    let scores = models.candidate.classify_groups(groups)?;
    let finite = scores.rows().into_iter().map(|row| row.iter().all(|v| v.is_finite())).collect();
    let own = Predictions::from_scores(&scores, kinds.candidate);
    let mut others = Vec::new();
    for (reference, &kind) in models.references.iter_mut().zip(&kinds.references).filter(|_| references) {
        others.push(Predictions::from_scores(&reference.classify_groups(groups)?, kind));
    }
    Ok((own, finite, others))
}

fn stopped() -> ScanError {
    ScanError::Incompatible("building probed inputs failed".into())
}

/// The stream of chunks: every job's samples in job order, cut into chunks of `chunk` samples
/// that run across job boundaries, so every call but the stream's last is a full batch. The
/// stream's first chunk is one batch long, because nothing overlaps its building.
fn plan<'a, T: ?Sized>(jobs: &[Job<'a, T>], batch: usize, chunk: usize) -> Vec<Chunk<'a>> {
    let mut chunks: Vec<Chunk<'a>> = Vec::new();
    let mut current: Chunk<'a> = Vec::new();
    let mut room = batch.min(chunk).max(1);
    for (j, job) in jobs.iter().enumerate() {
        let mut rest = job.indices;
        while !rest.is_empty() {
            let (head, tail) = rest.split_at(room.min(rest.len()));
            current.push((j, head));
            room -= head.len();
            rest = tail;
            if room == 0 {
                chunks.push(std::mem::take(&mut current));
                room = chunk.max(1);
            }
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};

    use super::*;
    use crate::battery::spec::Probe;
    use crate::engine::{Engine, EngineOptions, InputData};
    use crate::runner::{Batch, ScoreKind};
    use crate::runner::{Example, Prepared, SearchContext};

    fn job(indices: &[usize]) -> Job<'_, ()> {
        Job { key: "k", indices, transform: &(), stream: Stream::Probe, references: true }
    }

    #[test]
    fn chunks_run_across_jobs_and_only_the_last_is_short() {
        let (a, b, c): (Vec<usize>, Vec<usize>, Vec<usize>) = ((0..10).collect(), Vec::new(), (0..7).collect());
        let jobs = [job(&a), job(&b), job(&c)];
        let chunks = plan(&jobs, 3, 6);
        let sizes: Vec<Vec<(usize, usize)>> =
            chunks.iter().map(|chunk| chunk.iter().map(|(j, part)| (*j, part.len())).collect()).collect();
        // The first chunk is one batch; then chunks of 6 straddle jobs 0 and 2; 17 = 3 + 6 + 6 + 2.
        assert_eq!(sizes, vec![vec![(0, 3)], vec![(0, 6)], vec![(0, 1), (2, 5)], vec![(2, 2)]]);
        let flat: Vec<usize> = chunks.iter().flatten().flat_map(|(_, part)| part.iter().copied()).collect();
        let expected: Vec<usize> = a.iter().chain(&c).copied().collect();
        assert_eq!(flat, expected, "every sample once, in job order");
    }

    /// Zero-filled 1x8x8 inputs for the digits MLP. Building the chunk that holds `fail_at`
    /// fails; the chunk that holds `misshape_at` is built 1x8x7, which the model refuses.
    struct Zeros {
        fail_at: Option<usize>,
        misshape_at: Option<usize>,
    }

    impl Kit for Zeros {
        type Transform = ();

        fn prepare(&self, _: &Probe, _: &str, _: &[usize], _: SearchContext<'_>) -> Result<Prepared<()>, ScanError> {
            unreachable!("the pipeline never prepares")
        }

        fn control(&self, _: &()) -> Option<Box<()>> {
            None
        }

        fn build(&self, parts: &[Part<'_, ()>]) -> Result<Batch, ScanError> {
            let chunk: Vec<usize> = parts.iter().flat_map(|p| p.indices.iter().copied()).collect();
            if self.fail_at.is_some_and(|i| chunk.contains(&i)) {
                return Err(ScanError::Incompatible("cannot build".into()));
            }
            let width = if self.misshape_at.is_some_and(|i| chunk.contains(&i)) { 7 } else { 8 };
            Ok(vec![("input".into(), InputData::F32(ArrayD::zeros(IxDyn(&[chunk.len(), 1, 8, width]))))])
        }

        fn examples(&self, _: &str, _: &[usize], _: &(), _: &Predictions, _: &Predictions) -> Vec<Example> {
            Vec::new()
        }
    }

    fn engine() -> Engine {
        let runtime = crate::onnxruntime::load(None).expect("ONNX Runtime");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/digits/clean-mlp64-s1.onnx");
        let options = EngineOptions { batch_size: Some(4), threads: Some(1), ..EngineOptions::default() };
        Engine::load(runtime, &path, &options).expect("the digits MLP")
    }

    /// (job, predictions) as `done` saw them.
    fn stream(kit: Zeros, jobs: &[Job<'_, ()>]) -> (Result<(), ScanError>, Vec<(usize, usize)>) {
        let mut engine = engine();
        let mut models =
            Models { candidate: &mut engine, references: &mut [], baseline: None, baseline_tolerance: 0.0 };
        let mut seen = Vec::new();
        let kinds = ScoreKinds { candidate: ScoreKind::Probabilities, references: Vec::new() };
        let result = run(&mut models, &kinds, &kit, jobs, |j, output| {
            seen.push((j, output.candidate.len()));
        });
        (result, seen)
    }

    #[test]
    fn every_job_finishes_in_order_with_one_prediction_per_input() {
        let (a, none, c): (Vec<usize>, Vec<usize>, Vec<usize>) = ((0..600).collect(), Vec::new(), (0..3).collect());
        let (result, seen) = stream(Zeros { fail_at: None, misshape_at: None }, &[job(&a), job(&none), job(&c)]);
        result.expect("the stream runs");
        assert_eq!(seen, vec![(0, 600), (1, 0), (2, 3)]);
    }

    #[test]
    fn a_failed_build_stops_the_stream_with_its_error() {
        // Chunks: [0..4), [4..260), [260..516), then [516..600) with job 1; the third fails.
        let (a, c): (Vec<usize>, Vec<usize>) = ((0..600).collect(), (0..3).collect());
        let (result, seen) = stream(Zeros { fail_at: Some(300), misshape_at: None }, &[job(&a), job(&c)]);
        assert!(matches!(result, Err(ScanError::Incompatible(ref m)) if m == "cannot build"), "{result:?}");
        assert!(seen.is_empty(), "no job finished: {seen:?}");
    }

    #[test]
    fn a_failed_inference_stops_the_producer_too() {
        // The first chunk of job 1 is refused while job 1's later chunks are being built: the
        // producer must see the stream close instead of waiting to hand them over.
        let (a, c): (Vec<usize>, Vec<usize>) = ((0..4).collect(), (1000..2000).collect());
        let (result, seen) = stream(Zeros { fail_at: None, misshape_at: Some(1000) }, &[job(&a), job(&c)]);
        assert!(matches!(result, Err(ScanError::Engine(_))), "{result:?}");
        assert_eq!(seen, vec![(0, 4)]);
    }
}
