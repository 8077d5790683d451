//! The declarative PKI description: what a scenario's `[pki]` table deserializes into.
//!
//! This is the "mirror the file" layer: field values stay close to what was written (times,
//! SANs, subjects and serials are kept as strings) so that a mistake is reported by
//! [`validate`](crate::validate) with the entity and field that hold it, also for specs built
//! in code. `plan` turns a spec into the resolved model that generation uses.

mod de;
mod ocsp;

use serde::Deserialize;

pub use self::ocsp::{OcspCertStatus, OcspResponses, OcspSpec, ResponderIdKind, ResponseStatus};
pub use crate::keys::{KeyFormat, KeyType};

/// A whole PKI: named entities (CAs, leaves, key-only entries), extra combined outputs, and
/// OCSP responses about its certificates.
///
/// Entities keep their declaration order; file names, serials and manifest order follow it.
/// The `[pki]` table deserializes into everything but the responses, which a scenario declares
/// in its own top-level `[ocsp]` table ([`OcspResponses`]) and adds here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PkiSpec {
    entities: Vec<(String, EntitySpec)>,
    bundles: Vec<Vec<String>>,
    crl_files: Vec<Vec<String>>,
    crl_dirs: Vec<Vec<String>>,
    ocsp: Vec<(String, OcspSpec)>,
}

impl PkiSpec {
    /// An empty spec.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an entity. A repeated name is reported by [`validate`](crate::validate).
    pub fn add_entity(&mut self, name: impl Into<String>, entity: EntitySpec) {
        self.entities.push((name.into(), entity));
    }

    /// The entities in declaration order.
    pub fn entities(&self) -> &[(String, EntitySpec)] {
        &self.entities
    }

    /// The first entity with this name.
    pub fn entity(&self, name: &str) -> Option<&EntitySpec> {
        self.entities.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    /// Mutable access to the first entity with this name.
    pub fn entity_mut(&mut self, name: &str) -> Option<&mut EntitySpec> {
        self.entities.iter_mut().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    /// Requests `<a>+<b>….crt`: the members' certificates concatenated in this order.
    /// Adding the same member list twice is a no-op.
    pub fn add_bundle(&mut self, members: Vec<String>) {
        push_unique(&mut self.bundles, members);
    }

    /// Requests `<a>+<b>….crl`: the members' CRLs (members must be CAs) concatenated.
    pub fn add_crl_file(&mut self, cas: Vec<String>) {
        push_unique(&mut self.crl_files, cas);
    }

    /// Requests `<a>+<b>….crldir/`: a hashed CRL directory (`<hash>.r0`) as `openssl rehash`
    /// would make it, for `ssl_crl_dir` / `sslcrldir` / `-CApath`.
    pub fn add_crl_dir(&mut self, cas: Vec<String>) {
        push_unique(&mut self.crl_dirs, cas);
    }

    /// Requested certificate bundles, each a member list.
    pub fn bundles(&self) -> &[Vec<String>] {
        &self.bundles
    }

    /// Requested concatenated CRL files.
    pub fn crl_files(&self) -> &[Vec<String>] {
        &self.crl_files
    }

    /// Requested hashed CRL directories.
    pub fn crl_dirs(&self) -> &[Vec<String>] {
        &self.crl_dirs
    }

    /// Appends an OCSP response, written as `<name>.resp`. A repeated name is reported by
    /// [`validate`](crate::validate).
    pub fn add_ocsp_response(&mut self, name: impl Into<String>, response: OcspSpec) {
        self.ocsp.push((name.into(), response));
    }

    /// Appends every response of an `[ocsp]` table, in its order.
    pub fn add_ocsp_responses(&mut self, responses: OcspResponses) {
        self.ocsp.extend(responses.0);
    }

    /// The OCSP responses in declaration order.
    pub fn ocsp_responses(&self) -> &[(String, OcspSpec)] {
        &self.ocsp
    }

    /// The first OCSP response with this name.
    pub fn ocsp_response(&self, name: &str) -> Option<&OcspSpec> {
        self.ocsp.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }
}

fn push_unique(list: &mut Vec<Vec<String>>, members: Vec<String>) {
    if !list.contains(&members) {
        list.push(members);
    }
}

/// The top-level `[pki]` keys that are not entities.
pub const RESERVED_KEYS: [&str; 3] = ["bundles", "crl_files", "crl_dirs"];

/// One `[pki.<name>]` table: a certificate (CA or leaf) and its key, or a key alone.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EntitySpec {
    /// `CN=a,OU=b` (RFC 4514, reversed encoding order) or `/OU=b/CN=a` (encoding order).
    /// Absent: `CN=<entity name>`. Empty string: an empty DN.
    pub subject: Option<String>,
    /// The CA entity that signs this certificate; absent means self-signed.
    pub issuer: Option<String>,
    pub ca: bool,
    pub pathlen: Option<u32>,
    /// `DNS:…`, `IP:…`, `email:…`, `URI:…`.
    pub san: Vec<String>,
    #[serde(deserialize_with = "de::key_source")]
    pub key: Option<KeySource>,
    #[serde(deserialize_with = "de::serial")]
    pub serial: Option<SerialSpec>,
    /// Offset from now (`-2d`, `+1h30m`, `now`) or an RFC 3339 time.
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub hash: Option<HashAlg>,
    /// Absent: keyCertSign + cRLSign for CAs, no extension for leaves. `[]`: no extension.
    pub key_usage: Option<Vec<KeyUsage>>,
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    #[serde(deserialize_with = "de::revoked")]
    pub revoked: Option<Revocation>,
    /// Further CAs whose CRL lists this certificate's serial (needs `revoked`).
    pub also_revoked_by: Vec<String>,
    pub key_format: KeyFormat,
    pub key_passphrase: Option<String>,
    /// Also write `<name>.der`.
    pub der: bool,
    pub extra_keys: Vec<ExtraKey>,
    /// Options of the CRL this CA issues.
    pub crl: Option<CrlSpec>,
    /// `false`: only the key is written (it can still be reused with `key = "<name>"`).
    pub cert: bool,
}

impl Default for EntitySpec {
    fn default() -> Self {
        EntitySpec {
            subject: None,
            issuer: None,
            ca: false,
            pathlen: None,
            san: Vec::new(),
            key: None,
            serial: None,
            not_before: None,
            not_after: None,
            hash: None,
            key_usage: None,
            extended_key_usage: Vec::new(),
            revoked: None,
            also_revoked_by: Vec::new(),
            key_format: KeyFormat::default(),
            key_passphrase: None,
            der: false,
            extra_keys: Vec::new(),
            crl: None,
            cert: true,
        }
    }
}

/// Where an entity's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A fresh (or cached) key of this type.
    Generate(KeyType),
    /// The key of another entity (re-issuing a certificate on an existing key).
    Reuse(String),
}

