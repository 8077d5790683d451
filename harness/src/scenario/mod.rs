//! The validated scenario model: every PKI reference resolved, every enum parsed.
//!
//! A scenario file goes through two layers (parse, don't validate): [`raw`] mirrors the file
//! with serde, [`load`] converts it into the types below and reports every problem with its
//! file, line, column, key path and a hint. Nothing downstream re-checks names.

mod keywords;
mod load;
mod locate;
mod matrix;
mod raw;
mod version;

use std::path::PathBuf;

pub use keywords::{HARNESS_SETTINGS, KEYWORDS, Keyword, ValueKind, keyword};
pub use load::{Diagnostic, ScenarioError, load_file, load_str};
pub use locate::KeyPath;
pub use version::{PgVersion, VersionReq, VersionReqError};

use crate::outcome::{FailureClass, Side};
use pgtls_certs::PkiSpec;

/// One scenario file.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name used in reports and snapshot names: the path relative to the scenario root,
    /// without the `.toml` extension (e.g. `docs/walkthrough-1-server-verification`).
    pub name: String,
    pub path: PathBuf,
    pub description: Option<String>,
    pub source: Option<String>,
    pub requires: Requires,
    /// The certificate layout, with every bundle, CRL file and CRL directory the scenario
    /// references added, so generation writes exactly what is used, and the scenario's
    /// `[ocsp]` responses.
    pub pki: PkiSpec,
    pub server: ServerSpec,
    pub cases: Vec<Case>,
}

/// What a scenario or case needs to run at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requires {
    pub pg: Option<VersionReq>,
    /// Server settings that must exist in the build under test.
    pub settings: Vec<String>,
    /// Needs to run as root (e.g. to make a key file owned by root).
    pub root: bool,
}

impl Requires {
    /// Both sets of requirements at once.
    pub fn and(&self, other: &Requires) -> Requires {
        let mut settings = self.settings.clone();
        settings.extend(other.settings.iter().cloned());
        Requires {
            pg: match (&self.pg, &other.pg) {
                (Some(a), Some(b)) => Some(a.and(b)),
                (a, b) => a.clone().or_else(|| b.clone()),
            },
            settings,
            root: self.root || other.root,
        }
    }
}

/// The server side of a scenario: its initial configuration.
#[derive(Debug, Clone, Default)]
pub struct ServerSpec {
    /// postgresql.conf settings in file order.
    pub conf: Vec<(String, SettingValue)>,
    pub hba: Vec<String>,
    pub ident: Vec<String>,
    pub roles: Vec<Role>,
    pub databases: Vec<String>,
    pub key_file: KeyFilePerms,
    /// Extra files next to the configuration, by name; `${cert:…}`-style placeholders in
    /// their text become server-side paths of generated files.
    pub files: Vec<(String, Vec<SettingValue>)>,
}

/// The value of a postgresql.conf setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// Written as a quoted literal.
    Literal(String),
    /// A file the harness writes (from the PKI) and points the setting at.
    File(FileRef),
}

/// A reference to a generated file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileRef {
    /// Certificates of these entities, concatenated in order (leaf first).
    Certs(Vec<String>),
    /// The private key of an entity, or an extra key file.
    Key(String),
    /// CRLs issued by these CAs, concatenated.
    Crls(Vec<String>),
    /// A hashed CRL directory holding the CRLs of these CAs.
    CrlDir(Vec<String>),
    /// The OCSP response file of `[ocsp.<name>]`.
    Ocsp(String),
    /// A path that does not exist (`"missing"`).
    Missing,
    /// The empty string (`""`): for libpq, "none"; for the server, "not set".
    Empty,
    /// A value passed through unchanged, e.g. `sslrootcert = "system"`.
    Verbatim(String),
    /// A file the client writes into the case's scratch directory.
    Output(String),
    /// One of the scenario's extra server files (`[server] files`), by name.
    Extra(String),
}

/// A role to create.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Role {
    pub name: String,
    pub password: Option<String>,
    pub password_encryption: PasswordEncryption,
    pub superuser: bool,
    pub member_of: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PasswordEncryption {
    ScramSha256,
    Md5,
}

