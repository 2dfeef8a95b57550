//! DSSE envelopes around attestations, and the signatures in them.
//!
//! A signed attestation is a [DSSE v1] envelope: the statement's bytes, base64-encoded, with
//! a `payloadType` of [`PAYLOAD_TYPE`] and one or more signatures over the envelope's
//! pre-authentication encoding ([`pae`]), never over the bare payload. This is what
//! `cosign attest-blob --key` writes (`--output-attestation`), and what a Sigstore bundle carries
//! under `dsseEnvelope` (`--bundle`); [`Envelope::from_document`] reads both.
//!
//! Keys are PEM: a public key as SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`, what
//! `cosign generate-key-pair` writes to `cosign.pub`), a private key as PKCS#8
//! (`-----BEGIN PRIVATE KEY-----`) or, for P-256, SEC1 (`-----BEGIN EC PRIVATE KEY-----`). Two
//! algorithms: ECDSA P-256 with SHA-256 and an ASN.1 DER signature (cosign's default), and
//! Ed25519 (verified strictly: no small-order keys, no malleable signatures).
//!
//! Which key to trust is the verifier's choice alone: `keyid` is a hint in the envelope, so it
//! is neither trusted nor needed.
//!
//! [DSSE v1]: https://github.com/secure-systems-lab/dsse/blob/v1.0.0/envelope.md

use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
use serde::{Deserialize, Serialize};

/// `payloadType` of an in-toto statement in a DSSE envelope (in-toto Attestation Framework,
/// envelope layer; cosign writes the same).
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE envelope as it is written to disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Base64 of the statement's bytes.
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// A hint at the key; cosign writes an empty one.
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the signature over [`pae`]`(payloadType, payload)`.
    pub sig: String,
}

/// A Sigstore bundle (`cosign attest-blob --bundle`): only its envelope matters here.
#[derive(Deserialize)]
struct Bundle {
    #[serde(rename = "dsseEnvelope")]
    dsse_envelope: Envelope,
}

/// Why an envelope cannot be read (the file is unusable as given: exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the DSSE envelope is not valid JSON of the expected shape: {0}")]
    Shape(String),
    #[error("the DSSE envelope's payloadType is '{0}', not '{PAYLOAD_TYPE}'")]
    PayloadType(String),
    #[error("the DSSE envelope's payload is not base64: {0}")]
    Payload(String),
}

/// Standard and URL-safe base64, padded or not: DSSE readers must accept both alphabets.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(text).or_else(|e| URL_SAFE.decode(text).map_err(|_| e))
}

/// Does this JSON document look like an envelope (or a bundle holding one) rather than a bare
/// statement? Decided on the keys alone, so that a broken envelope is reported as one.
pub fn is_envelope(document: &serde_json::Value) -> bool {
    document.get("payloadType").is_some() || document.get("dsseEnvelope").is_some()
}

impl Envelope {
    /// The envelope in a parsed JSON document: a bare envelope or a Sigstore bundle's.
    pub fn from_document(document: serde_json::Value) -> Result<Self, EnvelopeError> {
        let envelope = if document.get("dsseEnvelope").is_some() {
            serde_json::from_value::<Bundle>(document).map(|b| b.dsse_envelope)
        } else {
            serde_json::from_value::<Envelope>(document)
        }
        .map_err(|e| EnvelopeError::Shape(e.to_string()))?;
        if envelope.payload_type != PAYLOAD_TYPE {
            return Err(EnvelopeError::PayloadType(envelope.payload_type));
        }
        Ok(envelope)
    }

    /// The payload's bytes: what the signatures sign (through [`pae`]) and the statement.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        decode_base64(&self.payload).map_err(|e| EnvelopeError::Payload(e.to_string()))
    }

    /// Signs `payload` (a statement's bytes, kept exactly) with `key`.
    pub fn sign(payload: &[u8], key: &PrivateKey) -> Self {
        let sig = key.sign(&pae(PAYLOAD_TYPE, payload));
        Self {
            payload_type: PAYLOAD_TYPE.into(),
            payload: base64::engine::general_purpose::STANDARD.encode(payload),
            signatures: vec![EnvelopeSignature {
                keyid: String::new(),
                sig: base64::engine::general_purpose::STANDARD.encode(sig),
            }],
        }
    }

    /// Checks the signatures over `payload` (the decoded payload) with `key`: the envelope is
    /// signed by the key when any one of its signatures verifies (DSSE's rule for a single
    /// trusted key).
    pub fn check(&self, payload: &[u8], key: &PublicKey) -> SignatureCheck {
        let message = pae(&self.payload_type, payload);
        let mut failures = Vec::new();
        for (i, signature) in self.signatures.iter().enumerate() {
            let outcome = decode_base64(&signature.sig)
                .map_err(|e| format!("is not base64 ({e})"))
                .and_then(|sig| key.verify(&message, &sig));
            match outcome {
                Ok(()) => return SignatureCheck::Verified { index: i + 1, count: self.signatures.len() },
                Err(why) => failures.push(format!("signature {} of {} {why}", i + 1, self.signatures.len())),
            }
        }
        if failures.is_empty() {
            failures.push("the envelope holds no signature".into());
        }
        SignatureCheck::Invalid { reasons: failures }
    }
}

