//! The Rust client: tokio-postgres with libpq's `sslmode` semantics on top.
//!
//! tokio-postgres knows only disable/prefer/require and accepts no root, certificate, key or
//! CRL files (it leaves verification to the TLS connector). This module implements libpq's
//! behaviour around it, reusable on its own: all six `sslmode`s with libpq's fallbacks
//! (`allow` retries over TLS after a server error, `prefer` retries in plaintext after a TLS
//! failure or a server error over TLS), root/cert/key/passphrase/CRL/CRL-dir/SNI/protocol
//! bounds/`sslcertmode`/direct negotiation/key log, `host` vs `hostaddr` naming, OCSP stapling
//! as our libpq patch requires it (`sslocspstapling`, [`ocsp`]), and a timeout around the
//! whole connect. A case's cancel action goes through tokio-postgres's `CancelToken`, which
//! negotiates TLS for the cancel connection with the connection's mode and connector.

mod files;
mod names;
mod ocsp;
mod settings;
mod tls;

use std::error::Error as _;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use tokio_postgres::config::{ChannelBinding, SslMode, SslNegotiation};

use self::settings::Settings;
use self::tls::{AlertReceived, LibpqTls, TlsFailure, TlsTrace};
use super::{
    CANCEL_INTERVAL, CANCEL_QUERY, Client, ClientFailure, ClientReport, ConnectRequest, MAX_CANCEL_REQUESTS,
    SESSION_QUERY, Support, parse_session,
};
use crate::outcome::{Basis, CancelOutcome, Connected, FailureClass, QueryOutcome};

pub use self::names::{NameCheck, check as check_host_name};
pub use self::ocsp::{Peer as OcspPeer, judge_response as judge_ocsp_response};

/// tokio-postgres + OpenSSL, driven with libpq semantics.
#[derive(Debug, Default)]
pub struct RustClient;

impl Client for RustClient {
    fn name(&self) -> &str {
        "rust"
    }

    /// tokio-postgres's series (from Cargo.toml) and the OpenSSL it runs with.
    fn version(&self) -> Option<String> {
        Some(format!("tokio-postgres 0.7, {}", openssl::version::version()))
    }

    fn supports(&self, keyword: &str, value: &str) -> Support {
        match keyword {
            "require_auth" => {
                Support::No("tokio-postgres offers no way to restrict the authentication method (require_auth)".into())
            }
            "gssencmode" if value != "disable" && value != "prefer" => {
                Support::No("tokio-postgres has no GSSAPI encryption".into())
            }
            "gssencmode" => Support::Yes,
            k if settings::SUPPORTED.contains(&k) => Support::Yes,
            k => Support::No(format!("the Rust client does not implement libpq keyword `{k}`")),
        }
    }

    fn runs_queries(&self) -> bool {
        true
    }

    fn cancels(&self) -> Support {
        Support::Yes
    }

    /// OpenSSL reads the first two when it loads the system roots (`sslrootcert=system`); the
    /// client answers those reads from the case's environment instead of the process's.
    fn supports_env(&self, name: &str) -> Support {
        match name {
            "SSL_CERT_FILE" | "SSL_CERT_DIR" => Support::Yes,
            // libpq's environment default for `sslocspstapling` (our stapling patch).
            "PGSSLOCSPSTAPLING" => Support::Yes,
            other => Support::No(format!("the Rust client does not read environment variable `{other}`")),
        }
    }

    fn connect<'a>(&'a self, req: &'a ConnectRequest) -> BoxFuture<'a, ClientReport> {
        Box::pin(async move {
            let s = match settings::parse(req) {
                Ok(s) => s,
                Err(message) => return failed(FailureClass::ClientConfigInvalid, message),
            };
            match tokio::time::timeout(req.timeout, connect(&s)).await {
                Ok(report) => report,
                Err(_) => ClientReport::Failed(ClientFailure {
                    timed_out: true,
                    message: format!("no answer within {:?}", req.timeout),
                    ..ClientFailure::default()
                }),
            }
        })
    }
}

/// Runs a case query with the simple protocol, so every value arrives as text, and prints it
/// as `psql -At` does.
async fn run_query(client: &tokio_postgres::Client, query: &str) -> QueryOutcome {
    use tokio_postgres::SimpleQueryMessage;
    match client.simple_query(query).await {
        Ok(messages) => {
            let rows: Vec<String> = messages
                .iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(r) => {
                        Some((0..r.len()).map(|i| r.get(i).unwrap_or("")).collect::<Vec<_>>().join("|"))
                    }
                    _ => None,
                })
                .collect();
            QueryOutcome::Rows(rows.join("\n"))
        }
        Err(e) => QueryOutcome::Error {
            sqlstate: e.code().map(|c| c.code().to_owned()),
            message: e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_owned()),
        },
    }
}

