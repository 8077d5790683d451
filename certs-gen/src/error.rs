//! The crate's one error type: where in the spec something failed (entity or OCSP response,
//! field) plus a kind.
//!
//! Spec problems and generation problems share one type so the harness has a single thing to
//! map back to a TOML line: `Error::entity()` names the `[pki.<entity>]` table,
//! `Error::response()` the `[ocsp.<name>]` table, and `Error::field()` the key inside it (or a
//! top-level key such as `bundles`).

use std::fmt;
use std::path::PathBuf;

use crate::keys::KeyType;

/// A failure to validate a [`PkiSpec`](crate::PkiSpec) or to generate its files.
#[derive(Debug)]
pub struct Error(Box<Inner>);

/// Boxed so that `Result<_, Error>` stays one pointer wide on the happy path.
#[derive(Debug)]
struct Inner {
    entity: Option<String>,
    response: Option<String>,
    field: Option<String>,
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error(Box::new(Inner { entity: None, response: None, field: None, kind }))
    }

    pub(crate) fn at_response(mut self, name: &str) -> Self {
        self.0.response = Some(name.to_owned());
        self
    }

    /// The OCSP response (key of `[ocsp]`) the error is about, if any.
    pub fn response(&self) -> Option<&str> {
        self.0.response.as_deref()
    }

    pub(crate) fn at_entity(mut self, entity: &str) -> Self {
        self.0.entity = Some(entity.to_owned());
        self
    }

    pub(crate) fn at_field(mut self, field: impl Into<String>) -> Self {
        self.0.field = Some(field.into());
        self
    }

    /// The entity (key of `[pki]`) the error is about, if any.
    pub fn entity(&self) -> Option<&str> {
        self.0.entity.as_deref()
    }

    /// The field inside the entity (or the top-level `[pki]` key) the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failed to generate pki: ")?;
        let table = match (&self.0.response, &self.0.entity) {
            (Some(r), _) => Some(format!("OCSP response {r:?}")),
            (None, Some(e)) => Some(format!("entity {e:?}")),
            (None, None) => None,
        };
        match (table, &self.0.field) {
            (Some(t), Some(k)) => write!(f, "{t}, field {k:?}: ")?,
            (Some(t), None) => write!(f, "{t}: ")?,
            (None, Some(k)) => write!(f, "field {k:?}: ")?,
            (None, None) => {}
        }
        write!(f, "{}", self.0.kind)
    }
}

// The kind and its cause are part of this error's own message, so there is no `source()`:
// a chain would only repeat them.
impl std::error::Error for Error {}

/// Renders ` (hint: did you mean "x"?)` when a close name exists.
pub(crate) struct Hint<'a>(pub &'a Option<String>);

impl fmt::Display for Hint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, " (hint: did you mean {s:?}?)"),
            None => Ok(()),
        }
    }
}

/// Renders `entry "a+b": ` for errors about one entry of a list.
pub(crate) struct In<'a>(pub &'a Option<String>);

impl fmt::Display for In<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) => write!(f, "entry {m:?}: "),
            None => Ok(()),
        }
    }
}

/// The kinds of failure. New kinds may be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("invalid entity name {name:?}: {reason}")]
    InvalidEntityName { name: String, reason: String },
    #[error("entity name {name:?} is reserved ({reason})")]
    ReservedEntityName { name: String, reason: &'static str },
    #[error("entity {name:?} is declared more than once")]
    DuplicateEntity { name: String },
    #[error("unknown issuer {name:?}{}", Hint(hint))]
    UnknownIssuer { name: String, hint: Option<String> },
    #[error("issuer cycle: {}", cycle.join(" -> "))]
    IssuerCycle { cycle: Vec<String> },
    #[error("issuer {issuer:?} is not a CA (hint: set `ca = true` on {issuer:?})")]
    IssuerNotCa { issuer: String },
    #[error("issuer {issuer:?} has `cert = false`, so it cannot sign")]
    IssuerWithoutCert { issuer: String },
    #[error(
        "unknown key {name:?}: neither a key type ({}) nor an entity name{}",
        KeyType::names().join(", "),
        Hint(hint)
    )]
    UnknownKey { name: String, hint: Option<String> },
    #[error("key reuse cycle: {}", cycle.join(" -> "))]
    KeyCycle { cycle: Vec<String> },
    #[error("{reason} (the key is {key_type})")]
    IncompatibleKey { key_type: KeyType, reason: String },
    #[error("invalid subject alternative name {value:?}: {reason}")]
    BadSan { value: String, reason: String },
    #[error("invalid time {value:?}: {reason}")]
    BadTime { value: String, reason: String },
    #[error("invalid distinguished name {value:?}: {reason}")]
    BadDn { value: String, reason: String },
    #[error("invalid serial {value:?}: {reason}")]
    BadSerial { value: String, reason: String },
    #[error("serial {serial} is also used by {other:?}, issued by the same CA {issuer:?}")]
    DuplicateSerial { serial: String, other: String, issuer: String },
    #[error("invalid extended key usage {value:?}: {reason}")]
    BadExtendedKeyUsage { value: String, reason: String },
    /// `member` is the whole list entry (`"a+b"`) when the name is part of a combined output.
    #[error("{}unknown entity {name:?}{}", In(member), Hint(hint))]
    UnknownMember { member: Option<String>, name: String, hint: Option<String> },
    #[error("{}{name:?} is not a CA, so it has no CRL", In(member))]
    MemberNotCa { member: Option<String>, name: String },
    #[error("{}{name:?} has no certificate (`cert = false`)", In(member))]
    MemberWithoutCert { member: Option<String>, name: String },
    #[error("entry {member:?} is malformed: {reason}")]
    BadMember { member: String, reason: String },
    #[error("a self-signed certificate has no issuer whose CRL could list it")]
    RevokedRoot,
    #[error("{0}")]
    Conflict(String),
    /// The cause is part of the message (not a `source()`), because callers commonly print
    /// only the top-level error and "could not write x" alone does not say what to fix.
    #[error("could not {action} {}: {cause}", path.display())]
    Io { action: &'static str, path: PathBuf, cause: std::io::Error },
    #[error("openssl failed to {action}: {cause}")]
    Crypto { action: String, cause: Box<dyn std::error::Error + Send + Sync> },
}

impl ErrorKind {
    pub(crate) fn crypto(action: impl Into<String>, source: openssl::error::ErrorStack) -> Self {
        ErrorKind::Crypto { action: action.into(), cause: Box::new(source) }
    }

    pub(crate) fn conflict(msg: impl Into<String>) -> Self {
        ErrorKind::Conflict(msg.into())
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}
