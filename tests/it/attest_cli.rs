//! `probity attest verify` and `attest sign` with the real binary (issue #14, item 3:
//! "attestations that mean something"): a statement that contradicts itself is rejected, DSSE
//! envelopes signed with keys made here verify, any one-byte change to what was signed (or to
//! the model) is rejected, and the output always says whether a signature was checked.

use crate::common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{fixture, probity};
use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use predicates::prelude::*;
use serde_json::{Value, json};

/// A scan of the digits fixture `model` with a JSON report and an attestation.
struct Attested {
    dir: tempfile::TempDir,
    attestation: PathBuf,
    model: PathBuf,
}

fn attested(model: &str) -> Attested {
    let scan = common::scan(&fixture(model), &fixture("digits-test.npz"), &["--format", "json,intoto", "--quiet"]);
    let attestation = scan.out.path().join("attestation.intoto.json");
    Attested { dir: scan.out, attestation, model: fixture(model) }
}

fn verify(model: &Path, attestation: &Path, key: Option<&Path>) -> assert_cmd::assert::Assert {
    let mut cmd = probity();
    cmd.args(["attest", "verify", "--model"]).arg(model).arg("--attestation").arg(attestation);
    if let Some(key) = key {
        cmd.arg("--key").arg(key);
    }
    cmd.assert()
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut value);
    let edited = path.with_file_name("edited.intoto.json");
    std::fs::write(&edited, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    edited
}

/// Signs a message, returning the signature's bytes.
type Signer = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A signing key made for this test, its PEM public key on disk, and a signer.
struct TestKey {
    public_pem: PathBuf,
    private_pem: PathBuf,
    sign: Signer,
}

