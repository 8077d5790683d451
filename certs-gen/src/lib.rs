//! Declarative X.509 PKI generation for TLS scenarios: CAs, leaves, keys, CRLs, bundles and
//! OCSP responses.
//!
//! A scenario's `[pki]` table names entities; each becomes `<name>.crt` + `<name>.key`, every
//! CA also `<name>.crl`; its `[ocsp]` table names responses, each `<name>.resp`. Names, subjects, SANs and serials are deterministic, so snapshots of
//! a run are stable; validity is relative to the run's clock, so nothing ever expires in CI
//! unless a scenario asks for it.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let scenario = r#"
//! [pki.root_ca]
//! subject = "CN=Test root CA"
//! ca = true
//!
//! [pki.server_ca]
//! issuer = "root_ca"
//! ca = true
//! pathlen = 0
//!
//! [pki.server]
//! issuer = "server_ca"
//! subject = "CN=common-name.pg-ssltest.test,OU=PostgreSQL test suite"
//! san = ["DNS:dns1.example.test", "IP:192.0.2.1"]
//! key = "rsa-2048"
//!
//! [pki.server-revoked]
//! issuer = "server_ca"
//! revoked = { reason = "keyCompromise" }
//!
//! [pki.client]
//! issuer = "root_ca"
//! subject = "CN=ssltestuser-dn,OU=Testing,OU=Engineering,O=PGDG"
//! extra_keys = [{ file = "client-encrypted", format = "pkcs8-der", passphrase = "s3cret" }]
//!
//! [pki]
//! bundles = ["root_ca+server_ca"]     # root_ca+server_ca.crt
//! crl_files = ["root_ca+server_ca"]   # root_ca+server_ca.crl
//! crl_dirs = ["root_ca+server_ca"]    # root_ca+server_ca.crldir/<hash>.r0
//! "#;
//! #[derive(serde::Deserialize)]
//! struct Scenario { pki: pgtls_certs::PkiSpec }
//! let spec = toml::from_str::<Scenario>(scenario)?.pki;
//! pgtls_certs::validate(&spec)?;
//!
//! let out = tempfile::tempdir()?;
//! let pki = pgtls_certs::generate(&spec, out.path(), &Default::default())?;
//! assert!(pki.cert_path("server").unwrap().ends_with("server.crt"));
//! assert!(pki.crl_path("server_ca").is_some()); // every CA has a CRL
//! println!("client serial for pg_stat_ssl: {}", pki.serial("client").unwrap().decimal());
//! # Ok(())
//! # }
//! ```
//!
//! Per entity: `subject` (RFC 4514 `CN=a,O=b`, or `/O=b/CN=a` in encoding order; default
//! `CN=<name>`; `""` is the empty DN), `issuer` (absent: self-signed), `ca`, `pathlen`, `san`,
//! `key` (a key type `rsa-2048|rsa-3072|rsa-4096|ec-p256|ec-p384|ed25519|rsa-pss`, default
//! `ec-p256`, or another entity's name to reuse its key), `serial` (hex string or integer),
//! `not_before`/`not_after` (`-2d`, `+1h30m`, `now` or RFC 3339; default -1d … +100y), `hash`,
//! `key_usage` (`[]`: none; CAs default to keyCertSign + cRLSign), `extended_key_usage`,
//! `revoked` (`true` or `{ reason, date }`), `also_revoked_by`, `key_format`, `key_passphrase`,
//! `der`, `extra_keys`, `crl = { this_update, next_update, number, hash }` and `cert = false`
//! for key-only entities.
//!
//! # Outputs
//!
//! Keys are written 0600, everything else 0644. `bundles` entries become `<a>+<b>.crt` (the
//! members' PEM in the order given), `crl_files` `<a>+<b>.crl`, `crl_dirs` `<a>+<b>.crldir/`
//! holding `<hash>.r0` files named like `openssl rehash` (`.r1` on a hash collision). A
//! single-member bundle or CRL file is the member's own file. `manifest.json` lists every file
//! with its SHA-256. Files of a previous run in the same directory are replaced, not removed.
//!
//! `also_revoked_by = ["ca"]` lists a certificate's serial on further CAs' CRLs (a walkthrough
//! we reproduce does this). OpenSSL matches CRL entries only against certificates from the
//! CRL's issuer, so such an entry changes no verification result; it only shapes the CRL.
//!
//! # OCSP responses
//!
//! `[ocsp.<name>]` ([`OcspSpec`], added with [`PkiSpec::add_ocsp_responses`]) describes one
//! DER `OCSPResponse` about the certificate of entity `for`, as a responder would have
//! answered: `status` (`good` default, `revoked` with `reason` and `revocation_time`,
//! `unknown`), `signer` (default: the CertID issuer, i.e. the issuing CA; or a delegated
//! responder with EKU OCSPSigning, or anything else as a negative), `issuer` (the certificate
//! whose name and key go into the SHA-1 CertID; default the issuer of `for`), `this_update`
//! (default `-1h`), `next_update` (default `+7d`; `"none"` leaves it out), `produced_at`
//! (default `now`), `embed_signer` (default `true`), `responder_id` (`name` default, or
//! `key`), `hash`. `response_status` other than `successful`, `response_bytes = false` and
//! `malformed = true` (bytes that are not DER) make a response without a signed part; setting
//! a field of the signed part for them is an error.
//!
//! The signer's certificate is embedded by default, also for the issuing CA (as the
//! `openssl ocsp` responder does), because OpenSSL 3.0's `OCSP_basic_verify` finds the signer
//! only among the response's certificates and the caller's extra stack, never in the trust
//! store: a client whose extra stack is what the server sent (PostgreSQL's stapling patch)
//! could not check a response signed by a root CA otherwise. `embed_signer = false` makes that
//! case.
//!
//! Responses are built with OpenSSL's responder functions (`OCSP_basic_add1_status`,
//! `OCSP_basic_sign`) through `openssl-sys`; see `ocsp.rs` for why not RustCrypto's
//! `x509-ocsp`. Like certificates they are signed afresh each run, their times relative to
//! the run's clock (ECDSA signatures differ between runs; the content does not).
//!
//! Keys are cached per (key type, entity name) in memory and, with
//! [`GenerateOptions::key_cache`], on disk; certificates and CRLs are signed afresh each run.
//!
//! # Why OpenSSL and not rcgen
//!
//! Certificates are built with the `openssl` crate, CRLs with its CRL builder plus one small
//! `openssl-sys` call, and OCSP responses with OpenSSL's responder functions. rcgen was ruled out: its `DistinguishedName` is a map, so it cannot
//! express repeated attribute types (`CN=ssltestuser-dn,OU=Testing,OU=Engineering,O=PGDG` from
//! PostgreSQL's own suite, `DC=example,DC=com`); it cannot generate RSA keys under ring, cannot
//! load RSA-PSS keys, and writes Ed25519 keys as PKCS#8 v2, which OpenSSL 3.0 rejects. The
//! verifier under test (PostgreSQL and libpq) is OpenSSL anyway.