/// The cancel action: [`CANCEL_QUERY`], and a cancel request through the connection's
/// `CancelToken` every [`CANCEL_INTERVAL`] while it runs (at most [`MAX_CANCEL_REQUESTS`]).
async fn run_cancel(client: &tokio_postgres::Client, s: &Settings) -> CancelOutcome {
    let token = client.cancel_token();
    let query = client.simple_query(CANCEL_QUERY);
    tokio::pin!(query);
    let mut out = CancelOutcome::default();
    loop {
        tokio::select! {
            r = &mut query => {
                out.sqlstate = r.err().and_then(|e| e.code().map(|c| c.code().to_owned()));
                return out;
            }
            () = tokio::time::sleep(CANCEL_INTERVAL) => {
                if out.requests == MAX_CANCEL_REQUESTS {
                    out.error.get_or_insert_with(|| format!("the query still ran after {MAX_CANCEL_REQUESTS} cancel requests"));
                    return out;
                }
                out.requests += 1;
                let tls = LibpqTls { settings: Arc::new(s.clone()), trace: Arc::new(Mutex::new(TlsTrace::default())) };
                if let Err(e) = token.cancel_query(tls).await {
                    out.error = Some(e.to_string());
                }
            }
        }
    }
}

fn failed(class: FailureClass, message: String) -> ClientReport {
    ClientReport::Failed(ClientFailure { local: Some(class), message, ..ClientFailure::default() })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Prefer,
    Require,
}

/// One or two attempts, as libpq makes them for the `sslmode`.
async fn connect(s: &Settings) -> ClientReport {
    // libpq (fe-connect.c, "Don't request SSL or GSSAPI over Unix sockets"): a host that is a
    // socket directory never negotiates TLS, whatever sslmode says.
    if s.hostaddr.is_none() && s.host.starts_with('/') {
        return attempt(s, Mode::Plain).await.report;
    }
    match s.sslmode {
        settings::SslMode::Disable => attempt(s, Mode::Plain).await.report,
        settings::SslMode::Allow => {
            let first = attempt(s, Mode::Plain).await;
            if first.server_error { attempt(s, Mode::Require).await.report } else { first.report }
        }
        settings::SslMode::Prefer => {
            let first = attempt(s, Mode::Prefer).await;
            // libpq falls back to plaintext when the TLS phase failed or the server rejected
            // the TLS connection with an error.
            let retry = matches!(first.report, ClientReport::Failed(_))
                && (first.tls_failed || (first.server_error && first.tls));
            if retry { attempt(s, Mode::Plain).await.report } else { first.report }
        }
        settings::SslMode::Require | settings::SslMode::VerifyCa | settings::SslMode::VerifyFull => {
            attempt(s, Mode::Require).await.report
        }
    }
}

struct Attempt {
    report: ClientReport,
    /// The server sent an error during startup.
    server_error: bool,
    /// The TLS phase started and failed.
    tls_failed: bool,
    /// The attempt ran over TLS.
    tls: bool,
}

async fn attempt(s: &Settings, mode: Mode) -> Attempt {
    let trace = Arc::new(Mutex::new(TlsTrace::default()));
    let tls = LibpqTls { settings: Arc::new(s.clone()), trace: trace.clone() };
    let result = config(s, mode).connect(tls).await;
    let (started, established, requested, sent) = {
        let t = trace.lock().unwrap_or_else(|p| p.into_inner());
        (t.started, t.established, t.cert_requested, t.cert_sent)
    };
    match result {
        Ok((client, conn)) if s.certmode == settings::CertMode::Require && !sent => {
            // libpq (fe-connect.c, at AuthenticationOk): 17+ words the first case this way,
            // 16 reports both with the second message.
            drop((client, conn));
            let message = if requested {
                "server accepted connection without a valid SSL certificate"
            } else {
                "server did not request an SSL certificate"
            };
            Attempt {
                report: failed(FailureClass::ClientCertNotRequested, message.into()),
                server_error: false,
                tls_failed: false,
                tls: established,
            }
        }
        Ok((client, conn)) => {
            let driver = tokio::spawn(conn);
            let row = client.query_one(SESSION_QUERY, &[]).await;
            let query = match (&row, &s.query) {
                (Ok(_), Some(q)) => Some(run_query(&client, q).await),
                _ => None,
            };
            let cancel = match (&row, s.cancel) {
                (Ok(_), true) => Some(Box::new(run_cancel(&client, s).await)),
                _ => None,
            };
            drop(client);
            let _ = driver.await;
            let report = match row.map(|r| r.get::<_, String>(0)) {
                Ok(json) => match parse_session(&json) {
                    Ok(c) => ClientReport::Connected(Connected { query, cancel, ..c }),
                    Err(e) => failed(FailureClass::Unclassified, e.to_string()),
                },
                Err(e) => ClientReport::Failed(evidence(&e, s, mode, started, established)),
            };
            Attempt { report, server_error: false, tls_failed: false, tls: established }
        }
        Err(e) => {
            let f = evidence(&e, s, mode, started, established);
            let server_error = e.as_db_error().is_some();
            Attempt {
                report: ClientReport::Failed(f),
                server_error,
                tls_failed: started && !established,
                tls: established,
            }
        }
    }
}

