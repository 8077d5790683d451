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
    pub sslmode: String,
    pub rootcert: String,
    pub cert: String,
    pub key: String,
    pub sslpassword: String,
    pub crl: String,
    pub crldir: String,
    pub sni: bool,
    pub certmode: String,
    pub direct: bool,
    pub min_protocol: Option<SslVersion>,
    pub max_protocol: Option<SslVersion>,
    pub channel_binding: String,
    pub keylog: Option<PathBuf>,
    /// `sslocspstapling=1`: require a good OCSP staple.
    pub ocsp_stapling: bool,
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
    let sslmode = req.get("sslmode").unwrap_or(default_mode).to_owned();
    one_of("sslmode", &sslmode, &["disable", "allow", "prefer", "require", "verify-ca", "verify-full"])?;
    if rootcert == "system" && sslmode != "verify-full" && explicit_mode {
        return Err(format!(
            "weak sslmode \"{sslmode}\" may not be used with sslrootcert=system (use \"verify-full\")"
        ));
    }
    let negotiation = req.get("sslnegotiation").unwrap_or("postgres").to_owned();
    one_of("sslnegotiation", &negotiation, &["postgres", "direct"])?;
    let direct = negotiation == "direct";
    if direct && !matches!(sslmode.as_str(), "require" | "verify-ca" | "verify-full") {
        return Err(format!(
            "weak sslmode \"{sslmode}\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")"
        ));
    }
    let certmode = req.get("sslcertmode").unwrap_or("allow").to_owned();
    one_of("sslcertmode", &certmode, &["disable", "allow", "require"])?;
    let channel_binding = req.get("channel_binding").unwrap_or("prefer").to_owned();
    if !matches!(channel_binding.as_str(), "disable" | "prefer" | "require") {
        return Err(format!("invalid channel_binding value: \"{channel_binding}\""));
    }
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

fn one_of(keyword: &str, value: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&value) { Ok(()) } else { Err(format!("invalid {keyword} value: \"{value}\"")) }
}

fn rank(v: SslVersion) -> u8 {
    match v {
        SslVersion::TLS1 => 1,
        SslVersion::TLS1_1 => 2,
        SslVersion::TLS1_2 => 3,
        _ => 4,
    }
}
