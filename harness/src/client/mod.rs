//! Clients: implementations of libpq's connection semantics the harness drives.
//!
//! Each client takes the same resolved libpq keywords ([`ConnectRequest`]) and reports what it
//! saw as structured evidence ([`ClientReport`]); `crate::classify` turns that, together with
//! the server log, into one [`crate::outcome::Outcome`] shape whatever the client. A client declares
//! which keywords it supports; a case using an unsupported one is skipped for that client with
//! the reason, never silently passed. Adding a client means one new file implementing
//! [`Client`] plus one line in [`BUILT_IN`], the table `crate::setup`, the CLI's `--client` and
//! error messages all use; adapters ([`adapter`]) add clients without code.

pub mod adapter;
mod error;
pub mod libpq;
pub mod rust;

pub use error::{ClientError, ClientErrorKind};

use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;

use crate::outcome::{Basis, ClientCert, Connected, FailureClass, OcspVerdict};

/// A client built into the harness.
pub struct BuiltIn {
    /// The name scenarios, reports and `--client` use.
    pub name: &'static str,
    pub about: &'static str,
    /// Makes the client for a target.
    pub make: fn(&MakeContext) -> Result<std::sync::Arc<dyn Client>, String>,
}

/// What a target offers the clients made for it.
pub struct MakeContext<'a> {
    /// The build under test's libpq (its psql, as the backend runs it).
    pub libpq: &'a dyn Fn() -> Result<libpq::LibpqClient, String>,
}

/// The built-in clients, in the default order (libpq first: it is the reference client).
pub const BUILT_IN: &[BuiltIn] = &[
    BuiltIn {
        name: "libpq",
        about: "the build under test's libpq, through its psql (the reference client)",
        make: |cx| Ok(std::sync::Arc::new((cx.libpq)()?)),
    },
    BuiltIn {
        name: "rust",
        about: "tokio-postgres with OpenSSL, driven with libpq's semantics",
        make: |_| Ok(std::sync::Arc::new(rust::RustClient)),
    },
];

/// Every client name this machine can run: the built-in ones, then the adapters whose program
/// is installed, then those present but not installed.
pub fn names() -> Vec<String> {
    let (installed, present) = adapter::installed();
    BUILT_IN.iter().map(|b| b.name.to_owned()).chain(installed).chain(present).collect()
}

/// `Ok` for a client this machine can run ([`names`]), else why not, with a did-you-mean hint
/// or the list.
pub fn check_name(name: &str) -> Result<(), String> {
    if names().iter().any(|n| n == name) {
        return Ok(());
    }
    Err(format!("unknown client `{name}` (hint: {})", unknown_name_hint(name)))
}

/// The hint for a client name this machine does not have: the closest name, or the list.
pub(crate) fn unknown_name_hint(name: &str) -> String {
    let known = names();
    let hint = crate::util::did_you_mean(name, known.iter().map(String::as_str))
        .unwrap_or_else(|| format!("choose from {}", known.join(", ")));
    format!("{hint}; adapters: docs/client-adapters.md")
}

/// One connection attempt's parameters: libpq keywords with files resolved to paths.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// Keyword/value pairs in the order written; `host`, `hostaddr` and `port` always present.
    pub params: Vec<(String, String)>,
    /// Keywords whose values must not reach a command line or a report.
    pub secrets: Vec<String>,
    pub timeout: Duration,
    /// A scratch directory private to this attempt.
    pub scratch: PathBuf,
    /// The case's query, run after the session query on the same connection.
    pub query: Option<String>,
    /// Environment variables the client runs with.
    pub env: Vec<(String, String)>,
    /// The case's cancel action: once connected, run [`CANCEL_QUERY`] and cancel it through
    /// the client's cancel API, reporting [`crate::outcome::CancelOutcome`].
    pub cancel: bool,
}

impl ConnectRequest {
    pub fn get(&self, keyword: &str) -> Option<&str> {
        self.params.iter().rev().find(|(k, _)| k == keyword).map(|(_, v)| v.as_str())
    }
}

/// Whether a client can honour a keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    Yes,
    No(String),
}

/// A client implementation.
pub trait Client: Send + Sync {
    /// Short stable name used in scenario files, snapshots and the divergence registry.
    fn name(&self) -> &str;
    /// Whether this client supports `keyword` set to `value`.
    fn supports(&self, keyword: &str, value: &str) -> Support;
    /// The client's version (and its TLS library's, where it has its own), for reports.
    fn version(&self) -> Option<String> {
        None
    }
    /// Whether the client runs a case's `query` and reports its result.
    fn runs_queries(&self) -> bool {
        false
    }
    /// Whether the client honours environment variable `name`.
    fn supports_env(&self, name: &str) -> Support {
        Support::No(format!("client {} takes no environment variables (`{name}`)", self.name()))
    }
    /// Whether the client can run a case's cancel action (send a cancel request through its
    /// cancel API while a query runs).
    fn cancels(&self) -> Support {
        Support::No(format!("client {} has no cancel action", self.name()))
    }
    fn connect<'a>(&'a self, req: &'a ConnectRequest) -> BoxFuture<'a, ClientReport>;
}

