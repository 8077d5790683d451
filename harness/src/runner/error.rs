//! The runner's error: a scenario that could not be set up (scratch dir, PKI, server), a
//! cancel relay that could not listen, a divergence registry that could not be read. Same
//! shape as [`crate::server::ServerError`]: `context: cause` as text, the cause kept as a
//! `#[source]`.

use crate::server::{Cause, Joined, ServerError};

/// What the runner could not do (not an outcome: it becomes a scenario's error or a skip).
#[derive(Debug, thiserror::Error)]
#[error("{}", Joined(.context, .source.as_deref()))]
pub struct RunnerError {
    pub kind: RunnerErrorKind,
    /// What was being done; empty when the cause's text says it all.
    pub context: String,
    #[source]
    pub source: Option<Cause>,
}

/// The part of the run that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunnerErrorKind {
    /// A scratch directory or a socket on this machine.
    Io,
    /// Generating the scenario's PKI.
    Pki,
    /// The server layer (creating, configuring, restarting an instance).
    Server,
    /// Reading the divergence registry.
    Registry,
}

impl RunnerError {
    /// `context` failed because of `source` (an error, or a message as a `String`).
    pub fn with(kind: RunnerErrorKind, context: impl Into<String>, source: impl Into<Cause>) -> Self {
        RunnerError { kind, context: context.into(), source: Some(source.into()) }
    }
}

impl From<ServerError> for RunnerError {
    fn from(e: ServerError) -> Self {
        RunnerError::with(RunnerErrorKind::Server, "", e)
    }
}
