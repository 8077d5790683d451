//! Subject alternative names: `DNS:`, `IP:`, `email:` and `URI:` entries as written in specs.

use std::net::IpAddr;

/// One parsed SAN entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum San {
    Dns(String),
    Ip(IpAddr),
    Email(String),
    Uri(String),
}

impl San {
    /// Parses `PREFIX:value`; the prefix is case-insensitive.
    pub(crate) fn parse(s: &str) -> Result<San, String> {
        let (prefix, value) =
            s.split_once(':').ok_or("expected PREFIX:value with PREFIX one of DNS, IP, email, URI")?;
        match prefix.to_ascii_lowercase().as_str() {
            // Anything non-empty is allowed on purpose: PostgreSQL's suite stores an IP
            // literal and a wildcard as dNSName to test how clients match them.
            "dns" => ia5(value, "DNS name").map(San::Dns),
            "ip" => value.parse().map(San::Ip).map_err(|_| format!("{value:?} is not an IPv4 or IPv6 address")),
            "email" => ia5(value, "email address").map(San::Email),
            "uri" if !value.contains(':') => Err(format!("URI {value:?} has no scheme")),
            "uri" => ia5(value, "URI").map(San::Uri),
            _ => Err(format!("unknown prefix {prefix:?} (use DNS, IP, email or URI)")),
        }
    }

    /// Canonical `PREFIX:value` text (IPv6 in RFC 5952 form, as OpenSSL prints it... lowercased).
    pub(crate) fn render(&self) -> String {
        match self {
            San::Dns(v) => format!("DNS:{v}"),
            San::Ip(ip) => format!("IP:{ip}"),
            San::Email(v) => format!("email:{v}"),
            San::Uri(v) => format!("URI:{v}"),
        }
    }
}

/// SAN strings are IA5String: non-empty printable ASCII without spaces.
fn ia5(value: &str, what: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err(format!("empty {what}"));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{what} {value:?} must be printable ASCII without spaces"));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_prefixes() {
        assert_eq!(San::parse("DNS:*.w.test").unwrap(), San::Dns("*.w.test".into()));
        assert_eq!(San::parse("dns:192.0.2.1").unwrap(), San::Dns("192.0.2.1".into()));
        assert_eq!(San::parse("IP:2001:DB8::1").unwrap().render(), "IP:2001:db8::1");
        assert_eq!(San::parse("email:a@b.test").unwrap(), San::Email("a@b.test".into()));
        assert_eq!(San::parse("URI:https://x.test/").unwrap(), San::Uri("https://x.test/".into()));
    }

    #[test]
    fn rejects_bad_entries() {
        for bad in ["DNS:", "IP:300.1.1.1", "IP:", "foo:bar", "nocolon", "URI:x", "DNS:a b", "DNS:é"] {
            assert!(San::parse(bad).is_err(), "{bad}");
        }
    }
}
