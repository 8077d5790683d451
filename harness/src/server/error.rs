//! The server layer's one error type: what the backend was doing (context), a coarse kind, and
//! the cause it met (an io, tokio-postgres or container-engine error) kept as a `#[source]`.
//!
//! The text is the context followed by the cause's, exactly as the backends have always worded
//! it (skip reasons, `pgtls:` lines and failure details show it), so the cause is both in the
//! text and walkable through [`std::error::Error::source`].

use std::fmt;

/// A boxed cause: any error, or a message where no error value exists.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a backend met when it could not do what it was asked (not a server outcome: a server
/// that fails to start is a [`super::StartFailure`]).
#[derive(Debug, thiserror::Error)]
#[error("{}", Joined(.context, .source.as_deref()))]
pub struct ServerError {
    pub kind: ServerErrorKind,
    /// What was being done, e.g. `failed to prepare the container`; empty when the cause's
    /// text says it all.
    pub context: String,
    #[source]
    pub source: Option<Cause>,
}

/// The part of the server layer that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerErrorKind {
    /// A file, directory or process operation on this machine.
    Io,
    /// A helper program (initdb, pg_ctl, postgres, docker, tar) ran and reported failure.
    Command,
    /// The harness's superuser connection or the SQL it ran.
    Admin,
    /// The container engine (its API, testcontainers, a container's exec channel).
    Engine,
    /// A PostgreSQL build, image or account the backend needs is missing or unusable.
    Unavailable,
    /// A container's exec channel gave no answer in time (the command may still run).
    NoAnswer,
}

impl ServerError {
    /// An error with no cause beyond its context.
    pub fn new(kind: ServerErrorKind, context: impl Into<String>) -> Self {
        ServerError { kind, context: context.into(), source: None }
    }

    /// `context` failed because of `source` (an error, or a message as a `String`).
    pub fn with(kind: ServerErrorKind, context: impl Into<String>, source: impl Into<Cause>) -> Self {
        ServerError { kind, context: context.into(), source: Some(source.into()) }
    }

    /// The cause alone, its text unchanged.
    pub fn of(kind: ServerErrorKind, source: impl Into<Cause>) -> Self {
        ServerError::with(kind, "", source)
    }

    /// A local io failure, its text unchanged.
    pub fn io(source: std::io::Error) -> Self {
        ServerError::of(ServerErrorKind::Io, source)
    }

    /// This error as the cause of `context`, keeping its kind.
    pub fn context(self, context: impl Into<String>) -> Self {
        ServerError::with(self.kind, context, self)
    }
}

/// The runner and the CLI still speak `String` (setup, tests): `?` converts at that boundary.
impl From<ServerError> for String {
    fn from(e: ServerError) -> String {
        e.to_string()
    }
}

/// `context: cause`, or whichever of the two there is (the client layer's error reads the same).
pub(crate) struct Joined<'a>(pub &'a String, pub Option<&'a (dyn std::error::Error + Send + Sync + 'static)>);

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.is_empty(), self.1) {
            (_, None) => f.write_str(self.0),
            (true, Some(s)) => write!(f, "{s}"),
            (false, Some(s)) => write!(f, "{}: {s}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_context_then_cause_and_the_cause_is_kept() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = ServerError::io(io).context("failed to copy the template");
        assert_eq!(e.to_string(), "failed to copy the template: no such file");
        let inner = std::error::Error::source(&e).expect("a source");
        assert_eq!(inner.to_string(), "no such file");
        assert!(std::error::Error::source(inner).is_some(), "the io error itself");
        assert_eq!(ServerError::new(ServerErrorKind::Command, "initdb failed").to_string(), "initdb failed");
    }
}
