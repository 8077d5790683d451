//! The one outcome taxonomy every client and backend reports into.
//!
//! An outcome is what a connection attempt ended as, seen from outside: connected (with what
//! the *server* saw in `pg_stat_ssl`), failed with a [`FailureClass`], or skipped with a reason.
//! `crate::classify` decides the class, from structured signals where the client has them
//! (SQLSTATE and error routine, TLS alert numbers, OpenSSL verify codes, OCSP verdicts, the
//! harness's own evaluation of pg_hba) and from message wording where it has nothing else
//! (psql prints only libpq's message text); every failure records which in its [`Basis`]. The
//! raw message is kept as redacted `detail`. `docs/outcomes.md` is the user-facing description
//! of every class and says, per client, what decides it; keep the two in sync.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What one connection attempt of one client ended as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The session was established and the post-connect query ran.
    Connected(Connected),
    /// The attempt failed; `class` says why.
    Failed(Failure),
    /// The attempt was not made because a prerequisite is missing.
    Skipped { reason: String },
}

/// A successful connection, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Connected {
    /// Whether the session is encrypted (`pg_stat_ssl.ssl`).
    pub ssl: bool,
    /// Negotiated protocol, e.g. `TLSv1.3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Negotiated cipher suite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher: Option<String>,
    /// The client certificate the server saw, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<ClientCert>,
    /// `current_user` of the session.
    pub user: String,
    /// What the case's query returned, when the case has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<QueryOutcome>,
    /// What became of a cancel request sent during a running query, for a case with
    /// `cancel = true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel: Option<Box<CancelOutcome>>,
}

/// How a cancel connection can open, by the name [`CancelOutcome::openings`] and the
/// `cancel_opening` expectation use, with what it means.
pub const CANCEL_OPENINGS: &[(&str, &str)] = &[
    ("ssl-request", "an SSLRequest the server accepted (`S`), then TLS"),
    ("ssl-request-refused", "an SSLRequest the server refused (`N`), then plaintext"),
    ("direct-tls", "a TLS ClientHello straight away (sslnegotiation=direct)"),
    ("plaintext", "a CancelRequest in plaintext"),
    ("gssenc-request", "a GSSENCRequest"),
    ("startup", "a plaintext startup packet"),
    ("incomplete", "no complete first packet"),
];

/// A case's cancel action: the client ran `SELECT pg_sleep(…)` and sent cancel requests through
/// its cancel API until the query ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CancelOutcome {
    /// Cancel requests the client sent (it sends another while the query keeps running).
    pub requests: u32,
    /// The SQLSTATE the query ended with: 57014 (`query_canceled`) when a cancel took effect;
    /// `None` when it finished on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
    /// Whether every cancel request travelled over TLS, as the harness's relay in front of the
    /// server saw each one open (an accepted SSLRequest or a direct TLS ClientHello, rather
    /// than a plaintext CancelRequest); `None` when no request reached the relay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl: Option<bool>,
    /// How the cancel connections opened (`ssl-request`, `direct-tls`, `plaintext`, …; see
    /// docs/scenario-format.md, `cancel_opening`), repeats left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub openings: Vec<String>,
    /// The client's error from sending a cancel request, if any; informative only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of a case's query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryOutcome {
    /// Rows as `psql -At` prints them: `|` between columns, `\n` between rows, NULL empty.
    Rows(String),
    /// The query failed (the connection stands).
    Error { sqlstate: Option<String>, message: String },
}

/// A client certificate as `pg_stat_ssl` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCert {
    pub dn: String,
    pub serial: String,
    pub issuer_dn: String,
}

/// A failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub class: FailureClass,
    /// Which side decided the failure.
    pub side: Side,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
    /// TLS alert number that carried the failure (received by the client, or by the server
    /// when the client rejected the server's certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<u8>,
    /// OpenSSL verify result of the client's own certificate check, when the client exposes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_code: Option<i32>,
    /// The client's verdict on the OCSP staple it required (`sslocspstapling=1`), when that
    /// decided the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ocsp: Option<OcspVerdict>,
    /// What the class rests on. Reports show it; snapshots leave it out (see
    /// [`without_basis`]). Absent in reports before schema 1.2, read as `unrecorded`.
    #[serde(default, skip_serializing_if = "basis_hidden")]
    pub basis: Basis,
    /// The raw message(s), redacted; the class rests on it only when `basis` is
    /// `message-wording`.
    pub detail: String,
}

