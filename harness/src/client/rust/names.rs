//! libpq's `verify-full` host-name check, ported from `fe-secure-common.c` and
//! `pgtls_verify_peer_name_matches_certificate_guts` in `fe-secure-openssl.c`.
//!
//! OpenSSL's own `X509_check_host`/`X509_check_ip` differ from libpq: libpq matches an IP host
//! against a CN (and a dNSName holding an IP literal), checks the CN when the SANs hold only
//! the other type, accepts `inet_aton` spellings such as `192.000.002.001`, and allows one
//! leading `*.` label only. A client that claims libpq's semantics must follow these rules.

use std::ffi::CString;
use std::net::Ipv6Addr;

use openssl::nid::Nid;
use openssl::x509::{GeneralNameRef, X509Ref};

/// The result of a host-name check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameCheck {
    Match,
    /// libpq's error message for the mismatch (names the first certificate name).
    Mismatch(String),
}

/// Checks `host` against the certificate as libpq does for `sslmode=verify-full`.
pub fn check(cert: &X509Ref, host: &str) -> NameCheck {
    if host.is_empty() {
        return NameCheck::Mismatch("host name must be specified for a verified SSL connection".into());
    }
    let host_is_ip = inet_aton(host).is_some() || host.parse::<Ipv6Addr>().is_ok();
    let mut examined = 0usize;
    let mut first: Option<String> = None;
    let mut check_cn = true;
    let mut matched = false;
    if let Some(sans) = cert.subject_alt_names() {
        for name in sans.iter() {
            let (is_dns, is_ip) = (name.dnsname().is_some(), name.ipaddress().is_some());
            if (host_is_ip && is_ip) || (!host_is_ip && is_dns) {
                check_cn = false;
            }
            let Some((text, hit)) = compare(name, host) else { continue };
            examined += 1;
            first.get_or_insert(text);
            if hit {
                matched = true;
                check_cn = false;
                break;
            }
        }
    }
    if check_cn && let Some(cn) = cert.subject_name().entries_by_nid(Nid::COMMONNAME).next() {
        let text = String::from_utf8_lossy(cn.data().as_slice()).into_owned();
        examined += 1;
        matched = name_matches(&text, host);
        first.get_or_insert(text);
    }
    if matched {
        return NameCheck::Match;
    }
    NameCheck::Mismatch(match (examined, first) {
        (0, _) | (_, None) => "could not get server's host name from server certificate".into(),
        (1, Some(f)) => format!("server certificate for \"{f}\" does not match host name \"{host}\""),
        (n, Some(f)) => {
            let others = n - 1;
            let noun = if others == 1 { "name" } else { "names" };
            format!("server certificate for \"{f}\" (and {others} other {noun}) does not match host name \"{host}\"")
        }
    })
}

/// Compares one SAN with the host: its printable form and whether it matches. Other SAN
/// types (email, URI) are not examined, as in libpq.
fn compare(name: &GeneralNameRef, host: &str) -> Option<(String, bool)> {
    if let Some(dns) = name.dnsname() {
        return Some((dns.to_owned(), name_matches(dns, host)));
    }
    let ip = name.ipaddress()?;
    let text = match ip.len() {
        4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(ip);
            Ipv6Addr::from(b).to_string()
        }
        n => format!("<IP address of invalid length {n}>"),
    };
    let hit = match ip.len() {
        4 => inet_aton(host).is_some_and(|a| a == ip),
        16 => host.parse::<Ipv6Addr>().is_ok_and(|a| a.octets() == ip),
        _ => false,
    };
    Some((text, hit))
}

/// Exact (case-insensitive) or single-label wildcard match.
fn name_matches(pattern: &str, host: &str) -> bool {
    pattern.eq_ignore_ascii_case(host) || wildcard_matches(pattern, host)
}

/// `wildcard_certificate_match`: only a leading `*.`, and `*` never spans a dot.
fn wildcard_matches(pattern: &str, host: &str) -> bool {
    if pattern.len() < 3 || !pattern.starts_with("*.") || pattern.len() > host.len() {
        return false;
    }
    let suffix = &pattern[1..];
    let cut = host.len() - suffix.len();
    if !host.is_char_boundary(cut) || !host[cut..].eq_ignore_ascii_case(suffix) {
        return false;
    }
    !host[..cut].contains('.')
}

/// The C library's `inet_aton`, which libpq uses on purpose: it accepts octal, hex and short
/// forms that `inet_pton` rejects.
fn inet_aton(host: &str) -> Option<[u8; 4]> {
    let c = CString::new(host).ok()?;
    let mut addr = libc::in_addr { s_addr: 0 };
    unsafe extern "C" {
        fn inet_aton(cp: *const libc::c_char, inp: *mut libc::in_addr) -> libc::c_int;
    }
    // SAFETY: `c` is a valid NUL-terminated string and `addr` a valid out-pointer.
    let ok = unsafe { inet_aton(c.as_ptr(), &mut addr) };
    (ok != 0).then(|| addr.s_addr.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(wildcard_matches("*.wildcard.pg-ssltest.test", "foo.wildcard.pg-ssltest.test"));
        assert!(!wildcard_matches("*.wildcard.pg-ssltest.test", "deep.subdomain.wildcard.pg-ssltest.test"));
        assert!(!wildcard_matches("*.wildcard.pg-ssltest.test", "wildcard.pg-ssltest.test"));
    }

    #[test]
    fn inet_aton_accepts_libpq_spellings() {
        assert_eq!(inet_aton("192.000.002.001"), Some([192, 0, 2, 1]));
        assert_eq!(inet_aton("192.0.2.1"), Some([192, 0, 2, 1]));
        assert_eq!(inet_aton("wronghost.test"), None);
    }
}
