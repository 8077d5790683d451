//! Resolving `[ocsp.<name>]` specs against the entities: names, times, and which fields apply.
//!
//! Only a signed (basic) response has a CertID, a signer, a status and times. A malformed
//! file, a non-successful status and a successful response without responseBytes carry none
//! of them, so a field set for such a response is an error rather than silently unused.

use time::OffsetDateTime;

use super::{Index, Node};
use crate::error::{Error, ErrorKind};
use crate::spec::{HashAlg, OcspCertStatus, OcspSpec, PkiSpec, ResponderIdKind, ResponseStatus, RevocationReason};
use crate::{hint, when};

/// Default window: issued an hour ago (tolerates clock skew), valid for a week, as a
/// responder refreshing daily would publish.
const DEFAULT_THIS_UPDATE: &str = "-1h";
const DEFAULT_NEXT_UPDATE: &str = "+7d";
const DEFAULT_PRODUCED_AT: &str = "now";
/// `next_update = "none"`: the optional field is left out.
const NO_NEXT_UPDATE: &str = "none";

/// One resolved response.
#[derive(Debug)]
pub(crate) struct PlannedResponse {
    pub name: String,
    /// The entity the response is about (for the manifest).
    pub cert: usize,
    pub content: Content,
}

/// What the file holds.
#[derive(Debug)]
pub(crate) enum Content {
    /// Bytes that are not DER.
    Malformed,
    /// An `OCSPResponse` with this status and no responseBytes.
    Bare(ResponseStatus),
    /// A successful response carrying a signed basic response.
    Basic(Basic),
}

/// A signed `BasicOCSPResponse` with one SingleResponse.
#[derive(Debug)]
pub(crate) struct Basic {
    /// The certificate whose serial is in the CertID.
    pub cert: usize,
    /// The certificate whose name and key are hashed into the CertID.
    pub issuer: usize,
    pub signer: usize,
    pub status: Status,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    pub produced_at: OffsetDateTime,
    pub embed_signer: bool,
    pub responder_id: ResponderIdKind,
    pub hash: Option<HashAlg>,
}

#[derive(Debug)]
pub(crate) enum Status {
    Good,
    Revoked { reason: Option<RevocationReason>, time: OffsetDateTime },
    Unknown,
}

/// Resolves every response of `spec`.
pub(super) fn resolve(
    spec: &PkiSpec,
    index: &Index<'_>,
    nodes: &[Node],
    now: OffsetDateTime,
) -> Result<Vec<PlannedResponse>, Error> {
    let mut out: Vec<PlannedResponse> = Vec::new();
    for (name, r) in spec.ocsp_responses() {
        let at = |field: Option<&str>, kind: ErrorKind| {
            let e = Error::new(kind).at_response(name);
            match field {
                Some(f) => e.at_field(f),
                None => e,
            }
        };
        super::graph::check_file_stem(name)
            .map_err(|reason| at(None, ErrorKind::conflict(format!("invalid response name {name:?}: {reason}"))))?;
        if out.iter().any(|p| p.name == *name) {
            return Err(at(None, ErrorKind::conflict(format!("OCSP response {name:?} is declared more than once"))));
        }
        let cx = Cx { index, nodes, now };
        let cert = cx.cert_entity(&r.for_entity).map_err(|k| at(Some("for"), k))?;
        let content = cx.content(r, cert).map_err(|(f, k)| at(Some(f), k))?;
        out.push(PlannedResponse { name: name.clone(), cert, content });
    }
    Ok(out)
}

struct Cx<'a> {
    index: &'a Index<'a>,
    nodes: &'a [Node],
    now: OffsetDateTime,
}