/// The signal a failure's class rests on: the one rule of `crate::classify` that decided, and
/// what that rule read. `docs/outcomes.md` lists, per class and client, which basis decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// The SQLSTATE (and reporting routine) of the server's error, from its ErrorResponse or
    /// from the server log's `LOCATION:` line.
    Sqlstate,
    /// SQLSTATE 28000 told apart by the harness's evaluation of the pg_hba lines it wrote
    /// (`crate::hba`): no line, a `reject` line, a line needing a certificate, the method.
    HbaEvaluation,
    /// A TLS alert number the client's TLS library reported as a code (OpenSSL's reason
    /// 1000 + alert in the error queue, Python's reason symbol).
    TlsAlert,
    /// The OpenSSL verify result of the client's own certificate check.
    VerifyCode,
    /// The client's verdict on the OCSP staple, as a code ([`OcspVerdict`] from the openssl
    /// crate's OCSP API).
    OcspVerdict,
    /// Structured server log evidence other than an error's SQLSTATE: a failed TLS accept
    /// (08P01 from `be_tls_open_server`), how many backends took part.
    ServerLog,
    /// A check the client made itself and reported as a code or an error type (a parameter
    /// it rejected, its key or file loading, its host name check, TLS refused with 'N').
    ClientCheck,
    /// Message text: psql's stderr (libpq's messages), a Display string, OpenSSL's reason
    /// text (an alert's name), an exception's text or traceback line.
    MessageWording,
    /// The harness itself decided: its connect timeout ran out, the server did not start, a
    /// step failed, a client could not be run.
    Harness,
    /// Read from a report written before the basis was recorded (schema 1.1 and older).
    #[default]
    Unrecorded,
}

impl Basis {
    /// The kebab-case name it is serialized as.
    pub fn name(self) -> &'static str {
        match self {
            Basis::Sqlstate => "sqlstate",
            Basis::HbaEvaluation => "hba-evaluation",
            Basis::TlsAlert => "tls-alert",
            Basis::VerifyCode => "verify-code",
            Basis::OcspVerdict => "ocsp-verdict",
            Basis::ServerLog => "server-log",
            Basis::ClientCheck => "client-check",
            Basis::MessageWording => "message-wording",
            Basis::Harness => "harness",
            Basis::Unrecorded => "unrecorded",
        }
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

thread_local! {
    static WITHOUT_BASIS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with failures serialized without their `basis`: the snapshot form. A snapshot
/// records what the server and the client did; the basis is the harness's reasoning about it,
/// which changes when a rule moves from wording to a structured signal while the outcome
/// stays, and is in every report. Serialization happens on the calling thread, so the flag is
/// thread-local; it is restored when `f` panics too (a failed snapshot assertion).
pub fn without_basis<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            WITHOUT_BASIS.with(|w| w.set(self.0));
        }
    }
    let _restore = Restore(WITHOUT_BASIS.with(|w| w.replace(true)));
    f()
}

fn basis_hidden(basis: &Basis) -> bool {
    *basis == Basis::Unrecorded || WITHOUT_BASIS.with(|w| w.get())
}

/// Which side of the connection decided a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    Client,
    Server,
    /// The harness itself (server failed to start, timeout).
    Harness,
}

macro_rules! failure_classes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, )*) => {
        /// Why an attempt failed. Names are stable: they appear in scenario files and snapshots.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FailureClass { $( $(#[$doc])* $variant, )* }

        impl FailureClass {
            /// Every class, in documentation order.
            pub const ALL: &'static [FailureClass] = &[$(FailureClass::$variant,)*];

            /// The kebab-case name used in scenario files and reports.
            pub fn name(self) -> &'static str {
                match self { $(FailureClass::$variant => $name,)* }
            }

            /// Parses a class name as written in scenario files.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(FailureClass::$variant),)* _ => None }
            }
        }
    };
}

