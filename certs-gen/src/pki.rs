//! The result of generation: where each file is, plus the manifest of everything written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::serial::Serial;

/// A generated PKI on disk.
#[derive(Debug, Clone)]
pub struct Pki {
    pub(crate) dir: PathBuf,
    pub(crate) manifest: Manifest,
    pub(crate) entities: HashMap<String, EntityFiles>,
    pub(crate) extra_keys: HashMap<String, String>,
    pub(crate) bundles: HashMap<String, String>,
    pub(crate) crl_files: HashMap<String, String>,
    pub(crate) crl_dirs: HashMap<String, String>,
    pub(crate) responses: HashMap<String, String>,
}

/// Relative file names and facts of one entity.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntityFiles {
    pub cert: Option<String>,
    pub der: Option<String>,
    pub key: String,
    pub crl: Option<String>,
    pub serial: Option<Serial>,
    pub subject: Option<String>,
}

impl Pki {
    /// The output directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Everything written, in a deterministic order.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// `<name>.crt` (PEM), unless the entity has `cert = false`.
    pub fn cert_path(&self, entity: &str) -> Option<PathBuf> {
        self.file(self.entities.get(entity)?.cert.as_deref())
    }

    /// `<name>.der`, when the entity asked for `der = true`.
    pub fn der_path(&self, entity: &str) -> Option<PathBuf> {
        self.file(self.entities.get(entity)?.der.as_deref())
    }

    /// `<name>.key` (mode 0600).
    pub fn key_path(&self, entity: &str) -> Option<PathBuf> {
        self.file(Some(self.entities.get(entity)?.key.as_str()))
    }

    /// `<file>.key` from some entity's `extra_keys`.
    pub fn extra_key_path(&self, file: &str) -> Option<PathBuf> {
        self.file(self.extra_keys.get(file).map(String::as_str))
    }

    /// `<a>+<b>.crt`, members in the order requested. A single member is its own `.crt`.
    pub fn bundle_path(&self, members: &[&str]) -> Option<PathBuf> {
        match members {
            [one] => self.cert_path(one),
            _ => self.file(self.bundles.get(&members.join("+")).map(String::as_str)),
        }
    }

    /// `<ca>.crl` (PEM): every CA has one, empty when it revoked nothing.
    pub fn crl_path(&self, ca: &str) -> Option<PathBuf> {
        self.file(self.entities.get(ca)?.crl.as_deref())
    }

    /// `<a>+<b>.crl`: the CAs' CRLs concatenated. A single CA is its own `.crl`.
    pub fn crl_file_path(&self, cas: &[&str]) -> Option<PathBuf> {
        match cas {
            [one] => self.crl_path(one),
            _ => self.file(self.crl_files.get(&cas.join("+")).map(String::as_str)),
        }
    }

    /// `<a>+<b>.crldir/`: `<hash>.r0` files as `openssl rehash` names them.
    pub fn crl_dir_path(&self, cas: &[&str]) -> Option<PathBuf> {
        self.file(self.crl_dirs.get(&cas.join("+")).map(String::as_str))
    }

    /// `<name>.resp`: the DER `OCSPResponse` of `[ocsp.<name>]`.
    pub fn ocsp_path(&self, name: &str) -> Option<PathBuf> {
        self.file(self.responses.get(name).map(String::as_str))
    }

    /// The certificate's serial number.
    pub fn serial(&self, entity: &str) -> Option<&Serial> {
        self.entities.get(entity)?.serial.as_ref()
    }

    /// The certificate's subject in RFC 4514 form (as PostgreSQL's `clientname=DN` sees it).
    pub fn subject(&self, entity: &str) -> Option<&str> {
        self.entities.get(entity)?.subject.as_deref()
    }

    fn file(&self, rel: Option<&str>) -> Option<PathBuf> {
        rel.map(|r| self.dir.join(r))
    }
}

/// What a manifest entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    Certificate,
    CertificateDer,
    Key,
    Bundle,
    Crl,
    CrlBundle,
    CrlDirEntry,
    OcspResponse,
}

/// Every file written, also saved as `manifest.json` in the output directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub files: Vec<ManifestEntry>,
}

/// One written file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestEntry {
    /// Relative to the output directory, `/`-separated.
    pub path: String,
    pub kind: FileKind,
    /// The entity the file belongs to (for keys: whose key file it is).
    pub entity: Option<String>,
    /// Certificates and OCSP responses: the subject (of the certificate a response is about),
    /// RFC 4514 (`CN=a,O=b`).
    pub subject: Option<String>,
    /// Certificates: the issuer's subject; CRLs and CRL dir entries: the issuing CA's subject.
    pub issuer: Option<String>,
    /// Certificates and OCSP responses: the (CertID's) serial in hex.
    pub serial: Option<String>,
    /// Certificates: the SANs as written (`DNS:…`, `IP:…`), IPs normalised.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub san: Vec<String>,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
}
