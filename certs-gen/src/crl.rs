//! Building and signing v2 CRLs (CRL number, AKI, per-entry reason codes).
//!
//! The openssl crate's `X509CrlBuilder` covers the CRL itself; the one gap is an extension on a
//! revoked entry (the reasonCode), which this module adds through `openssl-sys` in one small
//! `unsafe` block (the crate's others build OCSP responses). Every CA gets a CRL, also an
//! empty one: PostgreSQL sets `X509_V_FLAG_CRL_CHECK_ALL`, which fails a chain when any CA in
//! it has no CRL.

use foreign_types::{ForeignType, ForeignTypeRef};
use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString};
use openssl::bn::BigNum;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKeyRef, Private};
use openssl::x509::extension::CrlNumber;
use openssl::x509::{
    X509Crl, X509CrlBuilder, X509Extension, X509ExtensionRef, X509Ref, X509Revoked, X509RevokedBuilder,
};
use time::OffsetDateTime;

use crate::cert::asn1_time;
use crate::plan::PlannedCrl;
use crate::serial::Serial;
use crate::spec::RevocationReason;

/// One revoked certificate on a CRL.
pub(crate) struct Entry<'a> {
    pub serial: &'a Serial,
    pub date: OffsetDateTime,
    pub reason: Option<RevocationReason>,
}

/// Builds the CRL of the CA `ca_cert`, signed with `ca_key` using `md`.
pub(crate) fn build(
    ca_cert: &X509Ref,
    ca_key: &PKeyRef<Private>,
    md: MessageDigest,
    opts: &PlannedCrl,
    entries: &[Entry<'_>],
) -> Result<X509Crl, ErrorStack> {
    let mut b = X509CrlBuilder::new()?;
    b.set_issuer_name(ca_cert.subject_name())?;
    b.set_last_update(&*asn1_time(opts.this_update)?)?;
    b.set_next_update(&*asn1_time(opts.next_update)?)?;
    b.append_extension(CrlNumber::new(BigNum::from_dec_str(&opts.number.to_string())?)?.build()?)?;
    b.append_extension(authority_key_id(ca_cert)?)?;
    for e in entries {
        b.add_revoked(revoked(e)?)?;
    }
    b.sort()?;
    b.sign(ca_key, md)?;
    b.build()
}

/// AKI by key identifier only: `AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier }`.
/// OpenSSL matches a CRL to its CA through this when several CAs share a subject name.
fn authority_key_id(ca_cert: &X509Ref) -> Result<X509Extension, ErrorStack> {
    // Our CA certificates always carry an SKI; a CA without one gets an AKI naming no key,
    // which OpenSSL treats as "no constraint".
    let ski = ca_cert.subject_key_id().map(|s| s.as_slice().to_vec()).unwrap_or_default();
    let inner = der_tlv(0x80, &ski);
    let value = der_tlv(0x30, &inner);
    let oid = Asn1Object::from_str("2.5.29.35")?;
    X509Extension::new_from_der(&oid, false, &*Asn1OctetString::new_from_bytes(&value)?)
}

fn revoked(e: &Entry<'_>) -> Result<X509Revoked, ErrorStack> {
    let mut b = X509RevokedBuilder::new()?;
    let serial = Asn1Integer::from_bn(&*BigNum::from_slice(e.serial.as_bytes())?)?;
    b.set_serial_number(&serial)?;
    b.set_revocation_date(&*asn1_time(e.date)?)?;
    let revoked = b.build();
    if let Some(reason) = e.reason {
        add_entry_extension(&revoked, &*reason_code(reason)?)?;
    }
    Ok(revoked)
}

/// `CRLReason ::= ENUMERATED`, as a non-critical entry extension (RFC 5280 §5.3.1).
fn reason_code(reason: RevocationReason) -> Result<X509Extension, ErrorStack> {
    let value = der_tlv(0x0a, &[reason.code()]);
    let oid = Asn1Object::from_str("2.5.29.21")?;
    X509Extension::new_from_der(&oid, false, &*Asn1OctetString::new_from_bytes(&value)?)
}

fn add_entry_extension(revoked: &X509Revoked, ext: &X509ExtensionRef) -> Result<(), ErrorStack> {
    // SAFETY: both pointers come from live owned wrappers borrowed for this call.
    // X509_REVOKED_add_ext copies the extension (X509v3_add_ext duplicates it), so `ext` keeps
    // its own ownership, and `revoked` is not yet shared with any CRL. Returns 0 on failure.
    let ok = unsafe { openssl_sys::X509_REVOKED_add_ext(revoked.as_ptr(), ext.as_ptr(), -1) };
    if ok == 0 { Err(ErrorStack::get()) } else { Ok(()) }
}

/// DER tag-length-value for the short values used here (lengths in short or long form).
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// The subject-name hash `openssl rehash` / `openssl crl -hash` use for `<hash>.r0` files:
/// `X509_NAME_hash_ex` of the CRL issuer, which is the CA certificate's subject.
pub(crate) fn issuer_hash(ca_cert: &X509Ref) -> u32 {
    ca_cert.subject_name_hash()
}

#[cfg(test)]
mod tests {
    use super::der_tlv;

    #[test]
    fn der_lengths() {
        assert_eq!(der_tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = der_tlv(0x04, &[0; 200]);
        assert_eq!(&long[..3], &[0x04, 0x81, 200]);
        assert_eq!(long.len(), 203);
    }
}
