//! Building and signing OCSP responses (RFC 6960) with OpenSSL's own responder functions.
//!
//! The openssl crate parses and verifies responses but cannot build one: it wraps neither
//! `OCSP_basic_add1_status` nor `OCSP_basic_sign`, so they and their helpers are declared
//! here and called in small `unsafe` blocks. This is what `openssl ocsp` does as a responder, so a response
//! of ours is byte-for-byte the shape PostgreSQL's patched libpq and the `openssl ocsp` CLI
//! see from real responders. RustCrypto's `x509-ocsp` (feature `builder`) was the alternative;
//! it was not chosen because it would bring a second X.509 stack (der, x509-cert, spki) and a
//! RustCrypto signer per key type (rsa, p256, p384, ed25519, RSA-PSS) beside the OpenSSL keys
//! every other file is made from, and its own README still calls it unfinished. Through
//! OpenSSL every key type the PKI offers signs responses, the same way it signs certificates.

use std::ffi::{CString, c_int, c_ulong, c_void};

use foreign_types::{ForeignType, ForeignTypeRef};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspBasicResponse, OcspCertId, OcspResponse, OcspResponseStatus};
use openssl::pkey::{PKeyRef, Private};
use openssl::x509::X509Ref;
use time::OffsetDateTime;

use crate::cert::asn1_time;
use crate::plan::{OcspBasic, OcspStatus};
use crate::spec::{ResponderIdKind, ResponseStatus};

/// What a `malformed = true` response file holds: text, which no DER parser accepts.
pub(crate) const MALFORMED: &[u8] = b"pgtls: this file is deliberately not a DER OCSPResponse (malformed = true)\n";

/// `OCSP_basic_sign` flags (openssl/ocsp.h).
const OCSP_NOCERTS: c_ulong = 0x1;
const OCSP_RESPID_KEY: c_ulong = 0x400;
const OCSP_NOTIME: c_ulong = 0x800;

/// The certificates a basic response is made from.
pub(crate) struct Parties<'a> {
    pub cert: &'a X509Ref,
    pub issuer: &'a X509Ref,
    pub signer: &'a X509Ref,
    pub signer_key: &'a PKeyRef<Private>,
    /// `None` for keys that sign without a separate hash (Ed25519).
    pub md: Option<MessageDigest>,
}

/// A successful `OCSPResponse` around one signed SingleResponse, DER-encoded.
pub(crate) fn signed(b: &OcspBasic, p: &Parties<'_>) -> Result<Vec<u8>, ErrorStack> {
    let basic = new_basic()?;
    let id = cert_id(p.cert, p.issuer)?;
    add_status(&basic, &id, &b.status, b.this_update, b.next_update)?;
    set_produced_at(&basic, b.produced_at)?;
    let mut flags = OCSP_NOTIME;
    if !b.embed_signer {
        flags |= OCSP_NOCERTS;
    }
    if b.responder_id == ResponderIdKind::Key {
        flags |= OCSP_RESPID_KEY;
    }
    sign(&basic, p, flags)?;
    OcspResponse::create(OcspResponseStatus::SUCCESSFUL, Some(&basic))?.to_der()
}

/// An `OCSPResponse` with `status` and no responseBytes.
pub(crate) fn bare(status: ResponseStatus) -> Result<Vec<u8>, ErrorStack> {
    OcspResponse::create(OcspResponseStatus::from_raw(status.code()), None)?.to_der()
}

/// The SHA-1 CertID (as OCSP clients, libpq's patch and `openssl ocsp`, build theirs) of
/// `cert`'s serial under `issuer`'s subject name and key. `OCSP_cert_to_id` would take the
/// name from `cert`'s issuer field instead, so an `issuer` override would hash a mix of two
/// certificates; with the real issuer both are the same.
fn cert_id(cert: &X509Ref, issuer: &X509Ref) -> Result<OcspCertId, ErrorStack> {
    // SAFETY: the name, key bit string and serial are borrowed from live certificates for
    // the call; OCSP_cert_id_new copies them into a new CertID (or returns NULL), whose
    // ownership passes to the wrapper.
    unsafe {
        let key = X509_get0_pubkey_bitstr(issuer.as_ptr());
        if key.is_null() {
            return Err(ErrorStack::get());
        }
        let serial = cert.serial_number().as_ptr();
        let md = MessageDigest::sha1().as_ptr();
        let id = OCSP_cert_id_new(md, issuer.subject_name().as_ptr(), key, serial);
        if id.is_null() { Err(ErrorStack::get()) } else { Ok(OcspCertId::from_ptr(id)) }
    }
}

fn new_basic() -> Result<OcspBasicResponse, ErrorStack> {
    // SAFETY: OCSP_BASICRESP_new returns an owned object or NULL; ownership passes to the
    // wrapper, which frees it.
    let ptr = unsafe { openssl_sys::OCSP_BASICRESP_new() };
    if ptr.is_null() { Err(ErrorStack::get()) } else { Ok(unsafe { OcspBasicResponse::from_ptr(ptr) }) }
}