mod cert;
mod crl;
mod dn;
mod error;
mod generate;
pub mod hint;
mod keys;
mod ocsp;
mod output;
mod pki;
mod plan;
mod san;
mod serial;
mod spec;
mod when;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

pub use error::{Error, ErrorKind};
#[doc(hidden)]
pub use keys::clear_memory_key_cache;
pub use keys::{KeyFormat, KeyType};
pub use pki::{FileKind, Manifest, ManifestEntry, Pki};
pub use serial::Serial;
pub use spec::{
    CrlSpec, EntitySpec, ExtendedKeyUsage, ExtraKey, HashAlg, KeySource, KeyUsage, OcspCertStatus, OcspResponses,
    OcspSpec, PkiSpec, RESERVED_KEYS, ResponderIdKind, ResponseStatus, Revocation, RevocationReason, SerialSpec,
};

/// How to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Directory that keeps generated keys across runs (RSA generation is slow). Keys are
    /// also cached in memory for the life of the process either way.
    pub key_cache: Option<PathBuf>,
    /// The clock that relative times (`-1d`, `+100y`) are resolved against.
    pub now: OffsetDateTime,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { key_cache: None, now: OffsetDateTime::now_utc() }
    }
}

/// Validates `spec`, then writes all keys, certificates, CRLs, bundles, CRL directories and
/// `manifest.json` into `out_dir` (created if missing; files of the same names are replaced).
pub fn generate(spec: &PkiSpec, out_dir: &Path, opts: &GenerateOptions) -> Result<Pki, Error> {
    let plan = plan::Plan::build(spec, opts.now)?;
    let material = generate::materialize(&plan, opts.key_cache.as_deref())?;
    output::write(&plan, &material, out_dir)
}

/// Reports the first spec error (in declaration order), without generating keys or touching
/// the file system.
pub fn validate(spec: &PkiSpec) -> Result<(), Error> {
    plan::Plan::build(spec, OffsetDateTime::now_utc()).map(|_| ())
}
