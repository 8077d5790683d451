//! Checks an outcome against a case's expectation, graded like sqllogictest's expected
//! errors: the class always exactly, everything else only where the scenario says.

use crate::outcome::{Outcome, QueryOutcome};
use crate::scenario::{Expectation, ExpectedOutcome, LogPattern, PgVersion};

/// What the harness saw of an attempt besides the client's outcome.
#[derive(Default)]
pub struct Observed<'a> {
    /// The attempt's server log reports (see [`crate::server::log::report_lines`]), present
    /// when the expectation reads the log.
    pub log: Option<&'a [String]>,
    /// The decimal serial of the certificate of the PKI entity the expectation names.
    pub client_serial: Option<&'a str>,
    /// The server's version, which decides the log patterns that apply.
    pub pg: Option<PgVersion>,
    /// The attempt's scratch directory, where the client wrote its output files.
    pub scratch: Option<&'a std::path::Path>,
}

/// Every way `outcome` misses `expect`, empty when it meets it.
pub fn mismatches(expect: &Expectation, outcome: &Outcome, client: &str, seen: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    let want = expect.outcome.name();
    if outcome.class_name() != want {
        out.push(format!("expected {want}, got {}", outcome.class_name()));
        return out;
    }
    match (outcome, expect.outcome) {
        (Outcome::Connected(c), ExpectedOutcome::Connected) => {
            let cert = c.client_cert.as_ref();
            field(&mut out, "ssl", expect.ssl, Some(c.ssl));
            field(&mut out, "protocol", expect.protocol.as_deref(), c.protocol.as_deref());
            field(&mut out, "client_cert", expect.client_cert, Some(cert.is_some()));
            field(&mut out, "client_dn", expect.client_dn.as_deref(), cert.map(|x| x.dn.as_str()));
            if let Some(entity) = &expect.client_serial {
                let got = cert.map(|x| x.serial.as_str());
                if seen.client_serial.is_none() || got != seen.client_serial {
                    out.push(format!(
                        "client_serial: expected {entity}'s serial {:?}, got {got:?}",
                        seen.client_serial.unwrap_or("(unknown)")
                    ));
                }
            }
            field(&mut out, "issuer_dn", expect.issuer_dn.as_deref(), cert.map(|x| x.issuer_dn.as_str()));
            field(&mut out, "user", expect.user.as_deref(), Some(c.user.as_str()));
            let (rows, sqlstate) = match &c.query {
                Some(QueryOutcome::Rows(r)) => (Some(r.as_str()), None),
                Some(QueryOutcome::Error { sqlstate, .. }) => (None, Some(sqlstate.as_deref().unwrap_or("(none)"))),
                None => (None, None),
            };
            field(&mut out, "query_result", expect.query_result.as_deref(), rows);
            field(&mut out, "query_sqlstate", expect.query_sqlstate.as_deref(), sqlstate);
            if expect.query_sqlstate.is_none()
                && let Some(QueryOutcome::Error { message, .. }) = &c.query
            {
                out.push(format!("the query failed: {message}"));
            }
            if expect.cancel_sqlstate.is_some() || expect.cancel_ssl.is_some() || expect.cancel_opening.is_some() {
                match &c.cancel {
                    Some(k) => {
                        let sqlstate = Some(k.sqlstate.as_deref().unwrap_or("(none)"));
                        field(&mut out, "cancel_sqlstate", expect.cancel_sqlstate.as_deref(), sqlstate);
                        field(&mut out, "cancel_ssl", expect.cancel_ssl, k.ssl);
                        if let Some(want) = &expect.cancel_opening
                            && k.openings != [want.as_str()]
                        {
                            out.push(format!("cancel_opening: expected {want:?}, got {:?}", k.openings));
                        }
                    }
                    None => out.push("the client reported no cancel action".into()),
                }
            }
        }
        (Outcome::Failed(f), ExpectedOutcome::Failed(_)) => {
            field(&mut out, "sqlstate", expect.sqlstate.as_deref(), f.sqlstate.as_deref());
            field(&mut out, "alert", expect.alert, f.alert);
            field(&mut out, "side", expect.side, Some(f.side));
            if let Some(re) = expect.message.as_ref().and_then(|m| m.for_client(client))
                && !re.is_match(&f.detail)
            {
                out.push(format!("message does not match /{}/", re.as_str()));
            }
        }
        _ => {}
    }
    for f in &expect.files {
        let meta = seen.scratch.and_then(|d| std::fs::metadata(d.join(&f.name)).ok());
        field(&mut out, &format!("file {} exists", f.name), f.exists, Some(meta.is_some()));
        if let Some(want) = f.world_access {
            use std::os::unix::fs::PermissionsExt;
            match &meta {
                Some(m) => field(
                    &mut out,
                    &format!("file {} world_access", f.name),
                    Some(want),
                    Some(m.permissions().mode() & 0o006 != 0),
                ),
                None => out.push(format!("file {}: missing, so its access cannot be checked", f.name)),
            }
        }
    }
    if expect.reads_log() {
        let lines = seen.log.unwrap_or_default();
        for re in applying(&expect.log_like, seen.pg) {
            if !lines.iter().any(|l| re.is_match(l)) {
                out.push(format!("server log: no report matches /{}/", re.as_str()));
            }
        }
        for re in applying(&expect.log_unlike, seen.pg) {
            if let Some(l) = lines.iter().find(|l| re.is_match(l)) {
                out.push(format!("server log: /{}/ matches {l:?}", re.as_str()));
            }
        }
    }
    out
}

