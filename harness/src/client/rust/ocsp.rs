//! `sslocspstapling=1`: ask the server for its OCSP staple and judge it as our libpq patch does.
//!
//! The verdict is decided in OpenSSL's status callback, which runs inside the handshake after
//! the server's chain was verified and whether or not anything was stapled (must-staple). A
//! rejection returns an error from the callback, so OpenSSL aborts with "ocsp callback failure"
//! and an internal_error alert exactly as when libpq's callback returns -1; the reason is kept
//! as an [`OcspVerdict`] code beside it. The checks and their order are the patch's
//! (`ocsp_status_cb` in fe-secure-openssl.c): a staple, parsable, `successful`, a basic
//! response, a root store and a verified chain of at least two certificates (without them the
//! response can be neither verified nor matched: the decision for `sslmode=require` without a
//! root file), `OCSP_basic_verify` against the connection's own store with the certificates
//! the server sent as untrusted helpers, a status for the SHA-1 CertID of the leaf under the
//! next certificate of the verified chain (leaf only), `good`, and `OCSP_check_validity` with
//! no leeway and no maximum age.

use std::sync::{Arc, Mutex};

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspBasicResponse, OcspCertId, OcspCertStatus, OcspFlag, OcspResponse, OcspResponseStatus};
use openssl::ssl::{SslContextBuilder, SslRef};
use openssl::stack::{Stack, StackRef};
use openssl::x509::store::X509StoreRef;
use openssl::x509::{X509, X509Ref};

use crate::outcome::OcspVerdict;

/// Where the status callback leaves its verdict for the attempt that made it.
pub type VerdictSlot = Arc<Mutex<Option<OcspVerdict>>>;

/// `OCSP_R_STATUS_EXPIRED` and `OCSP_R_STATUS_NOT_YET_VALID` (openssl/ocsperr.h).
const STATUS_EXPIRED: i32 = 125;
const STATUS_NOT_YET_VALID: i32 = 126;

/// What the client knows about the server when it judges the staple.
pub struct Peer<'a> {
    /// The verified chain's leaf and the certificate after it; `None` when there is no root
    /// file (nothing was verified) or the leaf is itself the trust anchor.
    pub leaf_and_issuer: Option<(&'a X509Ref, &'a X509Ref)>,
    /// The certificates the server sent: they may help find the responder and its issuers,
    /// and are not trusted by themselves.
    pub sent: &'a StackRef<X509>,
    pub roots: &'a X509StoreRef,
}

/// Makes every connection of `b` require a staple; `have_root` says whether a root file was
/// loaded into its store.
pub fn require_staple(b: &mut SslContextBuilder, have_root: bool, slot: VerdictSlot) -> Result<(), ErrorStack> {
    b.set_status_callback(move |ssl| match judge(ssl, have_root) {
        Ok(()) => Ok(true),
        Err(verdict) => {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(verdict);
            // An error (not `Ok(false)`, which would send bad_certificate_status_response) is
            // what libpq's -1 is: SSL_R_OCSP_CALLBACK_FAILURE with an internal_error alert.
            Err(ErrorStack::get())
        }
    })
}

fn judge(ssl: &SslRef, have_root: bool) -> Result<(), OcspVerdict> {
    let staple = ssl.ocsp_status().ok_or(OcspVerdict::StapleMissing)?;
    let chain = ssl.verified_chain().filter(|_| have_root);
    let leaf_and_issuer = chain.and_then(|c| Some((c.get(0)?, c.get(1)?)));
    let none = Stack::new().map_err(|_| OcspVerdict::Untrusted)?;
    let sent = ssl.peer_cert_chain().unwrap_or(&none);
    judge_response(staple, &Peer { leaf_and_issuer, sent, roots: ssl.ssl_context().cert_store() })
}

/// The verdict on a stapled response `der`.
pub fn judge_response(der: &[u8], peer: &Peer<'_>) -> Result<(), OcspVerdict> {
    let basic = basic_response(der)?;
    let (leaf, issuer) = peer.leaf_and_issuer.ok_or(OcspVerdict::NoRootCert)?;
    basic.verify(peer.sent, peer.roots, OcspFlag::empty()).map_err(|_| OcspVerdict::Untrusted)?;
    // The patch reports a CertID it cannot compute in words of its own; no status can be
    // found for the certificate then, which is this verdict.
    let id = OcspCertId::from_cert(MessageDigest::sha1(), leaf, issuer).map_err(|_| OcspVerdict::WrongCert)?;
    let status = basic.find_status(&id).ok_or(OcspVerdict::WrongCert)?;
    if status.status == OcspCertStatus::REVOKED {
        return Err(OcspVerdict::Revoked);
    }
    if status.status != OcspCertStatus::GOOD {
        return Err(OcspVerdict::StatusUnknown);
    }
    status.check_validity(0, None).map_err(|e| validity_verdict(&e))
}

fn basic_response(der: &[u8]) -> Result<OcspBasicResponse, OcspVerdict> {
    let response = OcspResponse::from_der(der).map_err(|_| OcspVerdict::Unparsable)?;
    if response.status() != OcspResponseStatus::SUCCESSFUL {
        return Err(OcspVerdict::Unsuccessful);
    }
    response.basic().map_err(|_| OcspVerdict::NoBasicResponse)
}