failure_classes! {
    /// The client could not build a chain from the server certificate to a trusted root
    /// (verify codes 2, 3, 18–21, 24; TLS alert 48 unknown_ca).
    ServerCertUntrusted = "server-cert-untrusted",
    /// The server certificate is on a CRL the client loaded (verify 23; alert 44).
    ServerCertRevoked = "server-cert-revoked",
    /// The server certificate has expired (verify 10; alert 45).
    ServerCertExpired = "server-cert-expired",
    /// The server certificate is not yet valid (verify 9). Clients that only report the
    /// alert they sent (bad_certificate, 42) classify this as `server-cert-rejected`.
    ServerCertNotYetValid = "server-cert-not-yet-valid",
    /// The client rejected the server certificate for another or unreported reason.
    ServerCertRejected = "server-cert-rejected",
    /// `verify-full`: no name in the server certificate matches the host (libpq's rules).
    HostnameMismatch = "hostname-mismatch",
    /// `verify-ca`/`verify-full` without a root certificate file to verify against; also
    /// `sslocspstapling=1` without one (a staple cannot be checked without a trust store).
    RootCertMissing = "root-cert-missing",
    /// `sslocspstapling=1` and the server stapled no OCSP response (a stock server never does).
    OcspStapleMissing = "ocsp-staple-missing",
    /// The stapled response says the server certificate's status is unknown.
    OcspStatusUnknown = "ocsp-status-unknown",
    /// The stapled response's nextUpdate has passed.
    OcspResponseExpired = "ocsp-response-expired",
    /// The stapled response's thisUpdate is in the future.
    OcspResponseNotYetValid = "ocsp-response-not-yet-valid",
    /// The stapled response does not verify against the client's root certificates: bad
    /// signature, signer not found, untrusted responder, or a responder the certificate's
    /// issuer did not authorise (no OCSPSigning EKU, another CA's responder).
    OcspResponseUntrusted = "ocsp-response-untrusted",
    /// The stapled response has no status for the server certificate (it is about another
    /// certificate, or another issuer's).
    OcspResponseWrongCert = "ocsp-response-wrong-cert",
    /// The staple is no OCSP response, has no basic response, or has invalid times.
    OcspResponseInvalid = "ocsp-response-invalid",
    /// The stapled response's status is not `successful` (tryLater, unauthorized, …).
    OcspResponseUnsuccessful = "ocsp-response-unsuccessful",
    /// The matching pg_hba line needs a client certificate and none was presented.
    ClientCertRequired = "client-cert-required",
    /// The server could not chain the client certificate to its `ssl_ca_file` (alert 48).
    ClientCertUntrusted = "client-cert-untrusted",
    /// The client certificate is on the server's CRL (alert 44).
    ClientCertRevoked = "client-cert-revoked",
    /// The client certificate has expired (alert 45).
    ClientCertExpired = "client-cert-expired",
    /// The server rejected the client certificate with another alert (42 bad_certificate:
    /// e.g. not yet valid; 43, 46, 51).
    ClientCertRejected = "client-cert-rejected",
    /// `sslcertmode=require`, yet the server accepted the connection without the client
    /// presenting a certificate (it did not ask for one, or the client had none).
    ClientCertNotRequested = "client-cert-not-requested",
    /// `cert` authentication (or `clientcert=verify-full`) found no match between the
    /// certificate's name and the user (SQLSTATE 28000 from `auth_failed`).
    CertAuthFailed = "cert-auth-failed",
    /// Password authentication failed (SQLSTATE 28P01). Under `clientcert=verify-full` with
    /// a password method, PostgreSQL reports a certificate name mismatch this way too.
    PasswordAuthFailed = "password-auth-failed",
    /// Another authentication method failed (SQLSTATE 28000 from `auth_failed`).
    AuthFailed = "auth-failed",
    /// No pg_hba line matched, or the matching line is `reject` (SQLSTATE 28000).
    HbaRejected = "hba-rejected",
    /// A plaintext attempt matched no pg_hba line, but the same attempt over TLS would have.
    SslRequiredByServer = "ssl-required-by-server",
    /// The client required TLS and the server answered 'N' to SSLRequest, or closed a direct
    /// TLS connection without a TLS alert, error or failed accept.
    SslNotSupported = "ssl-not-supported",
    /// No TLS protocol version both sides accept (alert 70, or a local protocol error).
    ProtocolVersionMismatch = "protocol-version-mismatch",
    /// Another TLS handshake failure (alert 40 handshake_failure and others).
    TlsHandshakeFailed = "tls-handshake-failed",
    /// The server has no certificate for the SNI host name the client sent (alert 112).
    SniUnrecognized = "sni-unrecognized",
    /// The client's own key could not be used: missing, wrong permissions, wrong passphrase,
    /// not matching the certificate, unreadable.
    ClientKeyUnusable = "client-key-unusable",
    /// Channel binding was required and could not be used.
    ChannelBindingFailed = "channel-binding-failed",
    /// The client rejected its own connection parameters before connecting.
    ClientConfigInvalid = "client-config-invalid",
    /// The server refused the connection because of its own configuration (SQLSTATE F0000 at
    /// connection time, e.g. client certificates required but no `ssl_ca_file`).
    ServerConfigError = "server-config-error",
    /// The role does not exist (SQLSTATE 28000 from `InitializeSessionUserId`).
    RoleMissing = "role-missing",
    /// The database does not exist (SQLSTATE 3D000).
    DatabaseMissing = "database-missing",
    /// The server did not start (or restart) with this configuration.
    ServerFailedToStart = "server-failed-to-start",
    /// Nothing listened, or the connection was reset without a TLS alert.
    ConnectionFailed = "connection-failed",
    /// The attempt did not finish within the connect timeout.
    Timeout = "timeout",
    /// None of the rules above applied; the detail says what happened.
    Unclassified = "unclassified",
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for FailureClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for FailureClass {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        FailureClass::from_name(&name).ok_or_else(|| {
            let names = NAMES.get_or_init(|| FailureClass::ALL.iter().map(|c| c.name()).collect());
            serde::de::Error::unknown_variant(&name, names)
        })
    }
}

