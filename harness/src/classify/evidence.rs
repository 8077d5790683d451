//! What the server log says about one connection attempt: the evidence classification uses
//! beside the client's.
//!
//! Taken from the structured fields the harness's log format guarantees (SQLSTATE, the
//! `LOCATION:` routine, the backend pid; `crate::server::log`). The one reading of wording is
//! the TLS alert a client sent: the server logs OpenSSL's reason string, whose tail is the
//! alert's protocol name ([`super::tls::alert_from_reason`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::server::log::{LogEntry, parse};

/// What the server log says about one connection attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerEvidence {
    /// The FATAL the backend that started last reported (the client's last try), if any.
    pub fatal: Option<LogEntry>,
    /// A TLS alert the server received from the client during the handshake.
    pub alert_received: Option<u8>,
    /// The server's own TLS accept failed (e.g. it rejected the client certificate).
    pub tls_accept_failed: bool,
    /// The message of that failure.
    pub tls_accept_message: Option<String>,
    /// Backends that took part: one per connection attempt the client made.
    pub backends: usize,
    /// The window's reports, one line each, for failure details.
    pub lines: Vec<String>,
}

impl ServerEvidence {
    /// Evidence from the reports logged during one attempt. `postmaster` is excluded.
    pub fn from_window(text: &str, postmaster: Option<u32>) -> ServerEvidence {
        Self::from_window_excluding(text, postmaster, &BTreeSet::new())
    }

    /// As [`Self::from_window`], ignoring backends that belong to earlier attempts.
    pub fn from_window_excluding(text: &str, postmaster: Option<u32>, earlier: &BTreeSet<u32>) -> ServerEvidence {
        let entries: Vec<LogEntry> = parse(text).into_iter().filter(|e| !earlier.contains(&e.pid)).collect();
        let mut ev = ServerEvidence::default();
        let mut pids = BTreeSet::new();
        // Backends in the order they started (a backend's first line is its "connection
        // received"; a late line of an earlier backend must not make it look last).
        let mut started: Vec<u32> = Vec::new();
        let mut fatal_of: BTreeMap<u32, LogEntry> = BTreeMap::new();
        for e in &entries {
            if Some(e.pid) != postmaster {
                pids.insert(e.pid);
                if !started.contains(&e.pid) {
                    started.push(e.pid);
                }
            }
            ev.lines.push(format!("{}:  {}", e.severity, e.message));
            if e.severity == "FATAL" {
                ev.fatal = Some(e.clone());
                fatal_of.insert(e.pid, e.clone());
            }
            if is_tls_accept_failure(e) {
                ev.tls_accept_failed = true;
                ev.tls_accept_message = Some(e.message.clone());
                if let Some(alert) = super::tls::alert_from_reason(&e.message) {
                    ev.alert_received = Some(alert);
                }
            }
        }
        ev.backends = pids.len();
        // The client's last try decides: an earlier backend's FATAL (sslmode=allow's
        // plaintext try before its TLS retry) is not this attempt's outcome. A backend logs
        // its FATAL before the client can read it, so a last backend without one has none.
        if let Some(last) = started.last() {
            ev.fatal = fatal_of.get(last).cloned();
        }
        ev
    }
}

/// be-secure-openssl.c: `ereport(COMMERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
/// errmsg("could not accept SSL connection: %s", ...)))` from `be_tls_open_server`.
fn is_tls_accept_failure(e: &LogEntry) -> bool {
    e.sqlstate.as_deref() == Some("08P01") && e.routine.as_deref() == Some("be_tls_open_server")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_yields_alert_fatal_and_attempts() {
        let ev = ServerEvidence::from_window(crate::server::log::SAMPLE_WINDOW, Some(7792));
        assert_eq!(ev.alert_received, Some(48));
        assert!(ev.tls_accept_failed);
        assert_eq!(ev.backends, 2);
        let fatal = ev.fatal.unwrap();
        assert_eq!(fatal.sqlstate.as_deref(), Some("28000"));
        assert_eq!(fatal.routine.as_deref(), Some("ClientAuthentication"));
    }

    #[test]
    fn only_the_last_started_backend_reports_the_fatal() {
        // sslmode=allow: plaintext rejected, then the TLS retry's accept fails.
        let allow = "\
2026-11-23 01:23:37.277 UTC [7801] LOG:  00000: connection received: host=127.0.0.1 port=1
2026-11-23 01:23:37.278 UTC [7801] FATAL:  28000: no pg_hba.conf entry for host \"127.0.0.1\", no encryption
2026-11-23 01:23:37.278 UTC [7801] LOCATION:  ClientAuthentication, auth.c:548
2026-11-23 01:23:37.280 UTC [7802] LOG:  00000: connection received: host=127.0.0.1 port=2
2026-11-23 01:23:37.282 UTC [7802] LOG:  08P01: could not accept SSL connection: certificate verify failed
2026-11-23 01:23:37.282 UTC [7802] LOCATION:  be_tls_open_server, be-secure-openssl.c:552
";
        let ev = ServerEvidence::from_window(allow, None);
        assert!(ev.tls_accept_failed && ev.fatal.is_none(), "{ev:?}");
        // sslmode=prefer: the TLS try's accept failure is logged after the plaintext retry's
        // FATAL; that late line does not make the first backend the last.
        let prefer = "\
2026-11-23 01:23:37.277 UTC [7801] LOG:  00000: connection received: host=127.0.0.1 port=1
2026-11-23 01:23:37.280 UTC [7802] LOG:  00000: connection received: host=127.0.0.1 port=2
2026-11-23 01:23:37.281 UTC [7802] FATAL:  28000: no pg_hba.conf entry for host \"127.0.0.1\", no encryption
2026-11-23 01:23:37.281 UTC [7802] LOCATION:  ClientAuthentication, auth.c:548
2026-11-23 01:23:37.282 UTC [7801] LOG:  08P01: could not accept SSL connection: tlsv1 alert unknown ca
2026-11-23 01:23:37.282 UTC [7801] LOCATION:  be_tls_open_server, be-secure-openssl.c:552
";
        let ev = ServerEvidence::from_window(prefer, None);
        assert_eq!(ev.fatal.map(|f| f.pid), Some(7802));
    }
}
