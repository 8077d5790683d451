//! The Rust client's view of libpq keywords: defaults and validation as in libpq's
//! `connectOptions2` and `initialize_SSL`, each error with libpq's own wording.

use std::net::IpAddr;
use std::path::PathBuf;

use openssl::ssl::SslVersion;

use super::tls::protocol_version;
use crate::client::ConnectRequest;

/// Validated settings for one connection.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The case's query, run after the session query.
    pub query: Option<String>,
    /// The case's cancel action.
    pub cancel: bool,
    /// The case's `SSL_CERT_FILE` and `SSL_CERT_DIR`, for the system roots.
    pub cert_file_env: Option<String>,
    pub cert_dir_env: Option<String>,
    pub host: String,
    pub hostaddr: Option<IpAddr>,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    pub password: Option<String>,
    pub application_name: Option<String>,
    pub sslmode: SslMode,
    pub rootcert: String,
    pub cert: String,
    pub key: String,
    pub sslpassword: String,
    pub crl: String,
    pub crldir: String,
    pub sni: bool,
    pub certmode: CertMode,
    pub direct: bool,
    pub min_protocol: Option<SslVersion>,
    pub max_protocol: Option<SslVersion>,
    pub channel_binding: ChannelBindingMode,
    pub keylog: Option<PathBuf>,
    /// `sslocspstapling=1`: require a good OCSP staple.
    pub ocsp_stapling: bool,
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// libpq's `sslcertmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertMode {
    Disable,
    Allow,
    Require,
}

/// libpq's `channel_binding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelBindingMode {
    Disable,
    Prefer,
    Require,
}

impl SslMode {
    const ALL: [(&'static str, SslMode); 6] = [
        ("disable", SslMode::Disable),
        ("allow", SslMode::Allow),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, m)| *m == self).map_or("", |(n, _)| n)
    }

    /// Whether the server certificate is verified whatever files exist.
    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// The variant named `value`, or libpq's message for an invalid value of `keyword`.
fn parse_value<T: Copy>(keyword: &str, value: &str, all: &[(&str, T)]) -> Result<T, String> {
    all.iter()
        .find(|(n, _)| *n == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| format!("invalid {keyword} value: \"{value}\""))
}

/// Keywords the Rust client implements; anything else set in a case makes it skip.
pub const SUPPORTED: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "dbname",
    "password",
    "application_name",
    "connect_timeout",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslcompression",
    "sslcertmode",
    "sslnegotiation",
    "sslkeylogfile",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "channel_binding",
    "sslocspstapling",
    "ssl_ocsp_stapling",
];

/// Parses and validates; `Err` is libpq's message for a parameter it would reject.
pub fn parse(req: &ConnectRequest) -> Result<Settings, String> {
    let get = |k: &str| req.get(k).unwrap_or("").to_owned();
    let rootcert = get("sslrootcert");
    let explicit_mode = req.get("sslmode").is_some();
    // libpq 16: sslrootcert=system makes verify-full the default.
    let default_mode = if rootcert == "system" { "verify-full" } else { "prefer" };
    let sslmode = parse_value("sslmode", req.get("sslmode").unwrap_or(default_mode), &SslMode::ALL)?;
    if rootcert == "system" && sslmode != SslMode::VerifyFull && explicit_mode {
        return Err(format!(
            "weak sslmode \"{}\" may not be used with sslrootcert=system (use \"verify-full\")",
            sslmode.as_str()
        ));
    }
    let negotiations = [("postgres", false), ("direct", true)];
    let direct = parse_value("sslnegotiation", req.get("sslnegotiation").unwrap_or("postgres"), &negotiations)?;
    if direct && !matches!(sslmode, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull) {
        return Err(format!(
            "weak sslmode \"{}\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")",
            sslmode.as_str()
        ));
    }
    let certmodes = [("disable", CertMode::Disable), ("allow", CertMode::Allow), ("require", CertMode::Require)];
    let certmode = parse_value("sslcertmode", req.get("sslcertmode").unwrap_or("allow"), &certmodes)?;
    let bindings = [
        ("disable", ChannelBindingMode::Disable),
        ("prefer", ChannelBindingMode::Prefer),
        ("require", ChannelBindingMode::Require),
    ];
    let channel_binding = parse_value("channel_binding", req.get("channel_binding").unwrap_or("prefer"), &bindings)?;
    let min_protocol =
        protocol_version("ssl_min_protocol_version", req.get("ssl_min_protocol_version").unwrap_or("TLSv1.2"))?;
    let max_protocol = protocol_version("ssl_max_protocol_version", req.get("ssl_max_protocol_version").unwrap_or(""))?;
    if let (Some(min), Some(max)) = (min_protocol, max_protocol)
        && rank(min) > rank(max)
    {
        return Err("invalid SSL protocol version range".into());
    }
    let hostaddr = match req.get("hostaddr").filter(|h| !h.is_empty()) {
        Some(h) => Some(h.parse().map_err(|_| format!("could not parse network address \"{h}\""))?),
        None => None,
    };
    let port = get("port").parse().map_err(|_| format!("invalid port number: \"{}\"", get("port")))?;
    let ocsp_stapling = ocsp_stapling(req)?;
    Ok(Settings {
        query: req.query.clone(),
        cancel: req.cancel,
        cert_file_env: req.env.iter().find(|(k, _)| k == "SSL_CERT_FILE").map(|(_, v)| v.clone()),
        cert_dir_env: req.env.iter().find(|(k, _)| k == "SSL_CERT_DIR").map(|(_, v)| v.clone()),
        host: get("host"),
        hostaddr,
        port,
        user: req.get("user").unwrap_or("postgres").to_owned(),
        dbname: req
            .get("dbname")
            .map(str::to_owned)
            .unwrap_or_else(|| req.get("user").unwrap_or("postgres").to_owned()),
        password: req.get("password").map(str::to_owned),
        application_name: req.get("application_name").map(str::to_owned),
        sslmode,
        rootcert,
        cert: get("sslcert"),
        key: get("sslkey"),
        sslpassword: get("sslpassword"),
        crl: get("sslcrl"),
        crldir: get("sslcrldir"),
        sni: req.get("sslsni").is_none_or(|v| v != "0"),
        certmode,
        direct,
        min_protocol,
        max_protocol,
        channel_binding,
        keylog: req.get("sslkeylogfile").filter(|p| !p.is_empty()).map(PathBuf::from),
        ocsp_stapling,
    })
}

/// `sslocspstapling` (or the patch's v1 name `ssl_ocsp_stapling`), else `PGSSLOCSPSTAPLING`
/// from the case's environment, else off; `""`, `0` and `1` are the values the patch accepts.
fn ocsp_stapling(req: &ConnectRequest) -> Result<bool, String> {
    let env = req.env.iter().find(|(k, _)| k == "PGSSLOCSPSTAPLING").map(|(_, v)| v.as_str());
    let value = req.get("sslocspstapling").or_else(|| req.get("ssl_ocsp_stapling")).or(env).unwrap_or("0");
    match value {
        "" | "0" => Ok(false),
        "1" => Ok(true),
        other => Err(format!("invalid sslocspstapling value: \"{other}\"")),
    }
}

fn rank(v: SslVersion) -> u8 {
    match v {
        SslVersion::TLS1 => 1,
        SslVersion::TLS1_1 => 2,
        SslVersion::TLS1_2 => 3,
        _ => 4,
    }
}
