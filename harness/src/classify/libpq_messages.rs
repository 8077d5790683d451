//! The one table that maps libpq's error messages to evidence.
//!
//! psql prints only libpq's message, so for failures libpq decides itself this wording is the
//! only signal, and every verdict a row decides has basis `message-wording`. (psql's
//! `VERBOSITY verbose` adds SQLSTATEs to errors of statements only; a connection error is
//! printed before it takes effect, and libpq's own connection errors have no SQLSTATE.) everything the server decides is taken from the server log instead (SQLSTATE,
//! routine, the alert it received), never from these strings. Each row names the libpq code
//! that produces the message (PostgreSQL 13–19, `src/interfaces/libpq`); messages are matched
//! in the C locale (psql runs with `LC_ALL=C`). `scenarios/clients/client-side-failures.toml`
//! has a case per row; tests/scenarios.rs runs it with the native psql and tests/docker.rs
//! with the psql of every local image (13 to 19).
//!
//! The OCSP rows are the message contract of our PostgreSQL stapling patch (`sslocspstapling`):
//! its status callback appends exactly one of them, and psql prints it beside OpenSSL's
//! `SSL error: ocsp callback failure`. They are matched before any OpenSSL wording, and only
//! their own text is, so OpenSSL's part of the message decides nothing.
//! `scenarios/ocsp` has cases for every row (run with `--pg-bin` of the patched build).

use std::sync::OnceLock;

use regex::Regex;

use super::tls::alert_from_reason;
use crate::client::ClientFailure;
use crate::outcome::{Basis, FailureClass, OcspVerdict};

/// What a row of the table contributes.
#[derive(Debug, Clone, Copy)]
enum Meaning {
    /// A class libpq decided locally.
    Local(FailureClass),
    /// libpq's OpenSSL rejected the server certificate; the reason is not in the message.
    ServerCertRejected,
    /// An alert received from the server; the number comes from the reason's tail.
    Alert,
    /// The stapling patch rejected the OCSP staple.
    Ocsp(OcspVerdict),
    Timeout,
}

/// Where the stapling patch's messages come from.
const OCSP_CB: &str = "fe-secure-openssl.c OCSP status callback (our stapling patch)";