impl PasswordEncryption {
    pub fn setting(self) -> &'static str {
        match self {
            PasswordEncryption::ScramSha256 => "scram-sha-256",
            PasswordEncryption::Md5 => "md5",
        }
    }
}

/// Owner, group and mode of the file behind `ssl_key_file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyFilePerms {
    pub mode: u32,
    pub owner: FileOwner,
    pub group: FileOwner,
}

impl Default for KeyFilePerms {
    fn default() -> Self {
        KeyFilePerms { mode: 0o600, owner: FileOwner::Server, group: FileOwner::Server }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOwner {
    /// The user (or group) the server runs as.
    Server,
    Root,
}

/// Client connection settings: libpq keywords to values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSettings(pub Vec<(&'static str, FileRefOr)>);

/// A client keyword's value: plain text, or a reference to a generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRefOr {
    Text(String),
    File(FileRef),
}

impl ClientSettings {
    pub fn get(&self, keyword: &str) -> Option<&FileRefOr> {
        self.0.iter().find(|(k, _)| *k == keyword).map(|(_, v)| v)
    }

    /// The plain-text value of a keyword, if it has one.
    pub fn text(&self, keyword: &str) -> Option<&str> {
        match self.get(keyword)? {
            FileRefOr::Text(t) => Some(t),
            FileRefOr::File(_) => None,
        }
    }

    /// Sets a keyword, replacing an earlier value.
    pub fn set(&mut self, keyword: &'static str, value: FileRefOr) {
        match self.0.iter_mut().find(|(k, _)| *k == keyword) {
            Some(slot) => slot.1 = value,
            None => self.0.push((keyword, value)),
        }
    }
}

/// One case: optional server changes, then one connection attempt per client.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// 1-based line of the case's `[[case]]` table in the file.
    pub line: usize,
    pub mirrors: Option<String>,
    pub source: Option<String>,
    pub requires: Requires,
    pub steps: Vec<Step>,
    /// The scenario's client defaults with the case's overrides applied.
    pub client: ClientSettings,
    /// SQL each client runs once connected; its result is part of the outcome.
    pub query: Option<String>,
    /// The cancel action: once connected (and after `query`), each client runs
    /// `SELECT pg_sleep(…)` and cancels it through its cancel API; what became of the cancel is
    /// part of the outcome ([`crate::outcome::CancelOutcome`]).
    pub cancel: bool,
    /// Environment variables the client runs with (e.g. `SSL_CERT_FILE` for
    /// `sslrootcert=system`); placeholders become paths of generated files.
    pub env: Vec<(String, Vec<SettingValue>)>,
    pub expect: Expectation,
    /// The `[matrix]` cell this case was generated from; `None` for a `[[case]]` table.
    pub cell: Option<Cell>,
}

/// One cell of a scenario's `[matrix]`: a value of every crossed axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// `(axis, value, what the value sets)` in `cross` order; the last is TOML-like text for
    /// reports (`client = { sslmode = "require" }`).
    pub values: Vec<(String, String, String)>,
}

impl Cell {
    /// The generated case name: `axis=value/axis=value/…`.
    pub fn name(&self) -> String {
        let parts: Vec<String> = self.values.iter().map(|(a, v, _)| format!("{a}={v}")).collect();
        parts.join("/")
    }
}

/// A change to the running server, applied before the case connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Set(Vec<(String, SettingValue)>),
    Reset(Vec<String>),
    Hba(Vec<String>),
    Ident(Vec<String>),
    KeyFile(KeyFilePerms),
    /// `CREATE EXTENSION IF NOT EXISTS` in every database of the scenario (and `postgres`).
    Extension(String),
    /// The configuration of the scenario's `[server]` tables again (settings, pg_hba,
    /// pg_ident, key file), whatever earlier steps wrote; loaded at the next reload or restart.
    Initial,
    Reload,
    Restart,
}