impl Outcome {
    /// The outcome's class name: `connected`, `skipped`, or the failure class.
    pub fn class_name(&self) -> &'static str {
        match self {
            Outcome::Connected(_) => "connected",
            Outcome::Failed(f) => f.class.name(),
            Outcome::Skipped { .. } => "skipped",
        }
    }

    /// A failure decided by the harness rather than a peer.
    pub fn harness_failure(class: FailureClass, detail: impl Into<String>) -> Self {
        Outcome::Failed(Failure {
            class,
            side: Side::Harness,
            sqlstate: None,
            alert: None,
            verify_code: None,
            ocsp: None,
            basis: Basis::Harness,
            detail: detail.into(),
        })
    }
}

/// A client's verdict on the OCSP staple it required, as a code: the Rust client decides it
/// with the openssl crate's OCSP API, libpq's is read from the stapling patch's message
/// contract (`classify/libpq_messages.rs`). The checks run in this order, first failure wins:
/// staple present, parsable, successful, basic response, a root store and verified issuer,
/// signature and responder (`OCSP_basic_verify`), a status for the leaf's SHA-1 CertID, the
/// status, the times (`OCSP_check_validity` without leeway or maximum age).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OcspVerdict {
    /// The server stapled nothing.
    StapleMissing,
    /// The staple is not a DER `OCSPResponse`.
    Unparsable,
    /// `responseStatus` is not `successful`.
    Unsuccessful,
    /// A successful response without a basic response.
    NoBasicResponse,
    /// No root certificate to verify a staple against (`sslmode=require` without a root file),
    /// or no issuer in the verified chain (the leaf is itself the trust anchor).
    NoRootCert,
    /// `OCSP_basic_verify` against the client's root store (the certificates the server sent
    /// as untrusted helpers) failed.
    Untrusted,
    /// No SingleResponse for the server certificate's CertID.
    WrongCert,
    /// The certificate status is `revoked`.
    Revoked,
    /// The certificate status is `unknown`.
    StatusUnknown,
    /// nextUpdate has passed.
    Expired,
    /// thisUpdate is in the future.
    NotYetValid,
    /// Another time problem (nextUpdate before thisUpdate, unreadable times).
    TimesInvalid,
}