/// The stapling patch's message contract, one row per verdict.
const OCSP_TABLE: &[(&str, OcspVerdict)] = &[
    (r"cannot check the stapled OCSP response without a root certificate", OcspVerdict::NoRootCert),
    (r"no OCSP response was stapled by the server", OcspVerdict::StapleMissing),
    (r"could not parse the stapled OCSP response", OcspVerdict::Unparsable),
    (r#"stapled OCSP response has status "[a-z]+""#, OcspVerdict::Unsuccessful),
    (r"stapled OCSP response contains no basic response", OcspVerdict::NoBasicResponse),
    (r"could not verify the stapled OCSP response", OcspVerdict::Untrusted),
    (r"stapled OCSP response has no status for the server certificate", OcspVerdict::WrongCert),
    // Outside the contract list: the patch's words for a CertID it cannot build, in which
    // case no status for the certificate can be found either.
    (r"could not compute the OCSP certificate ID of the server certificate", OcspVerdict::WrongCert),
    (r"server certificate is revoked according to the stapled OCSP response", OcspVerdict::Revoked),
    (r"server certificate status is unknown according to the stapled OCSP response", OcspVerdict::StatusUnknown),
    (r"stapled OCSP response has expired", OcspVerdict::Expired),
    (r"stapled OCSP response is not yet valid", OcspVerdict::NotYetValid),
    (r"stapled OCSP response is not valid: ", OcspVerdict::TimesInvalid),
];

/// (regex, meaning, the libpq code that produces it).
const TABLE: &[(&str, Meaning, &str)] = &[
    (
        r#"server certificate for ".*" (\(and \d+ other names?\) )?does not match host name"#,
        Meaning::Local(FailureClass::HostnameMismatch),
        "fe-secure-common.c pq_verify_peer_name_matches_certificate",
    ),
    (
        r"could not get server's host name from server certificate",
        Meaning::Local(FailureClass::HostnameMismatch),
        "fe-secure-common.c pq_verify_peer_name_matches_certificate",
    ),
    (
        r"host name must be specified for a verified SSL connection",
        Meaning::Local(FailureClass::HostnameMismatch),
        "fe-secure-common.c",
    ),
    (
        r#"root certificate file ".*" does not exist"#,
        Meaning::Local(FailureClass::RootCertMissing),
        "fe-secure-openssl.c initialize_SSL (verify-ca/verify-full without a root file)",
    ),
    (
        r"SSL error: certificate verify failed",
        Meaning::ServerCertRejected,
        "fe-secure-openssl.c open_client_SSL: SSL_R_CERTIFICATE_VERIFY_FAILED; the verify result is not printed",
    ),
    (
        r"SSL error: .*(alert |unrecognized name)",
        Meaning::Alert,
        "fe-secure-openssl.c open_client_SSL: SSLerrmessage of the received alert",
    ),
    (
        r"SSL error: (unsupported protocol|no protocols available|wrong version number)",
        Meaning::Local(FailureClass::ProtocolVersionMismatch),
        "fe-secure-openssl.c open_client_SSL with the protocol-version hint",
    ),
    (
        r"server does not support SSL, but SSL was required",
        Meaning::Local(FailureClass::SslNotSupported),
        "fe-connect.c PQconnectPoll, SSLRequest answered 'N'",
    ),
    (
        r"server accepted connection without a valid SSL certificate",
        Meaning::Local(FailureClass::ClientCertNotRequested),
        "fe-connect.c (16+) sslcertmode=require, certificate requested but none sent",
    ),
    (
        r"server did not request an SSL certificate",
        Meaning::Local(FailureClass::ClientCertNotRequested),
        "fe-connect.c (17+) sslcertmode=require, no CertificateRequest at all",
    ),
    (
        r"certificate present, but not private key file",
        Meaning::Local(FailureClass::ClientKeyUnusable),
        "fe-secure-openssl.c initialize_SSL",
    ),
    (
        r#"private key file ".*" (has group or world access|is not a regular file)"#,
        Meaning::Local(FailureClass::ClientKeyUnusable),
        "fe-secure-openssl.c initialize_SSL permission check",
    ),
    (
        r#"could not (load|read) private key file"#,
        Meaning::Local(FailureClass::ClientKeyUnusable),
        "fe-secure-openssl.c initialize_SSL (bad decrypt, processing error)",
    ),
    (
        r"certificate does not match private key file",
        Meaning::Local(FailureClass::ClientKeyUnusable),
        "fe-secure-openssl.c initialize_SSL SSL_CTX_check_private_key",
    ),
    (
        r#"could not read (root )?certificate file"#,
        Meaning::Local(FailureClass::ClientConfigInvalid),
        "fe-secure-openssl.c initialize_SSL",
    ),
    (
        r"channel binding required",
        Meaning::Local(FailureClass::ChannelBindingFailed),
        "fe-auth.c pg_fe_sendauth / check_expected_areq",
    ),
    (
        r"fe_sendauth: no password supplied",
        Meaning::Local(FailureClass::PasswordAuthFailed),
        "fe-auth.c pg_fe_sendauth",
    ),
    (
        r"auth method .* requirement failed|server requested .* authentication|authentication method requirement",
        Meaning::Local(FailureClass::AuthFailed),
        "fe-auth.c require_auth (16+)",
    ),
    (
        r#"invalid [a-z_ "]+ value|invalid SSL protocol version range|weak sslmode|invalid connection option|invalid port number|could not parse network address|sslcertmode value .* is not supported"#,
        Meaning::Local(FailureClass::ClientConfigInvalid),
        "fe-connect.c connectOptions2 / conninfo parsing",
    ),
    (r"timeout expired", Meaning::Timeout, "fe-connect.c connect_timeout"),
];

/// The OCSP rows first (they come with OpenSSL's "SSL error: …" line), then the rest.
fn table() -> &'static [(Regex, Meaning)] {
    static T: OnceLock<Vec<(Regex, Meaning)>> = OnceLock::new();
    T.get_or_init(|| {
        let ocsp = OCSP_TABLE.iter().map(|(re, v)| (*re, Meaning::Ocsp(*v), OCSP_CB));
        ocsp.chain(TABLE.iter().copied()).map(|(re, m, _source)| (Regex::new(re).expect("static regex"), m)).collect()
    })
}