/// The result of checking an envelope's signatures with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Signature `index` (1-based) of `count` verifies.
    Verified { index: usize, count: usize },
    /// None verifies; one reason per signature.
    Invalid { reasons: Vec<String> },
}

/// DSSE v1 pre-authentication encoding: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`,
/// lengths in ASCII decimal. Signing this rather than the payload binds the payload type too.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Why a key file cannot be used (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "not a PEM public key for ECDSA P-256 or Ed25519; pass the public key as SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`, e.g. cosign.pub)"
    )]
    NotPublicKey,
    #[error(
        "not an unencrypted PEM private key for ECDSA P-256 or Ed25519; pass PKCS#8 (`-----BEGIN PRIVATE KEY-----`) or SEC1 (`-----BEGIN EC PRIVATE KEY-----`); cosign's encrypted keys can be used with `cosign attest-blob` instead"
    )]
    NotPrivateKey,
}

/// A key that verifies envelope signatures.
#[derive(Debug, Clone)]
pub enum PublicKey {
    EcdsaP256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Reads a PEM SubjectPublicKeyInfo of either algorithm.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(Self::EcdsaP256(key));
        }
        ed25519_dalek::VerifyingKey::from_public_key_pem(pem).map(Self::Ed25519).map_err(|_| KeyError::NotPublicKey)
    }

    /// Name of the algorithm, as the output shows it.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::EcdsaP256(_) => "ecdsa-p256",
            Self::Ed25519(_) => "ed25519",
        }
    }

    /// `sha256:` and the SHA-256 of the key's DER SubjectPublicKeyInfo (what
    /// `openssl pkey -pubin -outform DER | sha256sum` prints), to tell keys apart.
    pub fn fingerprint(&self) -> String {
        let der = match self {
            Self::EcdsaP256(k) => k.to_public_key_der(),
            Self::Ed25519(k) => k.to_public_key_der(),
        };
        // Encoding a valid key in memory cannot fail; an empty fingerprint would still be honest.
        let bytes = der.map(|d| d.as_bytes().to_vec()).unwrap_or_default();
        format!("sha256:{}", crate::digest::sha256_bytes(bytes))
    }

    /// Verifies `sig` over `message`; the error completes "signature i of n ...".
    fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), String> {
        use p256::ecdsa::signature::Verifier as _;
        match self {
            Self::EcdsaP256(key) => {
                // DER is what cosign writes; 64-byte r||s (IEEE P1363) is what some other DSSE
                // signers write. Both name the same (r, s).
                let signature = p256::ecdsa::Signature::from_der(sig)
                    .or_else(|_| p256::ecdsa::Signature::from_slice(sig))
                    .map_err(|_| format!("is not an ECDSA P-256 signature ({} bytes)", sig.len()))?;
                key.verify(message, &signature).map_err(|_| "does not verify".to_string())
            }
            Self::Ed25519(key) => {
                let signature = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| format!("is not an Ed25519 signature ({} bytes, not 64)", sig.len()))?;
                key.verify_strict(message, &signature).map_err(|_| "does not verify".to_string())
            }
        }
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.algorithm(), self.fingerprint())
    }
}

/// A key that signs envelopes (`probity attest sign`).
pub enum PrivateKey {
    EcdsaP256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl PrivateKey {
    /// Reads an unencrypted PKCS#8 PEM of either algorithm, or a SEC1 PEM of a P-256 key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self::EcdsaP256(key));
        }
        if let Ok(key) = p256::SecretKey::from_sec1_pem(pem) {
            return Ok(Self::EcdsaP256(key.into()));
        }
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map(Self::Ed25519).map_err(|_| KeyError::NotPrivateKey)
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::EcdsaP256(k) => PublicKey::EcdsaP256(*k.verifying_key()),
            Self::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// ECDSA signatures are deterministic (RFC 6979), so signing needs no random source.
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        match self {
            Self::EcdsaP256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            Self::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_specification_example() {
        // From the DSSE v1 protocol document: type "http://example.com/HelloWorld", body
        // "hello world".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn base64_in_either_alphabet_with_or_without_padding() {
        let bytes = [0xfbu8, 0xff, 0x01];
        for text in ["+/8B", "-_8B"] {
            assert_eq!(decode_base64(text).unwrap(), bytes);
        }
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("aGk").unwrap(), b"hi");
        assert!(decode_base64("a*k=").is_err());
    }

    #[test]
    fn sign_then_check_round_trips_and_a_changed_payload_fails() {
        let key = PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
        let envelope = Envelope::sign(b"{\"a\":1}", &key);
        let payload = envelope.payload_bytes().unwrap();
        assert_eq!(envelope.check(&payload, &key.public_key()), SignatureCheck::Verified { index: 1, count: 1 });
        assert!(matches!(envelope.check(b"{\"a\":2}", &key.public_key()), SignatureCheck::Invalid { .. }));
        let ecdsa = PrivateKey::EcdsaP256(p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap());
        let other = Envelope::sign(b"{\"a\":1}", &ecdsa);
        assert!(matches!(other.check(&payload, &key.public_key()), SignatureCheck::Invalid { .. }));
        assert!(matches!(other.check(&payload, &ecdsa.public_key()), SignatureCheck::Verified { .. }));
    }
}