fn p256_key(dir: &Path) -> TestKey {
    // A random scalar is a valid P-256 key except with probability ~2^-32.
    let key = loop {
        if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&rand::random::<[u8; 32]>()) {
            break key;
        }
    };
    let public_pem = dir.join("p256.pub");
    std::fs::write(&public_pem, key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
    let private_pem = dir.join("p256.pem");
    std::fs::write(&private_pem, key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    let sign = move |message: &[u8]| {
        use p256::ecdsa::signature::Signer as _;
        let signature: p256::ecdsa::Signature = key.sign(message);
        signature.to_der().as_bytes().to_vec()
    };
    TestKey { public_pem, private_pem, sign: Box::new(sign) }
}

fn ed25519_key(dir: &Path) -> TestKey {
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let public_pem = dir.join("ed25519.pub");
    std::fs::write(&public_pem, key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
    let private_pem = dir.join("ed25519.pem");
    std::fs::write(&private_pem, key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    let sign = move |message: &[u8]| {
        use ed25519_dalek::Signer as _;
        key.sign(message).to_bytes().to_vec()
    };
    TestKey { public_pem, private_pem, sign: Box::new(sign) }
}

/// The envelope `cosign attest-blob --key` writes, built here from the DSSE v1 specification
/// (not from probity's code): the signature is over
/// `"DSSEv1" SP len(type) SP type SP len(payload) SP payload`.
fn envelope(payload: &[u8], key: &TestKey) -> Value {
    let payload_type = "application/vnd.in-toto+json";
    let mut pae = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    pae.extend_from_slice(payload);
    json!({
        "payloadType": payload_type,
        "payload": STANDARD.encode(payload),
        "signatures": [{"keyid": "", "sig": STANDARD.encode((key.sign)(&pae))}],
    })
}

fn write_envelope(dir: &Path, name: &str, envelope: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(envelope).unwrap()).unwrap();
    path
}

/// Replaces the character at `at` of a base64 string with another base64 character.
fn change_base64_char(text: &str, at: usize) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

// --- consistency -------------------------------------------------------------------------

#[test]
fn a_failed_scan_whose_verdict_was_flipped_to_pass_is_rejected() {
    let a = attested("badnets-mlp64.onnx");
    let flipped = edit_json(&a.attestation, |s| s["predicate"]["verdict"] = json!("pass"));
    verify(&a.model, &flipped, None)
        .code(1)
        .stdout(predicate::str::contains(
            "rejected: the attestation contradicts itself: predicate.verdict is 'pass', but the per-probe verdicts roll up to 'fail' (image-triggers/",
        ))
        .stdout(predicate::str::contains("signature: not checked (bare statement"));
    // Flipping every summary verdict still leaves the failing probes.
    let all = edit_json(&a.attestation, |s| {
        for field in ["verdict", "backdoor_verdict", "robustness_verdict"] {
            s["predicate"][field] = json!("pass");
        }
    });
    verify(&a.model, &all, None).code(1).stdout(predicate::str::contains(
        "predicate.backdoor_verdict is 'pass', but the per-probe verdicts roll up to 'fail'",
    ));
}

#[test]
fn a_subject_digest_that_differs_from_the_predicate_is_rejected() {
    // Someone points a passing attestation's subject at another model file.
    let a = attested("clean-mlp64-s1.onnx");
    let other = fixture("badnets-mlp64.onnx");
    let other_sha = probity::onnxruntime::provision::sha256_file(&other).unwrap();
    let swapped = edit_json(&a.attestation, |s| s["subject"][0]["digest"]["sha256"] = json!(other_sha));
    verify(&other, &swapped, None)
        .code(1)
        .stdout(predicate::str::contains(format!(
            "rejected: the attestation contradicts itself: subject 'clean-mlp64-s1.onnx' has sha256 {other_sha}, but predicate.model.sha256 is "
        )));
}

#[test]
fn a_bare_statement_says_its_signature_was_not_checked() {
    let a = attested("clean-mlp64-s1.onnx");
    verify(&a.model, &a.attestation, None)
        .code(0)
        .stdout(predicate::str::starts_with("verified: "))
        .stdout(predicate::str::ends_with("signature: not checked (bare statement, not a DSSE envelope)\n"));
    // Asking for a signature when there is none is a rejection, not a pass.
    let key = ed25519_key(a.dir.path());
    verify(&a.model, &a.attestation, Some(&key.public_pem))
        .code(1)
        .stdout(predicate::str::contains("rejected: the attestation is a bare statement with no signature"))
        .stdout(predicate::str::contains("signature: invalid"));
}

// --- DSSE envelopes ----------------------------------------------------------------------

#[test]
fn envelopes_signed_with_p256_and_ed25519_keys_verify() {
    let a = attested("clean-mlp64-s1.onnx");
    let payload = std::fs::read(&a.attestation).unwrap();
    for (key, algorithm) in [(p256_key(a.dir.path()), "ecdsa-p256"), (ed25519_key(a.dir.path()), "ed25519")] {
        let signed = write_envelope(a.dir.path(), "signed.dsse.json", &envelope(&payload, &key));
        verify(&a.model, &signed, Some(&key.public_pem))
            .code(0)
            .stdout(predicate::str::starts_with("verified: "))
            .stdout(predicate::str::contains(format!(
                "signature: verified with key {} ({algorithm}, sha256:",
                key.public_pem.display()
            )))
            .stdout(predicate::str::ends_with("(signature 1 of 1)\n"));
        // Without --key the envelope is not taken as signed.
        verify(&a.model, &signed, None)
            .code(0)
            .stdout(predicate::str::contains("signature: not checked (DSSE envelope with 1 signature(s); pass --key"));
    }
}

#[test]
fn one_byte_changes_to_payload_signature_or_model_are_each_rejected() {
    let a = attested("clean-mlp64-s1.onnx");
    let payload = std::fs::read(&a.attestation).unwrap();
    for key in [p256_key(a.dir.path()), ed25519_key(a.dir.path())] {
        let good = envelope(&payload, &key);
        // The payload: one base64 character, in the middle, for another.
        let mut tampered = good.clone();
        let text = good["payload"].as_str().unwrap();
        tampered["payload"] = json!(change_base64_char(text, text.len() / 2));
        let path = write_envelope(a.dir.path(), "payload.dsse.json", &tampered);
        verify(&a.model, &path, Some(&key.public_pem))
            .code(1)
            .stdout(predicate::str::contains("rejected: signature 1 of 1 does not verify"))
            .stdout(predicate::str::contains("signature: invalid, checked with key"));
        // The payload's decoded bytes: one byte, re-encoded cleanly.
        let mut bytes = payload.clone();
        let at = bytes.iter().position(|&b| b == b'p').unwrap();
        bytes[at] = b'q';
        let mut tampered = good.clone();
        tampered["payload"] = json!(STANDARD.encode(&bytes));
        let path = write_envelope(a.dir.path(), "payload-bytes.dsse.json", &tampered);
        verify(&a.model, &path, Some(&key.public_pem)).code(1).stdout(predicate::str::contains("does not verify"));
        // The signature: each of its bytes in turn (decoded), so DER framing and values are hit.
        let sig = STANDARD.decode(good["signatures"][0]["sig"].as_str().unwrap()).unwrap();
        for at in [0, 1, sig.len() / 2, sig.len() - 1] {
            let mut changed = sig.clone();
            changed[at] ^= 0x01;
            let mut tampered = good.clone();
            tampered["signatures"][0]["sig"] = json!(STANDARD.encode(&changed));
            let path = write_envelope(a.dir.path(), "sig.dsse.json", &tampered);
            verify(&a.model, &path, Some(&key.public_pem))
                .code(1)
                .stdout(predicate::str::contains("rejected: signature 1 of 1"))
                .stdout(predicate::str::contains("signature: invalid"));
        }
        // The model file: a one-byte modified copy, with an intact envelope.
        let mut model = std::fs::read(&a.model).unwrap();
        let middle = model.len() / 2;
        model[middle] ^= 0x01;
        let copy = a.dir.path().join("clean-mlp64-s1.onnx");
        std::fs::write(&copy, &model).unwrap();
        let path = write_envelope(a.dir.path(), "good.dsse.json", &good);
        verify(&copy, &path, Some(&key.public_pem))
            .code(1)
            .stdout(predicate::str::contains("does not match the attestation"))
            .stdout(predicate::str::contains("signature: verified with key"));
    }
}

#[test]
fn an_envelope_checked_with_another_key_is_rejected() {
    let a = attested("clean-mlp64-s1.onnx");
    let payload = std::fs::read(&a.attestation).unwrap();
    let signer = p256_key(a.dir.path());
    let other_dir = tempfile::tempdir().unwrap();
    let signed = write_envelope(a.dir.path(), "signed.dsse.json", &envelope(&payload, &signer));
    for other in [p256_key(other_dir.path()), ed25519_key(other_dir.path())] {
        verify(&a.model, &signed, Some(&other.public_pem))
            .code(1)
            .stdout(predicate::str::contains("rejected: signature 1 of 1"))
            .stdout(predicate::str::contains("signature: invalid"));
    }
    // A private key where the public one belongs is unusable input.
    verify(&a.model, &signed, Some(&signer.private_pem))
        .code(2)
        .stderr(predicate::str::contains("is not a PEM public key for ECDSA P-256 or Ed25519"));
}

#[test]
fn a_sigstore_bundle_and_a_second_signature_are_read() {
    let a = attested("clean-mlp64-s1.onnx");
    let payload = std::fs::read(&a.attestation).unwrap();
    let (first, second) = (ed25519_key(a.dir.path()), p256_key(a.dir.path()));
    let mut two = envelope(&payload, &first);
    let theirs = envelope(&payload, &second)["signatures"][0].clone();
    two["signatures"].as_array_mut().unwrap().push(theirs);
    let bundle = json!({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": two});
    let path = write_envelope(a.dir.path(), "bundle.sigstore.json", &bundle);
    verify(&a.model, &path, Some(&second.public_pem)).code(0).stdout(predicate::str::contains("(signature 2 of 2)"));
}

#[test]
fn a_malformed_envelope_is_invalid_input() {
    let a = attested("clean-mlp64-s1.onnx");
    let key = ed25519_key(a.dir.path());
    let mut bad = envelope(&std::fs::read(&a.attestation).unwrap(), &key);
    bad["payload"] = json!("not base64!");
    let path = write_envelope(a.dir.path(), "bad.dsse.json", &bad);
    verify(&a.model, &path, Some(&key.public_pem))
        .code(2)
        .stderr(predicate::str::contains("the DSSE envelope's payload is not base64"));
    bad["payloadType"] = json!("text/plain");
    let path = write_envelope(a.dir.path(), "bad.dsse.json", &bad);
    verify(&a.model, &path, None)
        .code(2)
        .stderr(predicate::str::contains("payloadType is 'text/plain', not 'application/vnd.in-toto+json'"));
}

#[test]
fn attest_sign_writes_an_envelope_that_verifies() {
    let a = attested("clean-mlp64-s1.onnx");
    for key in [p256_key(a.dir.path()), ed25519_key(a.dir.path())] {
        let out = a.dir.path().join("signed.dsse.json");
        probity()
            .args(["attest", "sign", "--key"])
            .arg(&key.private_pem)
            .arg("--attestation")
            .arg(&a.attestation)
            .arg("--out")
            .arg(&out)
            .assert()
            .code(0)
            .stdout(predicate::str::starts_with("signed: "));
        let written: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(written["payloadType"], "application/vnd.in-toto+json");
        assert_eq!(
            STANDARD.decode(written["payload"].as_str().unwrap()).unwrap(),
            std::fs::read(&a.attestation).unwrap(),
            "the payload is the statement's bytes, unchanged"
        );
        verify(&a.model, &out, Some(&key.public_pem)).code(0).stdout(predicate::str::contains("signature: verified"));
    }
}
