//! The client layer's error: what a client could not do to make an attempt (run psql or an
//! adapter, write its service file, read its answer), as opposed to the attempt's outcome.
//!
//! Same shape as [`crate::server::ServerError`]: the text is `context: cause` as the clients
//! have always worded it (it becomes a harness failure's message), and the cause is kept as a
//! `#[source]`.

use crate::server::{Cause, Joined, ServerError};

/// A client could not make or read an attempt.
#[derive(Debug, thiserror::Error)]
#[error("{}", Joined(.context, .source.as_deref()))]
pub struct ClientError {
    pub kind: ClientErrorKind,
    /// What was being done, e.g. `failed to run adapter `asyncpg``; empty when the cause's text
    /// says it all.
    pub context: String,
    #[source]
    pub source: Option<Cause>,
}

/// The part of an attempt that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientErrorKind {
    /// Starting, feeding or waiting for a client program, or a file it needs.
    Io,
    /// A client program ran but its output is not what the harness reads (a version, a
    /// session row, an adapter's JSON answer).
    Answer,
    /// A client program gave no answer in time, or went away.
    NoAnswer,
    /// A connection parameter the client cannot pass on (a newline in a service-file value).
    Parameter,
    /// An adapter's manifest is missing or invalid.
    Manifest,
    /// Where the client runs elsewhere, the server layer's runner failed.
    Remote,
}

impl ClientError {
    /// An error with no cause beyond its context.
    pub fn new(kind: ClientErrorKind, context: impl Into<String>) -> Self {
        ClientError { kind, context: context.into(), source: None }
    }

    /// `context` failed because of `source` (an error, or a message as a `String`).
    pub fn with(kind: ClientErrorKind, context: impl Into<String>, source: impl Into<Cause>) -> Self {
        ClientError { kind, context: context.into(), source: Some(source.into()) }
    }
}

/// A remote run's failure, its text unchanged.
impl From<ServerError> for ClientError {
    fn from(e: ServerError) -> Self {
        ClientError::with(ClientErrorKind::Remote, "", e)
    }
}

/// Setup and the reports speak `String` (a harness failure's message): `?` converts there.
impl From<ClientError> for String {
    fn from(e: ClientError) -> String {
        e.to_string()
    }
}
