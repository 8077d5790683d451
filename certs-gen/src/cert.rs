//! Issuing one X.509 v3 certificate from a resolved [`Node`].

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, PKeyRef, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage as EkuBuilder, KeyUsage as KuBuilder,
    SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Extension, X509Ref};
use time::OffsetDateTime;

use crate::keys::KeyType;
use crate::plan::Node;
use crate::san::San;
use crate::spec::{ExtendedKeyUsage, HashAlg, KeyUsage};

/// The certificate and key of the CA that signs, or `None` for self-signed.
pub(crate) struct Signer<'a> {
    pub cert: &'a X509Ref,
    pub key: &'a PKeyRef<Private>,
    pub key_type: KeyType,
}

/// Builds and signs `node`'s certificate for `key`.
pub(crate) fn issue(node: &Node, key: &PKey<Private>, signer: Option<Signer<'_>>) -> Result<X509, ErrorStack> {
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = BigNum::from_slice(node.serial.as_bytes())?;
    b.set_serial_number(&*Asn1Integer::from_bn(&serial)?)?;
    // `plan` already built this name once, so it cannot fail for spec reasons here.
    let subject = crate::dn::build(&node.subject).map_err(|_| ErrorStack::get())?;
    b.set_subject_name(&subject)?;
    b.set_issuer_name(signer.as_ref().map_or(subject.as_ref(), |s| s.cert.subject_name()))?;
    b.set_not_before(&*asn1_time(node.not_before)?)?;
    b.set_not_after(&*asn1_time(node.not_after)?)?;
    b.set_pubkey(key)?;
    for ext in extensions(node, &b, signer.as_ref().map(|s| s.cert))? {
        b.append_extension(ext)?;
    }
    let (sign_key, sign_type) = match &signer {
        Some(s) => (s.key, s.key_type),
        None => (key.as_ref(), node.key_type),
    };
    b.sign(sign_key, digest(node.hash, sign_type))?;
    Ok(b.build())
}

/// Ed25519 takes no digest; for RSA-PSS keys OpenSSL picks PSS padding by itself, so the
/// signature algorithm is RSASSA-PSS whenever the signing key is an RSA-PSS key.
pub(crate) fn digest(hash: Option<HashAlg>, signer: KeyType) -> MessageDigest {
    if !signer.takes_hash() {
        return MessageDigest::null();
    }
    match hash.unwrap_or(HashAlg::Sha256) {
        HashAlg::Sha256 => MessageDigest::sha256(),
        HashAlg::Sha384 => MessageDigest::sha384(),
        HashAlg::Sha512 => MessageDigest::sha512(),
    }
}

pub(crate) fn asn1_time(t: OffsetDateTime) -> Result<Asn1Time, ErrorStack> {
    Asn1Time::from_unix(t.unix_timestamp() as _)
}

fn extensions(node: &Node, b: &X509Builder, issuer: Option<&X509Ref>) -> Result<Vec<X509Extension>, ErrorStack> {
    let mut exts = vec![basic_constraints(node)?];
    if !node.key_usage.is_empty() {
        exts.push(key_usage(&node.key_usage)?);
    }
    if !node.eku.is_empty() {
        exts.push(eku(&node.eku)?);
    }
    if !node.sans.is_empty() {
        exts.push(san(node, b)?);
    }
    exts.push(SubjectKeyIdentifier::new().build(&b.x509v3_context(issuer, None))?);
    if issuer.is_some() {
        exts.push(AuthorityKeyIdentifier::new().keyid(true).build(&b.x509v3_context(issuer, None))?);
    }
    Ok(exts)
}

fn basic_constraints(node: &Node) -> Result<X509Extension, ErrorStack> {
    let mut bc = BasicConstraints::new();
    bc.critical();
    if node.ca {
        bc.ca();
    }
    if let Some(n) = node.pathlen {
        bc.pathlen(n);
    }
    bc.build()
}

fn key_usage(usages: &[KeyUsage]) -> Result<X509Extension, ErrorStack> {
    let mut ku = KuBuilder::new();
    ku.critical();
    for u in usages {
        match u {
            KeyUsage::DigitalSignature => ku.digital_signature(),
            KeyUsage::NonRepudiation => ku.non_repudiation(),
            KeyUsage::KeyEncipherment => ku.key_encipherment(),
            KeyUsage::DataEncipherment => ku.data_encipherment(),
            KeyUsage::KeyAgreement => ku.key_agreement(),
            KeyUsage::KeyCertSign => ku.key_cert_sign(),
            KeyUsage::CrlSign => ku.crl_sign(),
            KeyUsage::EncipherOnly => ku.encipher_only(),
            KeyUsage::DecipherOnly => ku.decipher_only(),
        };
    }
    ku.build()
}

fn eku(usages: &[ExtendedKeyUsage]) -> Result<X509Extension, ErrorStack> {
    let mut b = EkuBuilder::new();
    for u in usages {
        match u {
            ExtendedKeyUsage::ServerAuth => b.server_auth(),
            ExtendedKeyUsage::ClientAuth => b.client_auth(),
            ExtendedKeyUsage::CodeSigning => b.code_signing(),
            ExtendedKeyUsage::EmailProtection => b.email_protection(),
            ExtendedKeyUsage::TimeStamping => b.time_stamping(),
            ExtendedKeyUsage::OcspSigning => b.other("OCSPSigning"),
            ExtendedKeyUsage::Any => b.other("anyExtendedKeyUsage"),
            ExtendedKeyUsage::Oid(oid) => b.other(oid),
        };
    }
    b.build()
}

/// RFC 5280 §4.2.1.6: with an empty subject the SAN extension must be critical.
fn san(node: &Node, b: &X509Builder) -> Result<X509Extension, ErrorStack> {
    let mut s = SubjectAlternativeName::new();
    if node.subject.attrs.is_empty() {
        s.critical();
    }
    for san in &node.sans {
        match san {
            San::Dns(v) => s.dns(v),
            San::Ip(ip) => s.ip(&ip.to_string()),
            San::Email(v) => s.email(v),
            San::Uri(v) => s.uri(v),
        };
    }
    s.build(&b.x509v3_context(None, None))
}
