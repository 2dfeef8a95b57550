//! Fuzz-style robustness of the attestation reader (issue #14, item 3): random byte mutations of
//! a real attestation, of a signed DSSE envelope of it, and of the statement inside a validly
//! signed envelope never panic; each is read, signature-checked and checked for consistency
//! in-process, exactly as `attest verify` does.
//!
//! Bounded to a few seconds by default; `PROBITY_FUZZ_CASES=N` runs N cases per target
//! (`cargo test --release --test it fuzz_attest -- --nocapture` prints how many ran).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use probity::attest::{self, Document, Statement, dsse};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

fn cases() -> u32 {
    std::env::var("PROBITY_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(5000)
}

/// The statement of a real scan: the committed report of a `probity scan` of badnets-mlp64.
fn statement_bytes() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports/report-fail.json");
    let report: probity::report::Report = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    serde_json::to_vec_pretty(&Statement::for_report(&report)).unwrap()
}

fn key() -> dsse::PrivateKey {
    dsse::PrivateKey::from_pem(
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n-----END PRIVATE KEY-----\n",
    )
    .unwrap()
}

/// One edit: overwrite, insert or delete a byte at a position (taken modulo the length).
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => any::<usize>().prop_map(Edit::Delete),
    ];
    prop::collection::vec(edit, 1..8)
}

fn mutate(bytes: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for edit in edits {
        match *edit {
            Edit::Set(i, b) if !out.is_empty() => {
                let n = out.len();
                out[i % n] = b;
            }
            Edit::Insert(i, b) => out.insert(i % (out.len() + 1), b),
            Edit::Delete(i) if !out.is_empty() => {
                let n = out.len();
                out.remove(i % n);
            }
            _ => {}
        }
    }
    out
}

/// What `attest verify` does with a file, short of hashing the model: read, check the
/// signature, parse, look for contradictions.
fn read_all_the_way(bytes: &[u8], public: &dsse::PublicKey) {
    let path = Path::new("fuzzed.json");
    let Ok(document) = Document::parse(path, bytes) else { return };
    let _ = document.signature(None);
    let _ = document.signature(Some(public));
    if let Ok(statement) = document.statement(path) {
        let _ = statement.contradictions();
        let _ = attest::verify(Path::new("/nonexistent/model.onnx"), &statement);
    }
}

/// Runs `target` on `cases()` random edit lists; a panic fails the test with the shrunk edits.
fn fuzz(name: &str, target: impl Fn(&[Edit])) {
    let config = ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = TestRunner::new(config);
    let executions = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let result = runner.run(&edits(), |edits| {
        executions.fetch_add(1, Ordering::Relaxed);
        target(&edits);
        Ok(())
    });
    eprintln!(
        "fuzz_attest {name}: {} executions in {:.1}s, {}",
        executions.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        if result.is_ok() { "no panic" } else { "PANIC" }
    );
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

#[test]
fn mutated_statements_never_panic() {
    let (bytes, key) = (statement_bytes(), key().public_key());
    fuzz("statement", |edits| read_all_the_way(&mutate(&bytes, edits), &key));
}

#[test]
fn mutated_envelopes_never_panic() {
    let key = key();
    let envelope = serde_json::to_vec(&dsse::Envelope::sign(&statement_bytes(), &key)).unwrap();
    let public = key.public_key();
    fuzz("envelope", |edits| read_all_the_way(&mutate(&envelope, edits), &public));
}

#[test]
fn mutated_statements_behind_a_valid_signature_never_panic() {
    // The signature verifies, so the mutated statement reaches the parser and the checks.
    let (bytes, key) = (statement_bytes(), key());
    let public = key.public_key();
    fuzz("signed statement", |edits| {
        let envelope = serde_json::to_vec(&dsse::Envelope::sign(&mutate(&bytes, edits), &key)).unwrap();
        read_all_the_way(&envelope, &public);
    });
}
