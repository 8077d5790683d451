//! Classification: a client's evidence and the server log in, a [`Failure`] with one class and
//! its [`Basis`] out. Every rule that decides a class lives below this module.
//!
//! - [`libpq_messages`]: psql's stderr read into evidence (libpq prints only message text);
//! - [`evidence`]: what the server log says about one attempt;
//! - [`tls`]: TLS alerts and OpenSSL verify codes and the classes they stand for;
//! - here: the evidence libpq does not give (did its last try use TLS; did the server refuse
//!   direct TLS), then the rules below. pg_hba is evaluated by `crate::hba`, which the server
//!   uses too.
//!
//! The rules, in order (first match wins):
//! 1. the attempt timed out → `timeout`;
//! 2. the client rejected the OCSP staple it required → the class of its verdict; the client
//!    decided locally (parameters, key, host name, TLS refused) → that class;
//! 3. the client rejected the server certificate → class from its verify code, else from the
//!    alert it sent as the server logged it, else `server-cert-rejected`;
//! 4. the client received a TLS alert → class from the alert (the server only verifies client
//!    certificates, so certificate alerts are about the client's certificate);
//! 5. the server sent (or logged) an error → class from SQLSTATE, routine and the pg_hba line
//!    the connection matched;
//! 6. the server logged a rejected TLS accept without the client seeing an alert →
//!    `client-cert-rejected`;
//! 7. otherwise `connection-failed` when nothing answered, else `unclassified`.
//!
//! Each rule sets the failure's basis: the signal it read (a verify code, an alert number, a
//! SQLSTATE, …), or, where the client arrived at its evidence by matching text
//! ([`ClientFailure::basis`]), `message-wording`.

pub mod evidence;
pub mod libpq_messages;
pub mod tls;

use std::net::IpAddr;

pub use self::evidence::ServerEvidence;
pub use self::libpq_messages::evidence as psql_evidence;
use self::tls::{class_of_server_alert, class_of_server_cert_alert, class_of_server_verify_code};
use crate::client::{ClientFailure, ConnectRequest};
use crate::hba::{self, HbaMatch, HbaQuery};
use crate::outcome::{Basis, Failure, FailureClass, Side};
use crate::scenario::Role;

/// What the classifier needs to know about the connection's pg_hba context.
pub struct HbaContext<'a> {
    pub lines: &'a [String],
    pub roles: &'a [Role],
    pub user: &'a str,
    pub database: &'a str,
    /// `None` for a Unix-socket connection.
    pub addr: Option<IpAddr>,
}

/// Classifies one failed attempt of `req`: completes the client's evidence with what only the
/// request and the server log tell ([`infer_tls`], [`direct_tls_refused`]), then applies the
/// rules ([`classify`]).
pub fn classify_attempt(
    mut f: ClientFailure,
    req: &ConnectRequest,
    ev: &ServerEvidence,
    server_ssl: bool,
    hba: &HbaContext,
) -> Failure {
    if f.tls.is_none() {
        f.tls = Some(infer_tls(req, ev, server_ssl));
    }
    if direct_tls_refused(req, &f, ev) {
        f.local = Some(FailureClass::SslNotSupported);
        f.basis = Some(Basis::ServerLog);
    }
    classify(&f, ev, hba)
}