impl OcspVerdict {
    /// The kebab-case name it is serialized as.
    pub fn name(self) -> &'static str {
        match self {
            OcspVerdict::NoRootCert => "no-root-cert",
            OcspVerdict::StapleMissing => "staple-missing",
            OcspVerdict::Unparsable => "unparsable",
            OcspVerdict::Unsuccessful => "unsuccessful",
            OcspVerdict::NoBasicResponse => "no-basic-response",
            OcspVerdict::Untrusted => "untrusted",
            OcspVerdict::WrongCert => "wrong-cert",
            OcspVerdict::Revoked => "revoked",
            OcspVerdict::StatusUnknown => "status-unknown",
            OcspVerdict::Expired => "expired",
            OcspVerdict::NotYetValid => "not-yet-valid",
            OcspVerdict::TimesInvalid => "times-invalid",
        }
    }

    /// The outcome class of a rejected staple.
    pub fn class(self) -> FailureClass {
        match self {
            OcspVerdict::NoRootCert => FailureClass::RootCertMissing,
            OcspVerdict::StapleMissing => FailureClass::OcspStapleMissing,
            OcspVerdict::Unparsable | OcspVerdict::NoBasicResponse | OcspVerdict::TimesInvalid => {
                FailureClass::OcspResponseInvalid
            }
            OcspVerdict::Unsuccessful => FailureClass::OcspResponseUnsuccessful,
            OcspVerdict::Untrusted => FailureClass::OcspResponseUntrusted,
            OcspVerdict::WrongCert => FailureClass::OcspResponseWrongCert,
            // The same verdict a CRL listing the certificate gives: the certificate is revoked.
            OcspVerdict::Revoked => FailureClass::ServerCertRevoked,
            OcspVerdict::StatusUnknown => FailureClass::OcspStatusUnknown,
            OcspVerdict::Expired => FailureClass::OcspResponseExpired,
            OcspVerdict::NotYetValid => FailureClass::OcspResponseNotYetValid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_round_trip() {
        for class in FailureClass::ALL {
            assert_eq!(FailureClass::from_name(class.name()), Some(*class));
        }
        assert_eq!(FailureClass::from_name("connected"), None);
    }

    #[test]
    fn basis_names_are_their_serde_names_and_stay_out_of_snapshots() {
        use Basis::*;
        let all = [
            Sqlstate,
            HbaEvaluation,
            TlsAlert,
            VerifyCode,
            OcspVerdict,
            ServerLog,
            ClientCheck,
            MessageWording,
            Harness,
            Unrecorded,
        ];
        for b in all {
            assert_eq!(serde_json::to_string(&b).unwrap(), format!("\"{}\"", b.name()));
        }
        let o = Outcome::harness_failure(FailureClass::Timeout, "x");
        assert!(serde_json::to_string(&o).unwrap().contains(r#""basis":"harness""#));
        assert!(!without_basis(|| serde_json::to_string(&o).unwrap()).contains("basis"));
        let old: Failure = serde_json::from_str(r#"{"class":"timeout","side":"harness","detail":""}"#).unwrap();
        assert_eq!(old.basis, Unrecorded);
    }

    #[test]
    fn ocsp_verdict_names_are_their_serde_names() {
        use OcspVerdict::*;
        let all = [
            NoRootCert,
            StapleMissing,
            Unparsable,
            Unsuccessful,
            NoBasicResponse,
            Untrusted,
            WrongCert,
            Revoked,
            StatusUnknown,
            Expired,
            NotYetValid,
            TimesInvalid,
        ];
        for v in all {
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{}\"", v.name()));
        }
    }
}