/// What a case expects of every client.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub outcome: ExpectedOutcome,
    pub sqlstate: Option<String>,
    pub message: Option<MessageExpectation>,
    pub alert: Option<u8>,
    pub side: Option<Side>,
    pub ssl: Option<bool>,
    pub protocol: Option<String>,
    pub client_cert: Option<bool>,
    pub client_dn: Option<String>,
    /// The PKI entity whose serial the client certificate must carry.
    pub client_serial: Option<String>,
    pub issuer_dn: Option<String>,
    pub user: Option<String>,
    /// The case query's result as `psql -At` prints it: `|` between columns, a newline
    /// between rows, NULL as the empty string.
    pub query_result: Option<String>,
    /// The SQLSTATE the case query fails with.
    pub query_sqlstate: Option<String>,
    /// The SQLSTATE the cancel action's query ends with.
    pub cancel_sqlstate: Option<String>,
    /// Whether the cancel action's requests travelled over TLS.
    pub cancel_ssl: Option<bool>,
    /// How every cancel connection opened (`ssl-request`, `direct-tls`, `plaintext`, …).
    pub cancel_opening: Option<String>,
    /// Files the client writes into its attempt directory (e.g. a TLS key log).
    pub files: Vec<FileExpectation>,
    /// Patterns each of which some report of the attempt's server log must match.
    pub log_like: Vec<LogPattern>,
    /// Patterns no report of the attempt's server log may match.
    pub log_unlike: Vec<LogPattern>,
}

/// What a file the client was told to write must look like after the attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileExpectation {
    /// Relative to the attempt's scratch directory, as client keywords name output files.
    pub name: String,
    pub exists: Option<bool>,
    pub world_access: Option<bool>,
}

/// A server-log regex and the server versions it applies to.
#[derive(Debug, Clone)]
pub struct LogPattern {
    pub re: regex::Regex,
    pub pg: Option<VersionReq>,
}

impl LogPattern {
    pub fn applies_to(&self, v: PgVersion) -> bool {
        self.pg.as_ref().is_none_or(|r| r.matches(v))
    }
}

impl Expectation {
    /// An expectation of the outcome class alone.
    pub fn of(outcome: ExpectedOutcome) -> Expectation {
        Expectation {
            outcome,
            sqlstate: None,
            message: None,
            alert: None,
            side: None,
            ssl: None,
            protocol: None,
            client_cert: None,
            client_dn: None,
            client_serial: None,
            issuer_dn: None,
            user: None,
            query_result: None,
            query_sqlstate: None,
            cancel_sqlstate: None,
            cancel_ssl: None,
            cancel_opening: None,
            files: Vec::new(),
            log_like: Vec::new(),
            log_unlike: Vec::new(),
        }
    }

    /// Whether checking needs the attempt's server log.
    pub fn reads_log(&self) -> bool {
        !self.log_like.is_empty() || !self.log_unlike.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedOutcome {
    Connected,
    Failed(FailureClass),
    /// Whatever the reference client (libpq of the build under test) did in the same case:
    /// the runner replaces it with that outcome before judging the other clients.
    Reference,
}

impl ExpectedOutcome {
    pub fn name(self) -> &'static str {
        match self {
            ExpectedOutcome::Connected => "connected",
            ExpectedOutcome::Failed(c) => c.name(),
            ExpectedOutcome::Reference => "reference",
        }
    }
}

/// A message regex for every client, or per client.
#[derive(Debug, Clone)]
pub enum MessageExpectation {
    All(regex::Regex),
    PerClient(Vec<(String, regex::Regex)>),
}

impl PartialEq for MessageExpectation {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::All(a), Self::All(b)) => a.as_str() == b.as_str(),
            (Self::PerClient(a), Self::PerClient(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && x.1.as_str() == y.1.as_str())
            }
            _ => false,
        }
    }
}

impl MessageExpectation {
    /// The regex that applies to a client, if any.
    pub fn for_client(&self, client: &str) -> Option<&regex::Regex> {
        match self {
            MessageExpectation::All(r) => Some(r),
            MessageExpectation::PerClient(v) => v.iter().find(|(c, _)| c == client).map(|(_, r)| r),
        }
    }
}