/// The regexes of `patterns` that apply to a server of version `pg`.
pub fn applying(patterns: &[LogPattern], pg: Option<PgVersion>) -> impl Iterator<Item = &regex::Regex> {
    patterns.iter().filter(move |p| pg.is_none_or(|v| p.applies_to(v))).map(|p| &p.re)
}

fn field<T: PartialEq + std::fmt::Debug>(out: &mut Vec<String>, name: &str, want: Option<T>, got: Option<T>) {
    if let Some(w) = want
        && got.as_ref() != Some(&w)
    {
        out.push(format!("{name}: expected {w:?}, got {got:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{ClientCert, Connected};
    use crate::scenario::VersionReq;

    fn connected() -> Outcome {
        Outcome::Connected(Connected {
            ssl: true,
            client_cert: Some(ClientCert { dn: "/CN=a".into(), serial: "4096".into(), issuer_dn: "/CN=ca".into() }),
            user: "a".into(),
            ..Connected::default()
        })
    }

    fn pattern(re: &str, pg: Option<&str>) -> LogPattern {
        LogPattern { re: regex::Regex::new(re).unwrap(), pg: pg.map(|p| VersionReq::parse(p).unwrap()) }
    }

    fn expect() -> Expectation {
        Expectation::of(ExpectedOutcome::Connected)
    }

    #[test]
    fn log_patterns_apply_by_version_and_both_directions_are_checked() {
        let mut e = expect();
        e.log_like = vec![pattern("authenticated: identity=", None), pattern("depth 0", Some(">=16"))];
        e.log_unlike = vec![pattern("cannot be reloaded", None)];
        let log = vec!["LOG:  connection authenticated: identity=\"CN=a\" method=cert".to_owned()];
        let v15 = crate::scenario::PgVersion::parse("15.18");
        let v17 = crate::scenario::PgVersion::parse("17.2");
        let seen = |pg| Observed { log: Some(&log), pg, ..Observed::default() };
        assert!(mismatches(&e, &connected(), "libpq", &seen(v15)).is_empty());
        let miss = mismatches(&e, &connected(), "libpq", &seen(v17));
        assert_eq!(miss, ["server log: no report matches /depth 0/"]);
        let log = vec!["LOG:  identity= x".to_owned(), "LOG:  key cannot be reloaded".to_owned()];
        let seen = Observed { log: Some(&log), pg: v15, ..Observed::default() };
        let miss = mismatches(&e, &connected(), "libpq", &seen);
        assert_eq!(miss.len(), 2, "{miss:?}");
        assert!(miss[1].starts_with("server log: /cannot be reloaded/ matches"), "{miss:?}");
    }

    #[test]
    fn client_serial_and_issuer_are_compared() {
        let mut e = expect();
        e.client_serial = Some("client".into());
        e.issuer_dn = Some("/CN=ca".into());
        let ok = Observed { client_serial: Some("4096"), ..Observed::default() };
        assert!(mismatches(&e, &connected(), "rust", &ok).is_empty());
        let other = Observed { client_serial: Some("17"), ..Observed::default() };
        assert_eq!(mismatches(&e, &connected(), "rust", &other).len(), 1);
        e.issuer_dn = Some("/CN=other".into());
        assert_eq!(mismatches(&e, &connected(), "rust", &ok).len(), 1);
    }
}