/// An explicit serial number as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialSpec {
    /// Hexadecimal digits, as `openssl x509 -serial` prints them.
    Hex(String),
    /// A plain (decimal) integer.
    Int(u64),
}

/// Signature hash used when signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

/// RFC 5280 key usage bits, spelled as in the RFC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum KeyUsage {
    #[serde(rename = "digitalSignature")]
    DigitalSignature,
    #[serde(rename = "nonRepudiation", alias = "contentCommitment")]
    NonRepudiation,
    #[serde(rename = "keyEncipherment")]
    KeyEncipherment,
    #[serde(rename = "dataEncipherment")]
    DataEncipherment,
    #[serde(rename = "keyAgreement")]
    KeyAgreement,
    #[serde(rename = "keyCertSign")]
    KeyCertSign,
    #[serde(rename = "cRLSign")]
    CrlSign,
    #[serde(rename = "encipherOnly")]
    EncipherOnly,
    #[serde(rename = "decipherOnly")]
    DecipherOnly,
}

/// Extended key usage purposes; anything else is given as a dotted OID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendedKeyUsage {
    ServerAuth,
    ClientAuth,
    CodeSigning,
    EmailProtection,
    TimeStamping,
    OcspSigning,
    Any,
    Oid(String),
}

impl ExtendedKeyUsage {
    const NAMED: [(&'static str, ExtendedKeyUsage); 7] = [
        ("serverAuth", ExtendedKeyUsage::ServerAuth),
        ("clientAuth", ExtendedKeyUsage::ClientAuth),
        ("codeSigning", ExtendedKeyUsage::CodeSigning),
        ("emailProtection", ExtendedKeyUsage::EmailProtection),
        ("timeStamping", ExtendedKeyUsage::TimeStamping),
        ("OCSPSigning", ExtendedKeyUsage::OcspSigning),
        ("any", ExtendedKeyUsage::Any),
    ];

    /// Parses a purpose name or a dotted OID.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some((_, eku)) = Self::NAMED.iter().find(|(n, _)| *n == s) {
            return Ok(eku.clone());
        }
        if crate::dn::is_dotted_oid(s) {
            return Ok(ExtendedKeyUsage::Oid(s.to_owned()));
        }
        let names: Vec<&str> = Self::NAMED.iter().map(|(n, _)| *n).collect();
        Err(format!("expected one of {} or a dotted OID", names.join(", ")))
    }
}

/// Revocation details: `revoked = true` gives the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// Absent: no reasonCode entry extension (RFC 5280: omit rather than "unspecified").
    pub reason: Option<RevocationReason>,
    /// Absent: the issuing CA's CRL `this_update`.
    pub date: Option<String>,
}

/// RFC 5280 CRLReason values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    #[serde(rename = "cACompromise")]
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    RemoveFromCrl,
    PrivilegeWithdrawn,
    #[serde(rename = "aACompromise")]
    AaCompromise,
}

impl RevocationReason {
    /// The CRLReason code (RFC 5280 §5.3.1; 7 is unused).
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::RemoveFromCrl => 8,
            RevocationReason::PrivilegeWithdrawn => 9,
            RevocationReason::AaCompromise => 10,
        }
    }
}

/// An additional copy of an entity's key, written as `<file>.key`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraKey {
    pub file: String,
    #[serde(default)]
    pub format: KeyFormat,
    pub passphrase: Option<String>,
    /// File mode as an octal string (default `"0600"`); e.g. `"0644"` to test a client's
    /// "private key file has group or world access" check.
    pub mode: Option<String>,
}

/// Options of the CRL a CA issues.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrlSpec {
    /// Default `-1h`.
    pub this_update: Option<String>,
    /// Default `+100y`.
    pub next_update: Option<String>,
    /// Default 1.
    pub number: Option<u64>,
    /// Signature hash; default sha256 (ignored for Ed25519 CAs, where it must be absent).
    pub hash: Option<HashAlg>,
}