/// What libpq's patch says for a verdict (its message contract), for the detail only.
pub fn message(v: OcspVerdict) -> &'static str {
    match v {
        OcspVerdict::NoRootCert => "cannot check the stapled OCSP response without a root certificate",
        OcspVerdict::StapleMissing => "no OCSP response was stapled by the server",
        OcspVerdict::Unparsable => "could not parse the stapled OCSP response",
        OcspVerdict::Unsuccessful => "stapled OCSP response has a status other than \"successful\"",
        OcspVerdict::NoBasicResponse => "stapled OCSP response contains no basic response",
        OcspVerdict::Untrusted => "could not verify the stapled OCSP response",
        OcspVerdict::WrongCert => "stapled OCSP response has no status for the server certificate",
        OcspVerdict::Revoked => "server certificate is revoked according to the stapled OCSP response",
        OcspVerdict::StatusUnknown => "server certificate status is unknown according to the stapled OCSP response",
        OcspVerdict::Expired => "stapled OCSP response has expired",
        OcspVerdict::NotYetValid => "stapled OCSP response is not yet valid",
        OcspVerdict::TimesInvalid => "stapled OCSP response is not valid",
    }
}

/// Which time check failed, from OpenSSL's reason codes (never its wording).
fn validity_verdict(e: &ErrorStack) -> OcspVerdict {
    let reasons: Vec<i32> = e.errors().iter().map(|x| (x.code() & 0x7F_FFFF) as i32).collect();
    if reasons.contains(&STATUS_EXPIRED) {
        OcspVerdict::Expired
    } else if reasons.contains(&STATUS_NOT_YET_VALID) {
        OcspVerdict::NotYetValid
    } else {
        OcspVerdict::TimesInvalid
    }
}

#[cfg(test)]
mod tests {
    use openssl::x509::X509;
    use openssl::x509::store::X509StoreBuilder;
    use pgtls_certs::{GenerateOptions, OcspResponses, Pki, PkiSpec};

    use super::*;

    const LAYOUT: &str = r#"
[pki.root]
ca = true
[pki.responder-no-eku]
issuer = "root"
[pki.server]
issuer = "root"
[pki.other]
issuer = "root"

[ocsp.good]
for = "server"
[ocsp.revoked]
for = "server"
status = "revoked"
[ocsp.unknown]
for = "server"
status = "unknown"
[ocsp.stale]
for = "server"
this_update = "-2d"
next_update = "-1d"
[ocsp.future]
for = "server"
this_update = "+1d"
next_update = "+2d"
[ocsp.no-eku]
for = "server"
signer = "responder-no-eku"
[ocsp.other]
for = "other"
[ocsp.try-later]
for = "server"
response_status = "tryLater"
[ocsp.no-basic]
for = "server"
response_bytes = false
[ocsp.not-der]
for = "server"
malformed = true
"#;

    fn generated() -> (tempfile::TempDir, Pki) {
        let doc: toml::Table = toml::from_str(LAYOUT).unwrap();
        let mut spec: PkiSpec = doc["pki"].clone().try_into().unwrap();
        let responses: OcspResponses = doc["ocsp"].clone().try_into().unwrap();
        spec.add_ocsp_responses(responses);
        let dir = tempfile::tempdir().unwrap();
        let pki = pgtls_certs::generate(&spec, dir.path(), &GenerateOptions::default()).unwrap();
        (dir, pki)
    }

    fn cert(pki: &Pki, name: &str) -> X509 {
        X509::from_pem(&std::fs::read(pki.cert_path(name).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn every_response_kind_gets_its_verdict() {
        let (_d, pki) = generated();
        let mut roots = X509StoreBuilder::new().unwrap();
        roots.add_cert(cert(&pki, "root")).unwrap();
        let roots = roots.build();
        let (leaf, issuer) = (cert(&pki, "server"), cert(&pki, "root"));
        let mut sent = Stack::new().unwrap();
        sent.push(leaf.clone()).unwrap();
        let peer = Peer { leaf_and_issuer: Some((&leaf, &issuer)), sent: &sent, roots: &roots };
        let verdict = |name: &str| {
            let der = std::fs::read(pki.ocsp_path(name).unwrap()).unwrap();
            judge_response(&der, &peer).err()
        };
        assert_eq!(verdict("good"), None);
        assert_eq!(verdict("revoked"), Some(OcspVerdict::Revoked));
        assert_eq!(verdict("unknown"), Some(OcspVerdict::StatusUnknown));
        assert_eq!(verdict("stale"), Some(OcspVerdict::Expired));
        assert_eq!(verdict("future"), Some(OcspVerdict::NotYetValid));
        assert_eq!(verdict("no-eku"), Some(OcspVerdict::Untrusted));
        assert_eq!(verdict("other"), Some(OcspVerdict::WrongCert));
        assert_eq!(verdict("try-later"), Some(OcspVerdict::Unsuccessful));
        assert_eq!(verdict("no-basic"), Some(OcspVerdict::NoBasicResponse));
        assert_eq!(verdict("not-der"), Some(OcspVerdict::Unparsable));
        let unverified = Peer { leaf_and_issuer: None, ..peer };
        let der = std::fs::read(pki.ocsp_path("good").unwrap()).unwrap();
        assert_eq!(judge_response(&der, &unverified), Err(OcspVerdict::NoRootCert));
    }
}
