//! The declarative OCSP response description: what a scenario's `[ocsp.<name>]` tables
//! deserialize into.
//!
//! Like the rest of the spec this mirrors the file: names and times stay strings, and
//! [`validate`](crate::validate) reports a mistake with the response and field that hold it.
//! A response is about one certificate of the PKI (`for`), so it lives beside the entities in
//! [`PkiSpec`](crate::PkiSpec) and is resolved against them.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::{HashAlg, RevocationReason};

/// One `[ocsp.<name>]` table: the OCSP response file `<name>.resp` (DER `OCSPResponse`,
/// RFC 6960) about one certificate.
///
/// Defaults: status `good`, signed by the certificate's issuer, `this_update = "-1h"`,
/// `next_update = "+7d"` (`"none"` omits the field), `produced_at = "now"`, the signer's
/// certificate embedded, the responder named by its subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcspSpec {
    /// The PKI entity whose certificate the response is about (its serial goes into the
    /// CertID). Written `for` in TOML.
    #[serde(rename = "for")]
    pub for_entity: String,
    /// Absent: `good`.
    pub status: Option<OcspCertStatus>,
    /// `revoked` only: the CRLReason; absent: no reason in the response.
    pub reason: Option<RevocationReason>,
    /// `revoked` only: an offset or RFC 3339 time; absent: `this_update`.
    pub revocation_time: Option<String>,
    /// The entity whose key signs: the issuing CA or a delegated responder (EKU OCSPSigning).
    /// Absent: the CertID issuer.
    pub signer: Option<String>,
    /// The CertID's issuer (name and key hashes); absent: the issuer of `for`.
    pub issuer: Option<String>,
    /// Absent: `-1h`.
    pub this_update: Option<String>,
    /// Absent: `+7d`; `"none"`: no nextUpdate (OpenSSL then accepts the response at any age).
    pub next_update: Option<String>,
    /// Absent: `now`.
    pub produced_at: Option<String>,
    /// Absent: `successful`. Any other status is a response without a basic response.
    pub response_status: Option<ResponseStatus>,
    /// `false`: a `successful` response that carries no responseBytes (no basic response).
    pub response_bytes: Option<bool>,
    /// `true`: the file holds bytes that are not DER at all.
    #[serde(default)]
    pub malformed: bool,
    /// Whether the signer's certificate goes into the response's `certs`. Absent: `true`
    /// (OpenSSL's verifier never takes the signer from the trust store).
    pub embed_signer: Option<bool>,
    /// How the response names its responder. Absent: `name`.
    pub responder_id: Option<ResponderIdKind>,
    /// Signature hash; default sha256 (must be absent for Ed25519 signers).
    pub hash: Option<HashAlg>,
}

/// The certificate status a response asserts (RFC 6960 `CertStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OcspCertStatus {
    Good,
    Revoked,
    Unknown,
}

/// `OCSPResponseStatus` (RFC 6960 §4.2.1), spelled as in the RFC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResponseStatus {
    Successful,
    MalformedRequest,
    InternalError,
    TryLater,
    SigRequired,
    Unauthorized,
}

impl ResponseStatus {
    /// The spelling used in specs (RFC 6960's), e.g. `tryLater`.
    pub fn name(self) -> &'static str {
        match self {
            ResponseStatus::Successful => "successful",
            ResponseStatus::MalformedRequest => "malformedRequest",
            ResponseStatus::InternalError => "internalError",
            ResponseStatus::TryLater => "tryLater",
            ResponseStatus::SigRequired => "sigRequired",
            ResponseStatus::Unauthorized => "unauthorized",
        }
    }

    /// The ENUMERATED value on the wire (4 is unused).
    pub fn code(self) -> i32 {
        match self {
            ResponseStatus::Successful => 0,
            ResponseStatus::MalformedRequest => 1,
            ResponseStatus::InternalError => 2,
            ResponseStatus::TryLater => 3,
            ResponseStatus::SigRequired => 5,
            ResponseStatus::Unauthorized => 6,
        }
    }
}

/// `ResponderID` choice: the signer's subject name, or the SHA-1 of its public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponderIdKind {
    Name,
    Key,
}

/// The `[ocsp]` table: responses by name, in declaration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OcspResponses(pub Vec<(String, OcspSpec)>);

impl<'de> Deserialize<'de> for OcspResponses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ResponsesVisitor)
    }
}

struct ResponsesVisitor;

impl<'de> Visitor<'de> for ResponsesVisitor {
    type Value = OcspResponses;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of OCSP responses (`[ocsp.<name>]` with `for = \"<entity>\"`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OcspResponses, A::Error> {
        let mut out: Vec<(String, OcspSpec)> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if out.iter().any(|(n, _)| *n == name) {
                return Err(de::Error::custom(format!("OCSP response {name:?} is declared more than once")));
            }
            let spec: OcspSpec = map.next_value()?;
            out.push((name, spec));
        }
        Ok(OcspResponses(out))
    }
}
