//! Field-level checks of one entity, producing its resolved [`Node`].

use time::OffsetDateTime;

use super::{Index, KeyFile, Node, PlannedCrl, PlannedRevocation};
use crate::dn::{self, Dn};
use crate::error::{Error, ErrorKind};
use crate::keys::KeyType;
use crate::san::San;
use crate::serial::Serial;
use crate::spec::{EntitySpec, ExtendedKeyUsage, KeyUsage, PkiSpec, SerialSpec};
use crate::{hint, when};

/// Everything resolved before the per-entity pass.
pub(super) struct Context<'a> {
    pub spec: &'a PkiSpec,
    pub index: &'a Index<'a>,
    pub issuers: &'a [Option<usize>],
    pub keys: &'a [(usize, KeyType)],
    pub now: OffsetDateTime,
}

/// Default validity: yesterday (tolerates clock skew between us and the server) … +100 years.
const DEFAULT_NOT_BEFORE: &str = "-1d";
const DEFAULT_NOT_AFTER: &str = "+100y";
const DEFAULT_THIS_UPDATE: &str = "-1h";
const DEFAULT_NEXT_UPDATE: &str = "+100y";

pub(super) fn build(ctx: &Context<'_>, i: usize) -> Result<Node, Error> {
    let (name, e) = &ctx.spec.entities()[i];
    let at = |field: &str, kind: ErrorKind| Error::new(kind).at_entity(name).at_field(field);
    let (key_owner, key_type) = ctx.keys[i];
    let issuer = ctx.issuers[i];
    check_cert_flags(e).map_err(|(f, msg)| at(f, ErrorKind::conflict(msg)))?;
    let (not_before, not_after) = validity(e, ctx.now).map_err(|(f, k)| at(f, k))?;
    let signer_key = ctx.keys[issuer.unwrap_or(i)].1;
    check_hash(e, signer_key).map_err(|k| at("hash", k))?;
    let node = Node {
        name: name.clone(),
        subject: subject(name, e).map_err(|k| at("subject", k))?,
        issuer,
        ca: e.ca,
        pathlen: pathlen(e).map_err(|k| at("pathlen", k))?,
        sans: sans(e).map_err(|k| at("san", k))?,
        key_owner,
        key_type,
        serial: serial(name, e).map_err(|k| at("serial", k))?,
        not_before,
        not_after,
        hash: e.hash,
        key_usage: key_usage(e),
        eku: eku(e).map_err(|k| at("extended_key_usage", k))?,
        revocation: revocation(ctx, e, issuer).map_err(|k| at("revoked", k))?,
        also_revoked_by: also_revoked_by(ctx, e).map_err(|k| at("also_revoked_by", k))?,
        key_file: key_file(e, key_type).map_err(|(f, k)| at(f, k))?,
        extra_keys: extra_keys(e, key_type).map_err(|k| at("extra_keys", k))?,
        der: e.der,
        crl: crl(e, key_type, ctx.now).map_err(|k| at("crl", k))?,
        cert: e.cert,
    };
    Ok(node)
}

/// Options that make no sense without a certificate, or a CA without one.
fn check_cert_flags(e: &EntitySpec) -> Result<(), (&'static str, String)> {
    if e.cert {
        return Ok(());
    }
    let why = |f: &'static str| (f, format!("`{f}` needs a certificate, but `cert = false`"));
    if e.ca {
        return Err(why("ca"));
    }
    if e.revoked.is_some() {
        return Err(why("revoked"));
    }
    if e.der {
        return Err(why("der"));
    }
    Ok(())
}

fn subject(name: &str, e: &EntitySpec) -> Result<Dn, ErrorKind> {
    let text = e.subject.clone().unwrap_or_else(|| format!("CN={name}"));
    let bad = |reason| ErrorKind::BadDn { value: text.clone(), reason };
    let dn = dn::parse(&text).map_err(bad)?;
    // Building the X509Name here lets OpenSSL's own checks (e.g. C is 2 letters) fail in
    // `validate` rather than half-way through `generate`.
    dn::build(&dn).map_err(bad)?;
    Ok(dn)
}