type FieldError = (&'static str, ErrorKind);

impl Cx<'_> {
    /// An entity with a certificate.
    fn cert_entity(&self, name: &str) -> Result<usize, ErrorKind> {
        let Some(&i) = self.index.get(name) else {
            let hint = hint::closest(name, self.index.keys().copied()).map(str::to_owned);
            return Err(ErrorKind::UnknownMember { member: None, name: name.to_owned(), hint });
        };
        if !self.nodes[i].cert {
            return Err(ErrorKind::MemberWithoutCert { member: None, name: name.to_owned() });
        }
        Ok(i)
    }

    fn content(&self, r: &OcspSpec, cert: usize) -> Result<Content, FieldError> {
        let status = r.response_status.unwrap_or(ResponseStatus::Successful);
        let bare = if r.malformed {
            Some(("malformed", "`malformed = true`".to_owned()))
        } else if status != ResponseStatus::Successful {
            Some(("response_status", format!("response_status = {:?}", status.name())))
        } else if r.response_bytes == Some(false) {
            Some(("response_bytes", "`response_bytes = false`".to_owned()))
        } else {
            None
        };
        let Some((cause_field, cause)) = bare else {
            return self.basic(r, cert).map(Content::Basic);
        };
        if let Some(field) = basic_fields(r).into_iter().find(|f| *f != cause_field) {
            let msg = format!("`{field}` only applies to a signed response, and {cause} makes one without");
            return Err((field, ErrorKind::conflict(msg)));
        }
        Ok(if r.malformed { Content::Malformed } else { Content::Bare(status) })
    }

    fn basic(&self, r: &OcspSpec, cert: usize) -> Result<Basic, FieldError> {
        let issuer = match &r.issuer {
            Some(name) => self.cert_entity(name).map_err(|k| ("issuer", k))?,
            None => self.nodes[cert].issuer.ok_or_else(|| {
                let msg = format!("{:?} is self-signed, so the CertID has no issuer; set `issuer`", r.for_entity);
                ("for", ErrorKind::conflict(msg))
            })?,
        };
        let signer = match &r.signer {
            Some(name) => self.cert_entity(name).map_err(|k| ("signer", k))?,
            None => issuer,
        };
        check_hash(r.hash, &self.nodes[signer]).map_err(|k| ("hash", k))?;
        let this_update = self.time(r.this_update.as_deref(), DEFAULT_THIS_UPDATE).map_err(|k| ("this_update", k))?;
        let next_update = match r.next_update.as_deref() {
            Some(NO_NEXT_UPDATE) => None,
            other => Some(self.time(other, DEFAULT_NEXT_UPDATE).map_err(|k| ("next_update", k))?),
        };
        Ok(Basic {
            cert,
            issuer,
            signer,
            status: self.status(r, this_update)?,
            this_update,
            next_update,
            produced_at: self.time(r.produced_at.as_deref(), DEFAULT_PRODUCED_AT).map_err(|k| ("produced_at", k))?,
            embed_signer: r.embed_signer.unwrap_or(true),
            responder_id: r.responder_id.unwrap_or(ResponderIdKind::Name),
            hash: r.hash,
        })
    }

    fn status(&self, r: &OcspSpec, this_update: OffsetDateTime) -> Result<Status, FieldError> {
        let status = r.status.unwrap_or(OcspCertStatus::Good);
        if status != OcspCertStatus::Revoked {
            let stray = [("reason", r.reason.is_some()), ("revocation_time", r.revocation_time.is_some())];
            if let Some((field, _)) = stray.into_iter().find(|(_, set)| *set) {
                let msg = format!("`{field}` needs `status = \"revoked\"`");
                return Err((field, ErrorKind::conflict(msg)));
            }
        }
        Ok(match status {
            OcspCertStatus::Good => Status::Good,
            OcspCertStatus::Unknown => Status::Unknown,
            OcspCertStatus::Revoked => {
                let time = match r.revocation_time.as_deref() {
                    Some(t) => self.time(Some(t), "").map_err(|k| ("revocation_time", k))?,
                    None => this_update,
                };
                Status::Revoked { reason: r.reason, time }
            }
        })
    }

    fn time(&self, value: Option<&str>, default: &str) -> Result<OffsetDateTime, ErrorKind> {
        let value = value.unwrap_or(default);
        when::resolve(value, self.now).map_err(|reason| ErrorKind::BadTime { value: value.to_owned(), reason })
    }
}

/// The fields set in `r` that only a signed response has, in the order they are reported.
fn basic_fields(r: &OcspSpec) -> Vec<&'static str> {
    let set = [
        ("status", r.status.is_some()),
        ("reason", r.reason.is_some()),
        ("revocation_time", r.revocation_time.is_some()),
        ("signer", r.signer.is_some()),
        ("issuer", r.issuer.is_some()),
        ("this_update", r.this_update.is_some()),
        ("next_update", r.next_update.is_some()),
        ("produced_at", r.produced_at.is_some()),
        ("response_status", r.response_status.is_some_and(|s| s != ResponseStatus::Successful)),
        ("response_bytes", r.response_bytes.is_some()),
        ("embed_signer", r.embed_signer.is_some()),
        ("responder_id", r.responder_id.is_some()),
        ("hash", r.hash.is_some()),
    ];
    set.into_iter().filter(|(_, on)| *on).map(|(f, _)| f).collect()
}

/// Ed25519 signs without a separate hash, so `hash` cannot be set for such a signer.
fn check_hash(hash: Option<HashAlg>, signer: &Node) -> Result<(), ErrorKind> {
    match hash {
        Some(_) if !signer.key_type.takes_hash() => Err(ErrorKind::IncompatibleKey {
            key_type: signer.key_type,
            reason: "`hash` cannot be set: the signer's key signs without a separate hash".into(),
        }),
        _ => Ok(()),
    }
}