/// Evidence from psql's stderr. Only the last attempt counts: libpq appends one message per
/// attempt (allow/prefer fallbacks, several hosts).
pub fn evidence(stderr: &str) -> ClientFailure {
    let text = last_attempt(stderr);
    let mut f = ClientFailure { message: strip_prefix(text).to_owned(), ..ClientFailure::default() };
    for (re, meaning) in table() {
        let Some(m) = re.find(text) else { continue };
        f.basis = Some(Basis::MessageWording);
        match meaning {
            Meaning::Local(class) => f.local = Some(*class),
            Meaning::ServerCertRejected => f.server_cert_rejected = true,
            Meaning::Alert => {
                let line = text[m.start()..].lines().next().unwrap_or("");
                f.alert_received = alert_from_reason(line.trim_start_matches("SSL error: "));
            }
            Meaning::Ocsp(verdict) => f.ocsp = Some(*verdict),
            Meaning::Timeout => f.timed_out = true,
        }
        break;
    }
    f
}

/// The text of the last "connection to server … failed:" attempt.
fn last_attempt(stderr: &str) -> &str {
    let marker = "connection to server";
    match stderr.rfind(marker) {
        Some(i) => &stderr[i..],
        None => stderr,
    }
}

/// Drops psql's and libpq's prefixes, which differ across versions and hold ports.
fn strip_prefix(text: &str) -> &str {
    let text = text.trim().trim_start_matches("psql: error: ");
    match text.find(" failed: ") {
        Some(i) if text.starts_with("connection to server") => &text[i + " failed: ".len()..],
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_map_to_evidence() {
        let e = evidence(
            "psql: error: connection to server at \"127.0.0.1\", port 5 failed: SSL error: tlsv1 alert unknown ca\n",
        );
        assert_eq!(e.alert_received, Some(48));
        assert_eq!(e.message, "SSL error: tlsv1 alert unknown ca");
        assert!(evidence("... failed: SSL error: certificate verify failed").server_cert_rejected);
        let e = evidence("psql: error: invalid SSL protocol version range");
        assert_eq!(e.local, Some(FailureClass::ClientConfigInvalid));
        let e = evidence("x failed: server certificate for \"a\" (and 2 other names) does not match host name \"b\"");
        assert_eq!(e.local, Some(FailureClass::HostnameMismatch));
        let e = evidence("x failed: FATAL:  connection requires a valid client certificate");
        assert_eq!(e.local, None);
        assert!(!e.server_cert_rejected);
    }

    #[test]
    fn stapling_patch_messages_map_to_verdicts() {
        let e = evidence(
            "psql: error: connection to server at \"127.0.0.1\", port 5 failed: SSL error: ocsp callback failure\n\
             server certificate is revoked according to the stapled OCSP response",
        );
        assert_eq!(e.ocsp, Some(OcspVerdict::Revoked));
        assert_eq!(e.alert_received, None);
        let e = evidence("x failed: stapled OCSP response has status \"trylater\"\nSSL error: ocsp callback failure");
        assert_eq!(e.ocsp, Some(OcspVerdict::Unsuccessful));
        let e = evidence("x failed: could not verify the stapled OCSP response: signer certificate not found");
        assert_eq!(e.ocsp, Some(OcspVerdict::Untrusted));
        assert_eq!(evidence("x failed: stapled OCSP response has expired").ocsp, Some(OcspVerdict::Expired));
        let e = evidence("x failed: stapled OCSP response is not valid: nextupdate before thisupdate");
        assert_eq!(e.ocsp, Some(OcspVerdict::TimesInvalid));
        let e = evidence("psql: error: invalid sslocspstapling value: \"2\"");
        assert_eq!((e.ocsp, e.local), (None, Some(FailureClass::ClientConfigInvalid)));
    }

    #[test]
    fn only_the_last_attempt_counts() {
        let two = "psql: error: connection to server at \"h\", port 1 failed: SSL error: certificate verify failed\n\
                   connection to server at \"h\", port 1 failed: FATAL:  no pg_hba.conf entry";
        assert!(!evidence(two).server_cert_rejected);
    }
}