fn pathlen(e: &EntitySpec) -> Result<Option<u32>, ErrorKind> {
    if e.pathlen.is_some() && !e.ca {
        return Err(ErrorKind::conflict("`pathlen` only applies to CAs (`ca = true`)"));
    }
    Ok(e.pathlen)
}

fn sans(e: &EntitySpec) -> Result<Vec<San>, ErrorKind> {
    e.san.iter().map(|s| San::parse(s).map_err(|reason| ErrorKind::BadSan { value: s.clone(), reason })).collect()
}

fn serial(name: &str, e: &EntitySpec) -> Result<Serial, ErrorKind> {
    match &e.serial {
        None => Ok(Serial::default_for(name)),
        Some(s) => Serial::from_spec(s).map_err(|reason| ErrorKind::BadSerial {
            value: match s {
                SerialSpec::Hex(h) => h.clone(),
                SerialSpec::Int(n) => n.to_string(),
            },
            reason,
        }),
    }
}

fn time(value: Option<&str>, default: &str, now: OffsetDateTime) -> Result<OffsetDateTime, ErrorKind> {
    let value = value.unwrap_or(default);
    when::resolve(value, now).map_err(|reason| ErrorKind::BadTime { value: value.to_owned(), reason })
}

fn validity(
    e: &EntitySpec,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), (&'static str, ErrorKind)> {
    let nb = time(e.not_before.as_deref(), DEFAULT_NOT_BEFORE, now).map_err(|k| ("not_before", k))?;
    let na = time(e.not_after.as_deref(), DEFAULT_NOT_AFTER, now).map_err(|k| ("not_after", k))?;
    if na < nb {
        let msg = format!("not_after ({na}) is before not_before ({nb})");
        return Err(("not_after", ErrorKind::conflict(msg)));
    }
    Ok((nb, na))
}

/// `hash` is meaningless when the signing key is Ed25519, which hashes internally.
fn check_hash(e: &EntitySpec, signer_key: KeyType) -> Result<(), ErrorKind> {
    match e.hash {
        Some(_) if !signer_key.takes_hash() => Err(ErrorKind::IncompatibleKey {
            key_type: signer_key,
            reason: "`hash` cannot be set: the signing key signs without a separate hash".into(),
        }),
        _ => Ok(()),
    }
}

fn key_usage(e: &EntitySpec) -> Vec<KeyUsage> {
    match &e.key_usage {
        Some(ku) => ku.clone(),
        None if e.ca => vec![KeyUsage::KeyCertSign, KeyUsage::CrlSign],
        None => Vec::new(),
    }
}

fn eku(e: &EntitySpec) -> Result<Vec<ExtendedKeyUsage>, ErrorKind> {
    for u in &e.extended_key_usage {
        if let ExtendedKeyUsage::Oid(oid) = u
            && !dn::is_dotted_oid(oid)
        {
            let reason = "expected a dotted OID such as 1.3.6.1.5.5.7.3.1".into();
            return Err(ErrorKind::BadExtendedKeyUsage { value: oid.clone(), reason });
        }
    }
    Ok(e.extended_key_usage.clone())
}

/// Without a `date`, the entry is dated at the issuing CA's CRL `this_update`.
fn revocation(
    ctx: &Context<'_>,
    e: &EntitySpec,
    issuer: Option<usize>,
) -> Result<Option<PlannedRevocation>, ErrorKind> {
    let Some(r) = &e.revoked else { return Ok(None) };
    let Some(issuer) = issuer else {
        return Err(ErrorKind::RevokedRoot);
    };
    let date = match r.date.as_deref() {
        Some(d) => time(Some(d), "", ctx.now)?,
        None => {
            let crl = ctx.spec.entities()[issuer].1.crl.as_ref();
            let this_update = crl.and_then(|c| c.this_update.as_deref());
            // A bad `this_update` is reported on the issuer itself, so fall back quietly here.
            time(this_update, DEFAULT_THIS_UPDATE, ctx.now).unwrap_or(ctx.now)
        }
    };
    Ok(Some(PlannedRevocation { reason: r.reason, date }))
}