/// What a client saw.
#[derive(Debug, Clone)]
pub enum ClientReport {
    Connected(Connected),
    Failed(ClientFailure),
    /// Failed, and all the client can show is libpq's message as psql printed it (its
    /// stderr); `crate::classify::psql_evidence` reads the evidence out of it.
    PsqlFailed(String),
}

/// Evidence of a failed attempt, as structured as the client can make it. Adapters send it
/// as JSON with these field names (docs/client-adapters.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientFailure {
    /// A class the client decided itself, before or without the peer (bad parameters, an
    /// unusable key, a host name mismatch under libpq's rules, TLS refused by the server…).
    pub local: Option<FailureClass>,
    /// The client rejected the server's certificate; `verify_code` says why when known.
    pub server_cert_rejected: bool,
    pub verify_code: Option<i32>,
    /// The client rejected the OCSP staple it required (`sslocspstapling=1`), for this reason.
    pub ocsp: Option<OcspVerdict>,
    /// A TLS alert the client received from the server.
    pub alert_received: Option<u8>,
    /// SQLSTATE and routine of an error the server sent.
    pub sqlstate: Option<String>,
    pub routine: Option<String>,
    /// Whether the last attempt ran over TLS, when the client knows.
    pub tls: Option<bool>,
    pub timed_out: bool,
    /// The connection was reset or closed without a TLS alert or server error: the server
    /// log may know why.
    pub reset: bool,
    /// How the client arrived at the field that decides, when that is not the field's own
    /// structure: `message-wording` when it matched a message's text, `client-check` for a
    /// class it decided from an error type. Absent: the field is a code the client was given.
    pub basis: Option<Basis>,
    /// The raw message; it decides nothing unless `basis` says `message-wording`.
    pub message: String,
}

/// The query a case's cancel action cancels: long enough that only a cancel ends it within
/// an attempt's timeout.
pub const CANCEL_QUERY: &str = "SELECT pg_sleep(60)";

/// How long a client waits after sending [`CANCEL_QUERY`] before the first cancel request, and
/// between further ones while the query keeps running (a cancel that reaches a backend before
/// the query started is lost).
pub const CANCEL_INTERVAL: Duration = Duration::from_millis(150);

/// Most cancel requests a client sends before it gives up on the query.
pub const MAX_CANCEL_REQUESTS: u32 = 20;

impl ClientFailure {
    /// The harness could not run the client or read its answer: `unclassified`, decided by
    /// the harness.
    pub fn harness(message: String) -> ClientFailure {
        ClientFailure {
            local: Some(FailureClass::Unclassified),
            basis: Some(Basis::Harness),
            message,
            ..ClientFailure::default()
        }
    }
}

/// The query every client runs after connecting, so all report what the *server* saw.
/// `row_to_json` keeps it independent of `pg_stat_ssl`'s column set, which changed in 12/14.
pub const SESSION_QUERY: &str = "SELECT json_build_object('stat', row_to_json(s), 'user', current_user)::text \
     FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()";

#[derive(Deserialize)]
struct SessionRow {
    stat: SessionStat,
    user: String,
}

#[derive(Deserialize)]
struct SessionStat {
    ssl: bool,
    version: Option<String>,
    cipher: Option<String>,
    client_dn: Option<String>,
    /// The pre-12 name of `client_dn`.
    clientdn: Option<String>,
    client_serial: Option<serde_json::Value>,
    issuer_dn: Option<String>,
}

/// Parses the JSON [`SESSION_QUERY`] returns.
pub fn parse_session(json: &str) -> Result<Connected, ClientError> {
    let row: SessionRow = serde_json::from_str(json.trim())
        .map_err(|e| ClientError::with(ClientErrorKind::Answer, format!("unexpected session row `{json}`"), e))?;
    let s = row.stat;
    let dn = s.client_dn.or(s.clientdn).filter(|d| !d.is_empty());
    let client_cert = dn.map(|dn| ClientCert {
        dn,
        serial: s.client_serial.map(|v| v.to_string().trim_matches('"').to_owned()).unwrap_or_default(),
        issuer_dn: s.issuer_dn.unwrap_or_default(),
    });
    Ok(Connected {
        ssl: s.ssl,
        protocol: s.version,
        cipher: s.cipher,
        client_cert,
        user: row.user,
        query: None,
        cancel: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_rows_parse_across_versions() {
        let pg15 = r#"{"stat" : {"pid":1,"ssl":true,"version":"TLSv1.3","cipher":"TLS_AES_256_GCM_SHA384","bits":256,"client_dn":"/CN=alice","client_serial":4096,"issuer_dn":"/CN=ca"}, "user" : "alice"}"#;
        let c = parse_session(pg15).unwrap();
        assert!(c.ssl);
        assert_eq!(c.client_cert.unwrap().serial, "4096");
        let plain = r#"{"stat" : {"pid":1,"ssl":false,"version":null,"cipher":null,"bits":null,"client_dn":null,"client_serial":null,"issuer_dn":null}, "user" : "bob"}"#;
        let c = parse_session(plain).unwrap();
        assert!(!c.ssl && c.client_cert.is_none() && c.user == "bob");
    }
}
