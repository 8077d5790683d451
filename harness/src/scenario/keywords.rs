//! The libpq connection keywords a scenario may set, with what kind of value each takes.
//!
//! Scenario files use libpq's own keyword names verbatim. This table is the one place that
//! knows them: which take PKI references (and of what kind), which are secrets that must never
//! reach a command line, and since which libpq major each exists (used for hints; the clients
//! detect support themselves).

/// How a keyword's value is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Passed through as written.
    Plain,
    /// Passed through, never on a command line or in a snapshot.
    Secret,
    /// A certificate file: PKI entity names joined with `+`, `"missing"`, `""`, or `"system"`.
    RootCert,
    /// A certificate (chain) file: PKI entity names joined with `+`, `"missing"` or `""`.
    Cert,
    /// A private key file: a PKI entity or an extra key file name, `"missing"` or `""`.
    Key,
    /// A CRL file: CA entity names joined with `+`, `"missing"` or `""`.
    Crl,
    /// A hashed CRL directory: CA entity names joined with `+`, `"missing"` or `""`.
    CrlDir,
    /// An OCSP response file: the name of an `[ocsp.<name>]` table, `"missing"` or `""`.
    Ocsp,
    /// A file the client writes, relative to the case's scratch directory.
    OutputFile,
}

/// One libpq connection keyword.
#[derive(Debug, Clone, Copy)]
pub struct Keyword {
    pub name: &'static str,
    pub kind: ValueKind,
    /// libpq major that introduced it; `None` for keywords of unreleased patches.
    pub since: Option<u32>,
}

const fn kw(name: &'static str, kind: ValueKind, since: u32) -> Keyword {
    Keyword { name, kind, since: Some(since) }
}

use ValueKind::*;

/// Every keyword scenario files may set. `port` is absent on purpose: the harness owns it.
pub const KEYWORDS: &[Keyword] = &[
    kw("host", Plain, 7),
    kw("hostaddr", Plain, 7),
    kw("user", Plain, 7),
    kw("dbname", Plain, 7),
    kw("password", Secret, 7),
    kw("application_name", Plain, 9),
    kw("connect_timeout", Plain, 7),
    kw("options", Plain, 7),
    kw("sslmode", Plain, 8),
    kw("sslrootcert", RootCert, 8),
    kw("sslcert", Cert, 8),
    kw("sslkey", Key, 8),
    kw("sslpassword", Secret, 13),
    kw("sslcrl", Crl, 8),
    kw("sslcrldir", CrlDir, 14),
    kw("sslsni", Plain, 14),
    kw("sslcompression", Plain, 9),
    kw("sslcertmode", Plain, 16),
    kw("sslnegotiation", Plain, 17),
    kw("sslkeylogfile", OutputFile, 18),
    kw("ssl_min_protocol_version", Plain, 13),
    kw("ssl_max_protocol_version", Plain, 13),
    kw("channel_binding", Plain, 13),
    kw("require_auth", Plain, 16),
    kw("gssencmode", Plain, 12),
    // From the OCSP stapling patch (not in any release; our own patch for 18 keeps the v2
    // name and accepts the v1 name `ssl_ocsp_stapling` as an alias). A libpq without it
    // rejects the keyword, so such cases are skipped for it with that reason.
    Keyword { name: "sslocspstapling", kind: Plain, since: None },
    Keyword { name: "ssl_ocsp_stapling", kind: Plain, since: None },
];

/// Looks a keyword up by name.
pub fn keyword(name: &str) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|k| k.name == name)
}

/// The closest known keyword, for "did you mean" hints.
pub fn closest(name: &str) -> Option<&'static str> {
    crate::util::closest(name, KEYWORDS.iter().map(|k| k.name))
}

/// Settings the harness owns: a scenario may not set them.
pub const HARNESS_SETTINGS: &[&str] = &[
    "port",
    "listen_addresses",
    "unix_socket_directories",
    "data_directory",
    "config_file",
    "hba_file",
    "ident_file",
    "logging_collector",
    "log_destination",
    "log_line_prefix",
    "log_error_verbosity",
    "lc_messages",
];

/// postgresql.conf settings whose value is a PKI reference, and of which kind.
pub fn file_setting_kind(setting: &str) -> Option<ValueKind> {
    match setting {
        "ssl_cert_file" => Some(Cert),
        "ssl_key_file" => Some(Key),
        "ssl_ca_file" => Some(Cert),
        "ssl_crl_file" => Some(Crl),
        "ssl_crl_dir" => Some(CrlDir),
        // The OCSP stapling patch's server setting: a DER response from `[ocsp.<name>]`.
        "ssl_ocsp_file" => Some(Ocsp),
        _ => None,
    }
}
