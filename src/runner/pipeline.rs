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

use super::{Batch, Kit, Predictions, ScanError, ScoreKind, chunk_size, classify_all, image};
use std::sync::mpsc::Receiver;

use crate::runner::Models;
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
}

/// Classifies every job's inputs in order, calling `done(job, output)` as each job finishes
/// (in job order, so a caller can report progress).
pub(super) fn run<K: Kit>(
    models: &mut Models<'_>,
    kind: ScoreKind,
    kit: &K,
    jobs: &[Job<'_, K::Transform>],
    mut done: impl FnMut(usize, JobOutput),
) -> Result<(), ScanError> {
    let chunks = plan(jobs, models.candidate.batch_size, chunk_size(models.candidate));
    let chunks = &chunks;
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Result<Batch, ScanError>>(AHEAD);
        let producer = scope.spawn(move || {
            for (job, chunk) in chunks.iter().flatten() {
                let job: &Job<'_, K::Transform> = &jobs[*job];
                let built = kit.build(job.key, chunk, job.transform, job.stream);
                let failed = built.is_err();
                // A closed channel means inference stopped on an error: stop building.
                if sender.send(built).is_err() || failed {
                    break;
                }
            }
        });
        let classified = consume(models, kind, jobs, chunks, &receiver, &mut done);
        // Unblocks a producer waiting to hand over a chunk nobody will classify.
        drop(receiver);
        let joined = producer.join();
        classified?;
        joined.map_err(|_| stopped())
    })
}

/// The calling thread's half of [`run`]: classifies the chunks as they arrive.
fn consume<T: ?Sized>(
    models: &mut Models<'_>,
    kind: ScoreKind,
    jobs: &[Job<'_, T>],
    chunks: &[Vec<(usize, &[usize])>],
    receiver: &Receiver<Result<Batch, ScanError>>,
    done: &mut impl FnMut(usize, JobOutput),
) -> Result<(), ScanError> {
    for (j, job) in jobs.iter().enumerate() {
        let references = if job.references { models.references.len() } else { 0 };
        let mut output =
            JobOutput { candidate: Predictions::default(), references: vec![Predictions::default(); references] };
        for _ in &chunks[j] {
            let batch = receiver.recv().map_err(|_| stopped())??;
            let (own, others) = classify_all(models, &batch, kind, job.references)?;
            image::recycle(batch);
            output.candidate.extend(own);
            for (out, predictions) in output.references.iter_mut().zip(others) {
                out.extend(predictions);
            }
        }
        done(j, output);
    }
    Ok(())
}

fn stopped() -> ScanError {
    ScanError::Incompatible("building probed inputs failed".into())
}

/// Each job's chunks: `chunk` samples each, except that the stream's very first chunk is one
/// batch long, because nothing overlaps its building.
fn plan<'a, T: ?Sized>(jobs: &[Job<'a, T>], batch: usize, chunk: usize) -> Vec<Vec<(usize, &'a [usize])>> {
    let mut first = true;
    jobs.iter()
        .enumerate()
        .map(|(j, job)| {
            let mut rest = job.indices;
            let mut chunks = Vec::new();
            while !rest.is_empty() {
                let size = if first { batch.min(chunk) } else { chunk };
                first = false;
                let (head, tail) = rest.split_at(size.min(rest.len()));
                chunks.push((j, head));
                rest = tail;
            }
            chunks
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};

    use super::*;
    use crate::battery::spec::Probe;
    use crate::engine::{Engine, EngineOptions, InputData};
    use crate::runner::{Example, Prepared, SearchContext};

    fn job(indices: &[usize]) -> Job<'_, ()> {
        Job { key: "k", indices, transform: &(), stream: Stream::Probe, references: true }
    }

    #[test]
    fn only_the_streams_first_chunk_is_shortened_to_one_batch() {
        let (a, b, c): (Vec<usize>, Vec<usize>, Vec<usize>) = ((0..10).collect(), Vec::new(), (0..7).collect());
        let jobs = [job(&a), job(&b), job(&c)];
        let sizes: Vec<Vec<usize>> =
            plan(&jobs, 3, 4).iter().map(|chunks| chunks.iter().map(|(_, c)| c.len()).collect()).collect();
        assert_eq!(sizes, vec![vec![3, 4, 3], vec![], vec![4, 3]]);
        let owners: Vec<usize> = plan(&jobs, 3, 4).iter().flatten().map(|(j, _)| *j).collect();
        assert_eq!(owners, vec![0, 0, 0, 2, 2]);
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

        fn build(&self, _: &str, chunk: &[usize], _: &(), _: Stream) -> Result<Batch, ScanError> {
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
        let result = run(&mut models, ScoreKind::Probabilities, &kit, jobs, |j, output| {
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
        // Chunks of job 0: [0..4), [4..260), [260..516), [516..600); the third fails.
        let (a, c): (Vec<usize>, Vec<usize>) = ((0..600).collect(), (0..3).collect());
        let (result, seen) = stream(Zeros { fail_at: Some(300), misshape_at: None }, &[job(&a), job(&c)]);
        assert!(matches!(result, Err(ScanError::Incompatible(ref m)) if m == "cannot build"), "{result:?}");
        assert!(seen.is_empty(), "no job finished: {seen:?}");
    }

    #[test]
    fn a_failed_inference_stops_the_producer_too() {
        // The first chunk of job 1 is refused while job 1's later chunks are being built: the
        // producer must see the stream close instead of waiting to hand them over.
        let (a, c): (Vec<usize>, Vec<usize>) = ((0..10).collect(), (1000..2000).collect());
        let (result, seen) = stream(Zeros { fail_at: None, misshape_at: Some(1000) }, &[job(&a), job(&c)]);
        assert!(matches!(result, Err(ScanError::Engine(_))), "{result:?}");
        assert_eq!(seen, vec![(0, 10)]);
    }
}