fn config(s: &Settings, mode: Mode) -> tokio_postgres::Config {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&s.host).port(s.port).user(&s.user).dbname(&s.dbname);
    if let Some(addr) = s.hostaddr {
        cfg.hostaddr(addr);
    }
    if let Some(pw) = &s.password {
        cfg.password(pw);
    }
    if let Some(app) = &s.application_name {
        cfg.application_name(app);
    }
    cfg.ssl_mode(match mode {
        Mode::Plain => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require => SslMode::Require,
    });
    cfg.ssl_negotiation(if s.direct { SslNegotiation::Direct } else { SslNegotiation::Postgres });
    cfg.channel_binding(match s.channel_binding {
        settings::ChannelBindingMode::Disable => ChannelBinding::Disable,
        settings::ChannelBindingMode::Require => ChannelBinding::Require,
        settings::ChannelBindingMode::Prefer => ChannelBinding::Prefer,
    });
    cfg
}

/// Structured evidence from a tokio-postgres error.
fn evidence(e: &tokio_postgres::Error, s: &Settings, mode: Mode, started: bool, established: bool) -> ClientFailure {
    let mut f = ClientFailure { tls: Some(established), message: e.to_string(), ..ClientFailure::default() };
    if let Some(db) = e.as_db_error() {
        f.sqlstate = Some(db.code().code().to_owned());
        f.routine = db.routine().map(str::to_owned);
        f.message = format!("{}:  {}", db.severity(), db.message());
        return f;
    }
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(t) = err.downcast_ref::<TlsFailure>() {
            apply_tls_failure(&mut f, t);
            return f;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(a) = io.get_ref().and_then(|i| i.downcast_ref::<AlertReceived>()) {
                f.alert_received = Some(a.alert);
                f.message = a.to_string();
            } else {
                use std::io::ErrorKind::*;
                f.reset = matches!(io.kind(), ConnectionReset | BrokenPipe | UnexpectedEof | ConnectionAborted);
                f.message = format!("{e}: {io}");
            }
            return f;
        }
        source = err.source();
    }
    // tokio-postgres returns a bare TLS error, without calling the connector, when the server
    // answers 'N' to SSLRequest under `require` (connect_tls.rs).
    if mode == Mode::Require && !started {
        f.local = Some(FailureClass::SslNotSupported);
        f.message = "server does not support SSL, but SSL was required".into();
    }
    // Its error kinds are only visible through their fixed Display strings.
    let source = e.source().map(|x| x.to_string()).unwrap_or_default();
    if f.message == "invalid configuration" && source == "password missing" {
        // The server asked for a password and none was given: libpq's
        // "fe_sendauth: no password supplied".
        f.local = Some(FailureClass::PasswordAuthFailed);
        f.basis = Some(Basis::MessageWording);
        f.message = format!("{e}: {source}");
    } else if f.message == "authentication error" && s.channel_binding == settings::ChannelBindingMode::Require {
        f.local = Some(FailureClass::ChannelBindingFailed);
        f.basis = Some(Basis::MessageWording);
        f.message = format!("{e}: {}", e.source().map(|x| x.to_string()).unwrap_or_default());
    } else if let Some(src) = e.source() {
        f.message = format!("{e}: {src}");
    }
    f
}

fn apply_tls_failure(f: &mut ClientFailure, t: &TlsFailure) {
    f.message = t.to_string();
    match t {
        TlsFailure::Local(l) => f.local = Some(l.class),
        TlsFailure::Ocsp { verdict, .. } => f.ocsp = Some(*verdict),
        TlsFailure::Handshake { verify_code, alert, protocol, .. } => {
            f.verify_code = *verify_code;
            f.server_cert_rejected = verify_code.is_some();
            f.alert_received = if verify_code.is_some() { None } else { *alert };
            if *protocol && alert.is_none() {
                f.local = Some(FailureClass::ProtocolVersionMismatch);
            }
        }
    }
}