unsafe extern "C" {
    fn X509_get0_pubkey_bitstr(x: *const openssl_sys::X509) -> *mut openssl_sys::ASN1_BIT_STRING;
    fn OCSP_cert_id_new(
        dgst: *const openssl_sys::EVP_MD,
        issuer_name: *const openssl_sys::X509_NAME,
        issuer_key: *const openssl_sys::ASN1_BIT_STRING,
        serial: *const openssl_sys::ASN1_INTEGER,
    ) -> *mut openssl_sys::OCSP_CERTID;
    fn OCSP_basic_add1_status(
        rsp: *mut openssl_sys::OCSP_BASICRESP,
        cid: *mut openssl_sys::OCSP_CERTID,
        status: c_int,
        reason: c_int,
        revtime: *mut openssl_sys::ASN1_TIME,
        thisupd: *mut openssl_sys::ASN1_TIME,
        nextupd: *mut openssl_sys::ASN1_TIME,
    ) -> *mut c_void;
    fn OCSP_basic_sign(
        brsp: *mut openssl_sys::OCSP_BASICRESP,
        signer: *mut openssl_sys::X509,
        key: *mut openssl_sys::EVP_PKEY,
        dgst: *const openssl_sys::EVP_MD,
        certs: *mut openssl_sys::stack_st_X509,
        flags: c_ulong,
    ) -> c_int;
    fn OCSP_resp_get0_produced_at(bs: *const openssl_sys::OCSP_BASICRESP) -> *const openssl_sys::ASN1_GENERALIZEDTIME;
}

fn add_status(
    basic: &OcspBasicResponse,
    id: &OcspCertId,
    status: &OcspStatus,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
) -> Result<(), ErrorStack> {
    let (code, reason, revoked_at) = match status {
        OcspStatus::Good => (openssl_sys::V_OCSP_CERTSTATUS_GOOD, openssl_sys::OCSP_REVOKED_STATUS_NOSTATUS, None),
        OcspStatus::Unknown => {
            (openssl_sys::V_OCSP_CERTSTATUS_UNKNOWN, openssl_sys::OCSP_REVOKED_STATUS_NOSTATUS, None)
        }
        OcspStatus::Revoked { reason, time } => (
            openssl_sys::V_OCSP_CERTSTATUS_REVOKED,
            reason.map_or(openssl_sys::OCSP_REVOKED_STATUS_NOSTATUS, |r| c_int::from(r.code())),
            Some(asn1_time(*time)?),
        ),
    };
    let this_update = asn1_time(this_update)?;
    let next_update = next_update.map(asn1_time).transpose()?;
    let ptr = |t: &Option<openssl::asn1::Asn1Time>| t.as_ref().map_or(std::ptr::null_mut(), |t| t.as_ptr());
    // SAFETY: every pointer is NULL (allowed for revtime and nextupd) or borrowed from a live
    // wrapper for this call. OCSP_basic_add1_status copies the CertID and converts each time
    // into a new GeneralizedTime, so no ownership moves; it returns NULL on failure.
    let single = unsafe {
        OCSP_basic_add1_status(
            basic.as_ptr(),
            id.as_ptr(),
            code,
            reason,
            ptr(&revoked_at),
            this_update.as_ptr(),
            ptr(&next_update),
        )
    };
    if single.is_null() { Err(ErrorStack::get()) } else { Ok(()) }
}

/// producedAt is the run's clock, not OpenSSL's (signing runs with `OCSP_NOTIME`), so every
/// time in the response comes from the same resolved plan.
fn set_produced_at(basic: &OcspBasicResponse, at: OffsetDateTime) -> Result<(), ErrorStack> {
    let text = generalized_time(at);
    let text = CString::new(text).map_err(|_| ErrorStack::get())?;
    // SAFETY: producedAt is a required field, allocated by OCSP_BASICRESP_new and owned by
    // `basic`; OpenSSL hands it out const only because callers normally read it. Setting its
    // string in place is what OCSP_basic_sign itself does (X509_gmtime_adj). Returns 0 on
    // failure.
    let ok = unsafe {
        let produced = OCSP_resp_get0_produced_at(basic.as_ptr()) as *mut openssl_sys::ASN1_GENERALIZEDTIME;
        !produced.is_null() && openssl_sys::ASN1_GENERALIZEDTIME_set_string(produced, text.as_ptr()) == 1
    };
    if ok { Ok(()) } else { Err(ErrorStack::get()) }
}

/// `YYYYMMDDHHMMSSZ`, the DER form of a GeneralizedTime (RFC 5280 §4.1.2.5.2).
fn generalized_time(t: OffsetDateTime) -> String {
    format!("{:04}{:02}{:02}{:02}{:02}{:02}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
}

fn sign(basic: &OcspBasicResponse, p: &Parties<'_>, flags: c_ulong) -> Result<(), ErrorStack> {
    // SAFETY: all pointers are borrowed from live wrappers for this call. OCSP_basic_sign
    // takes its own references to what it embeds (OCSP_basic_add1_cert up-refs the signer),
    // reads the key and digest only, and returns 0 on failure. `certs` is NULL: no extra
    // certificates beside the signer's.
    let ok = unsafe {
        OCSP_basic_sign(
            basic.as_ptr(),
            p.signer.as_ptr(),
            p.signer_key.as_ptr(),
            p.md.map_or(std::ptr::null(), |md| md.as_ptr()),
            std::ptr::null_mut(),
            flags,
        )
    };
    if ok == 1 { Ok(()) } else { Err(ErrorStack::get()) }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    #[test]
    fn generalized_time_is_der_form() {
        assert_eq!(super::generalized_time(datetime!(2026-03-04 05:06:07 UTC)), "20260304050607Z");
    }
}
