//! `probity attest verify --model M --attestation A [--key K]`: is this model file the one that
//! passed, according to an attestation that is authentic and consistent?
//! `probity attest sign --key K --attestation A --out E`: wrap an attestation in a signed DSSE
//! envelope (for users without cosign).
//!
//! `verify` prints one `verified:` line, or one `rejected:` line per problem, and then always a
//! `signature:` line saying whether a signature was checked: `verified with key K (...)`,
//! `not checked (...)` (a bare statement, or an envelope and no `--key`), or `invalid (...)`.
//!
//! | exit | when |
//! |------|------|
//! | 0 | the files are the attested ones, the statement is consistent, the attested scan passed, and the signature verified or was not checked |
//! | 1 | rejected: a digest differs, the statement contradicts itself, the attested scan did not pass, or a key was given and no signature verifies with it (a bare statement included) |
//! | 2 | unusable input: the attestation is not JSON, not an envelope or statement of the expected shape, its payload is not base64; the key is not a PEM key; a file cannot be read |
//!
//! A signature that does not verify is decisive: the statement inside is then neither parsed nor
//! trusted, so a tampered payload is "rejected" (1) even when it no longer parses.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::print_stdout;
use crate::attest::{self, Document, SignatureStatus, Statement, Verification, dsse};
use crate::error::{Failure, Outcome};

#[derive(Debug, Args)]
pub struct AttestArgs {
    #[command(subcommand)]
    pub command: AttestCommand,
}

#[derive(Debug, Subcommand)]
pub enum AttestCommand {
    /// Check that a model file (and its external data) is the one an attestation says passed.
    Verify(VerifyArgs),
    /// Sign an attestation: write a DSSE envelope of it signed with a private key.
    Sign(SignArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The model file to check.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// The attestation.intoto.json written by `probity scan --format intoto`, a DSSE envelope
    /// of it (`cosign attest-blob --statement ...`, `probity attest sign`),
    /// or a Sigstore bundle holding one.
    #[arg(long, value_name = "PATH")]
    pub attestation: PathBuf,
    /// Public key (PEM SubjectPublicKeyInfo, ECDSA P-256 or Ed25519, e.g. cosign.pub) that must
    /// have signed the envelope. Without it, a signature is reported as not checked.
    #[arg(long, value_name = "PEM")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Private key (unencrypted PEM: PKCS#8 for ECDSA P-256 or Ed25519, or SEC1 for P-256).
    #[arg(long, value_name = "PEM")]
    pub key: PathBuf,
    /// The attestation.intoto.json to sign; its bytes become the envelope's payload unchanged.
    #[arg(long, value_name = "PATH")]
    pub attestation: PathBuf,
    /// Where to write the envelope (JSON).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
}

pub fn run(args: &AttestArgs) -> Result<Outcome, Failure> {
    match &args.command {
        AttestCommand::Verify(args) => verify(args),
        AttestCommand::Sign(args) => sign(args),
    }
}

fn verify(args: &VerifyArgs) -> Result<Outcome, Failure> {
    let document = Document::read(&args.attestation).map_err(Failure::invalid)?;
    let key = args.key.as_deref().map(attest::read_public_key).transpose().map_err(Failure::invalid)?;
    let signature = document.signature(key.as_ref());
    let signature_line = signature_line(&signature, args.key.as_ref().zip(key.as_ref()));
    if let SignatureStatus::Invalid { reasons } = &signature {
        let lines: String = reasons.iter().map(|r| format!("rejected: {r}\n")).collect();
        print_stdout(&format!("{lines}{signature_line}"));
        return Ok(Outcome::Fail);
    }
    let statement = document.statement(&args.attestation).map_err(Failure::invalid)?;
    match attest::verify(&args.model, &statement).map_err(Failure::invalid)? {
        Verification::Verified { model_sha256, external_data } => {
            print_stdout(&format!("{}{signature_line}", verified_line(args, &statement, &model_sha256, external_data)));
            Ok(Outcome::Pass)
        }
        Verification::Rejected { problems } => {
            let lines: String = problems.iter().map(|p| format!("rejected: {p}\n")).collect();
            print_stdout(&format!("{lines}{signature_line}"));
            Ok(Outcome::Fail)
        }
    }
}

fn verified_line(args: &VerifyArgs, statement: &Statement, model_sha256: &str, external_data: usize) -> String {
    let p = &statement.predicate;
    let batteries: Vec<String> = p.batteries.iter().map(|b| format!("{} v{}", b.name, b.version)).collect();
    let external = match external_data {
        0 => String::new(),
        n => format!(" and its {n} external data file(s)"),
    };
    format!(
        "verified: {} (sha256 {model_sha256}){external} passed probity {} with {} on ONNX Runtime {} ({})\n",
        args.model.display(),
        p.scanner.version,
        batteries.join(", "),
        p.onnxruntime.version,
        p.execution_provider.used,
    )
}

/// `signature: ...`, naming the key (path, algorithm, fingerprint) when one was used.
fn signature_line(status: &SignatureStatus, key: Option<(&PathBuf, &dsse::PublicKey)>) -> String {
    let with_key = || key.map_or_else(String::new, |(path, key)| format!(" with key {} ({key})", path.display()));
    match status {
        SignatureStatus::NotChecked { why } => format!("signature: not checked ({why})\n"),
        SignatureStatus::Verified { index, count } => {
            format!("signature: verified{} (signature {index} of {count})\n", with_key())
        }
        SignatureStatus::Invalid { .. } => format!("signature: invalid, checked{}\n", with_key()),
    }
}

fn sign(args: &SignArgs) -> Result<Outcome, Failure> {
    let key = attest::read_private_key(&args.key).map_err(Failure::invalid)?;
    let document = Document::read(&args.attestation).map_err(Failure::invalid)?;
    let Document::Bare { bytes } = &document else {
        return Err(Failure::invalid(anyhow::anyhow!(
            "{} is already a DSSE envelope; sign the bare attestation.intoto.json",
            args.attestation.display()
        )));
    };
    // Only what verifies as a statement gets signed.
    document.statement(&args.attestation).map_err(Failure::invalid)?;
    let envelope = dsse::Envelope::sign(bytes, &key);
    let mut json = serde_json::to_vec_pretty(&envelope).expect("an envelope always serialises");
    json.push(b'\n');
    crate::output::write_atomic(&args.out, &json)
        .with_context(|| format!("cannot write {}", args.out.display()))
        .map_err(Failure::runtime)?;
    print_stdout(&format!(
        "signed: {} -> {} with key {} ({})\n",
        args.attestation.display(),
        args.out.display(),
        args.key.display(),
        key.public_key()
    ));
    Ok(Outcome::Pass)
}