fn also_revoked_by(ctx: &Context<'_>, e: &EntitySpec) -> Result<Vec<usize>, ErrorKind> {
    if !e.also_revoked_by.is_empty() && e.revoked.is_none() {
        return Err(ErrorKind::conflict("`also_revoked_by` needs `revoked`"));
    }
    let mut out = Vec::new();
    for ca in &e.also_revoked_by {
        let Some(&j) = ctx.index.get(ca.as_str()) else {
            let hint = hint::closest(ca, ctx.index.keys().copied()).map(str::to_owned);
            return Err(ErrorKind::UnknownMember { member: None, name: ca.clone(), hint });
        };
        if !ctx.spec.entities()[j].1.ca {
            return Err(ErrorKind::MemberNotCa { member: None, name: ca.clone() });
        }
        out.push(j);
    }
    Ok(out)
}

fn key_file(e: &EntitySpec, key_type: KeyType) -> Result<KeyFile, (&'static str, ErrorKind)> {
    let file = KeyFile { format: e.key_format, passphrase: e.key_passphrase.clone(), mode: 0o600 };
    check_key_file(&file, key_type)
        .map_err(|(passphrase, k)| (if passphrase { "key_passphrase" } else { "key_format" }, k))?;
    Ok(file)
}

/// Errors say whether the passphrase (`true`) or the format (`false`) is at fault.
fn check_key_file(file: &KeyFile, key_type: KeyType) -> Result<(), (bool, ErrorKind)> {
    if file.format.is_pkcs1() && !key_type.has_pkcs1() {
        let reason = format!("{} needs an rsa-2048/3072/4096 key", file.format.name());
        return Err((false, ErrorKind::IncompatibleKey { key_type, reason }));
    }
    match file.passphrase.as_deref() {
        Some("") => Err((true, ErrorKind::conflict("an empty passphrase cannot encrypt a key"))),
        Some(_) if file.format.is_pkcs1() => Err((
            true,
            ErrorKind::conflict("PKCS#1 keys are written unencrypted; use pkcs8-pem or pkcs8-der with a passphrase"),
        )),
        _ => Ok(()),
    }
}

fn extra_keys(e: &EntitySpec, key_type: KeyType) -> Result<Vec<(String, KeyFile)>, ErrorKind> {
    let mut out = Vec::new();
    for x in &e.extra_keys {
        super::graph::check_file_stem(&x.file)
            .map_err(|reason| ErrorKind::conflict(format!("invalid file name {:?}: {reason}", x.file)))?;
        let mode = match &x.mode {
            None => 0o600,
            Some(m) => {
                u32::from_str_radix(m.trim_start_matches("0o"), 8).ok().filter(|m| *m <= 0o777).ok_or_else(|| {
                    ErrorKind::conflict(format!(
                        "mode {m:?} of {:?} is not an octal file mode such as \"0644\"",
                        x.file
                    ))
                })?
            }
        };
        let file = KeyFile { format: x.format, passphrase: x.passphrase.clone(), mode };
        check_key_file(&file, key_type).map_err(|(_, k)| k)?;
        out.push((x.file.clone(), file));
    }
    Ok(out)
}

fn crl(e: &EntitySpec, key_type: KeyType, now: OffsetDateTime) -> Result<Option<PlannedCrl>, ErrorKind> {
    let spec = e.crl.clone().unwrap_or_default();
    if !e.ca {
        return match e.crl {
            Some(_) => Err(ErrorKind::conflict("`crl` only applies to CAs (`ca = true`)")),
            None => Ok(None),
        };
    }
    if spec.hash.is_some() && !key_type.takes_hash() {
        let reason = "`crl.hash` cannot be set: the CA key signs without a separate hash".into();
        return Err(ErrorKind::IncompatibleKey { key_type, reason });
    }
    let this_update = time(spec.this_update.as_deref(), DEFAULT_THIS_UPDATE, now)?;
    let next_update = time(spec.next_update.as_deref(), DEFAULT_NEXT_UPDATE, now)?;
    // An already-expired CRL is a legitimate scenario (next_update in the past), but a
    // next_update before this_update is not a CRL OpenSSL would ever accept.
    if next_update <= this_update {
        return Err(ErrorKind::conflict("crl.next_update must be after crl.this_update"));
    }
    let number = spec.number.unwrap_or(1);
    Ok(Some(PlannedCrl { this_update, next_update, number, hash: spec.hash }))
}