/// Classifies one failed attempt.
pub fn classify(f: &ClientFailure, ev: &ServerEvidence, hba: &HbaContext) -> Failure {
    // The server's TLS accept line is only certain to be in the window when it was waited
    // for: when the client rejected the server certificate without saying why.
    let uses_accept_line = f.local.is_none() && ((f.server_cert_rejected && f.verify_code.is_none()) || f.reset);
    let detail = detail(f, ev, uses_accept_line);
    // The basis of a rule that reads the client's evidence: what the client says it rests on,
    // else the field's own.
    let told = |field: Basis| f.basis.unwrap_or(field);
    let mut out = Failure {
        class: FailureClass::Unclassified,
        side: Side::Client,
        sqlstate: f.sqlstate.clone().or_else(|| ev.fatal.as_ref().and_then(|e| e.sqlstate.clone())),
        alert: None,
        verify_code: f.verify_code,
        ocsp: None,
        basis: Basis::ServerLog,
        detail,
    };
    if f.timed_out {
        out.class = FailureClass::Timeout;
        out.side = Side::Harness;
        out.basis = told(Basis::Harness);
        return out;
    }
    // The verdict is the client's own (its OCSP status callback failed the handshake), so
    // nothing the server logged about the aborted handshake can change it.
    if let Some(verdict) = f.ocsp {
        out.class = verdict.class();
        out.ocsp = Some(verdict);
        out.sqlstate = None;
        out.basis = told(Basis::OcspVerdict);
        return out;
    }
    if let Some(class) = f.local {
        out.class = class;
        out.sqlstate = None;
        out.basis = told(Basis::ClientCheck);
        return out;
    }
    if f.server_cert_rejected || f.verify_code.is_some() {
        out.sqlstate = None;
        // The logged alert is only certain to be in the window when it was waited for.
        out.alert = if f.verify_code.is_none() { ev.alert_received } else { None };
        (out.class, out.basis) = match (f.verify_code, ev.alert_received) {
            (Some(code), _) => (class_of_server_verify_code(code), told(Basis::VerifyCode)),
            // The server logs the alert it received only as OpenSSL's reason text.
            (None, Some(alert)) => (class_of_server_cert_alert(alert), Basis::MessageWording),
            (None, None) => (FailureClass::ServerCertRejected, told(Basis::ClientCheck)),
        };
        return out;
    }
    if let Some(alert) = f.alert_received {
        out.class = class_of_server_alert(alert);
        out.alert = Some(alert);
        out.side = Side::Server;
        out.sqlstate = None;
        out.basis = told(Basis::TlsAlert);
        return out;
    }
    let routine = f.routine.clone().or_else(|| ev.fatal.as_ref().and_then(|e| e.routine.clone()));
    if let Some(sqlstate) = out.sqlstate.clone() {
        out.side = Side::Server;
        (out.class, out.basis) = classify_server_error(&sqlstate, routine.as_deref(), f.tls, hba);
        return out;
    }
    if ev.tls_accept_failed {
        out.side = Side::Server;
        out.class = FailureClass::ClientCertRejected;
        return out;
    }
    out.class = if ev.backends == 0 { FailureClass::ConnectionFailed } else { FailureClass::Unclassified };
    out
}

/// Classifies an error the server reported, by SQLSTATE, the routine that raised it, and the
/// pg_hba line the connection matched.
pub fn classify_server_error(
    sqlstate: &str,
    routine: Option<&str>,
    tls: Option<bool>,
    hba: &HbaContext,
) -> (FailureClass, Basis) {
    let class = match sqlstate {
        // auth.c auth_failed(): ERRCODE_INVALID_PASSWORD for password, md5 and scram methods.
        "28P01" => FailureClass::PasswordAuthFailed,
        "28000" => return classify_28000(routine, tls, hba),
        "3D000" => FailureClass::DatabaseMissing,
        // auth.c ClientAuthentication(): "client certificates can only be checked if a root
        // certificate store is available" is ERRCODE_CONFIG_FILE_ERROR.
        "F0000" => FailureClass::ServerConfigError,
        "08P01" => FailureClass::ConnectionFailed,
        _ => FailureClass::Unclassified,
    };
    (class, Basis::Sqlstate)
}

fn classify_28000(routine: Option<&str>, tls: Option<bool>, hba: &HbaContext) -> (FailureClass, Basis) {
    // miscinit.c InitializeSessionUserId(): role "x" does not exist.
    if routine == Some("InitializeSessionUserId") {
        return (FailureClass::RoleMissing, Basis::Sqlstate);
    }
    let tls = tls.unwrap_or(true);
    let matched = hba::evaluate(hba.lines, &query(hba, tls), hba.roles);
    let class = match (routine, matched) {
        // auth_failed() is reached after a line matched and its method ran.
        (Some("auth_failed"), HbaMatch::Line(l)) if l.method == "reject" => FailureClass::HbaRejected,
        (Some("auth_failed"), HbaMatch::Line(l)) if l.checks_cert_name() => FailureClass::CertAuthFailed,
        // The routine alone: some other method failed.
        (Some("auth_failed"), _) => return (FailureClass::AuthFailed, Basis::Sqlstate),
        // ClientAuthentication() raises the rest itself: no line, a reject line, or a line
        // that needs a certificate the client did not present.
        (_, HbaMatch::Line(l)) if l.method == "reject" => FailureClass::HbaRejected,
        (_, HbaMatch::Line(l)) if l.requires_cert() => FailureClass::ClientCertRequired,
        (_, HbaMatch::NoMatch) if !tls && would_match_over_tls(hba) => FailureClass::SslRequiredByServer,
        (_, HbaMatch::NoMatch) => FailureClass::HbaRejected,
        _ => FailureClass::Unclassified,
    };
    (class, Basis::HbaEvaluation)
}

fn query<'a>(hba: &'a HbaContext, tls: bool) -> HbaQuery<'a> {
    HbaQuery { ssl: tls, database: hba.database, user: hba.user, addr: hba.addr }
}

fn would_match_over_tls(hba: &HbaContext) -> bool {
    matches!(hba::evaluate(hba.lines, &query(hba, true), hba.roles), HbaMatch::Line(l) if l.method != "reject")
}

/// Whether a client that does not say (libpq) made its last attempt over TLS: from its
/// `sslmode`, how many backends the server started (one per attempt), and whether the server
/// has TLS on. libpq's fallbacks: `allow` retries over TLS, `prefer` retries in plaintext.
fn infer_tls(req: &ConnectRequest, ev: &ServerEvidence, server_ssl: bool) -> bool {
    if req.get("sslnegotiation") == Some("direct") {
        return true;
    }
    let default = if req.get("sslrootcert") == Some("system") { "verify-full" } else { "prefer" };
    match req.get("sslmode").unwrap_or(default) {
        "disable" => false,
        "allow" => ev.backends >= 2,
        "prefer" => ev.backends < 2 && server_ssl,
        _ => true,
    }
}

/// With `sslnegotiation=direct` the server must answer the ClientHello with TLS. A backend
/// that took the connection and closed it without an alert, an error or a failed TLS accept
/// refused TLS (ssl=off on 17+, or a server before 17 reading the ClientHello as a startup
/// packet), whatever the client made of the closed socket (EOF or reset).
fn direct_tls_refused(req: &ConnectRequest, f: &ClientFailure, ev: &ServerEvidence) -> bool {
    req.get("sslnegotiation") == Some("direct")
        && ev.backends > 0
        && f.local.is_none()
        && f.alert_received.is_none()
        && f.verify_code.is_none()
        && !f.server_cert_rejected
        && f.sqlstate.is_none()
        && !f.timed_out
        && !ev.tls_accept_failed
        && ev.fatal.as_ref().is_none_or(|e| e.sqlstate.as_deref() == Some("08P01"))
}

/// The client's message, plus what the server said that decided the class. Only reports that
/// are certain to be in the window are used (the FATAL is logged before it is sent; the alert
/// line is waited for), so details are stable from run to run.
fn detail(f: &ClientFailure, ev: &ServerEvidence, with_accept_line: bool) -> String {
    let mut d = f.message.trim().to_owned();
    if let Some(fatal) = &ev.fatal {
        let line = format!("{}:  {}", fatal.severity, fatal.message);
        if !d.contains(&line) {
            d.push_str(&format!("\nserver: {line}"));
        }
    }
    if let Some(line) = ev.tls_accept_message.as_ref().filter(|_| with_accept_line) {
        d.push_str(&format!("\nserver: {line}"));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::log::LogEntry;

    fn ctx<'a>(lines: &'a [String], user: &'a str, database: &'a str) -> HbaContext<'a> {
        HbaContext { lines, roles: &[], user, database, addr: Some("127.0.0.1".parse().unwrap()) }
    }

    fn fatal(sqlstate: &str, routine: &str) -> ServerEvidence {
        ServerEvidence {
            fatal: Some(LogEntry {
                sqlstate: Some(sqlstate.into()),
                routine: Some(routine.into()),
                severity: "FATAL".into(),
                ..LogEntry::default()
            }),
            backends: 1,
            ..ServerEvidence::default()
        }
    }

    #[test]
    fn sqlstate_28000_is_split_by_routine_and_hba_line() {
        let hba: Vec<String> =
            ["hostssl certdb all 127.0.0.1/32 cert", "hostssl all all 127.0.0.1/32 md5 clientcert=verify-full"]
                .map(String::from)
                .to_vec();
        let f = ClientFailure { tls: Some(true), ..ClientFailure::default() };
        let c = |ev: &ServerEvidence, db| classify(&f, ev, &ctx(&hba, "u", db)).class;
        assert_eq!(c(&fatal("28000", "ClientAuthentication"), "certdb"), FailureClass::ClientCertRequired);
        assert_eq!(c(&fatal("28000", "auth_failed"), "certdb"), FailureClass::CertAuthFailed);
        assert_eq!(c(&fatal("28P01", "auth_failed"), "other"), FailureClass::PasswordAuthFailed);
        let plain = ClientFailure { tls: Some(false), ..ClientFailure::default() };
        assert_eq!(
            classify(&plain, &fatal("28000", "ClientAuthentication"), &ctx(&hba, "u", "x")).class,
            FailureClass::SslRequiredByServer
        );
    }

    #[test]
    fn server_cert_rejection_uses_verify_code_then_logged_alert() {
        let hba: Vec<String> = vec![];
        let f = ClientFailure { server_cert_rejected: true, ..ClientFailure::default() };
        let ev = ServerEvidence { alert_received: Some(44), backends: 1, ..ServerEvidence::default() };
        assert_eq!(classify(&f, &ev, &ctx(&hba, "u", "d")).class, FailureClass::ServerCertRevoked);
        let f = ClientFailure { verify_code: Some(9), ..ClientFailure::default() };
        assert_eq!(classify(&f, &ev, &ctx(&hba, "u", "d")).class, FailureClass::ServerCertNotYetValid);
    }
}
