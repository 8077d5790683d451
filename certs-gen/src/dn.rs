//! Distinguished names: parsing the two textual forms, building `X509Name`, and rendering.
//!
//! Two input forms are accepted because both appear in the material we reproduce:
//! `/O=PGDG/OU=Engineering/CN=x` (openssl `-subj`, written in encoding order) and
//! `CN=x,OU=Engineering,O=PGDG` (RFC 4514, written most-specific first, i.e. reversed).
//! Repeated attribute types are kept, which is why a DN is a list and not a map.

use openssl::x509::{X509Name, X509NameBuilder};

/// A parsed DN in encoding order (first element = first RDN in the certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dn {
    pub attrs: Vec<(Attr, String)>,
}

/// An attribute type: a name OpenSSL knows (its short name) or a dotted OID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attr {
    Named(&'static str),
    Oid(String),
}

impl Attr {
    fn as_str(&self) -> &str {
        match self {
            Attr::Named(s) => s,
            Attr::Oid(s) => s,
        }
    }
}

/// Accepted spellings (case-insensitive) → OpenSSL short name.
const ATTRS: &[(&str, &str)] = &[
    ("cn", "CN"),
    ("commonname", "CN"),
    ("o", "O"),
    ("ou", "OU"),
    ("c", "C"),
    ("st", "ST"),
    ("l", "L"),
    ("dc", "DC"),
    ("emailaddress", "emailAddress"),
    ("email", "emailAddress"),
    ("e", "emailAddress"),
    ("serialnumber", "serialNumber"),
    ("street", "street"),
    ("title", "title"),
    ("gn", "GN"),
    ("givenname", "GN"),
    ("sn", "SN"),
    ("surname", "SN"),
    ("uid", "UID"),
    ("postalcode", "postalCode"),
    ("initials", "initials"),
    ("pseudonym", "pseudonym"),
    ("dnqualifier", "dnQualifier"),
    ("name", "name"),
];

/// Whether `s` looks like `2.5.4.45`.
pub(crate) fn is_dotted_oid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() >= 2 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn attr(name: &str) -> Result<Attr, String> {
    let lower = name.to_ascii_lowercase();
    if let Some((_, short)) = ATTRS.iter().find(|(k, _)| *k == lower) {
        return Ok(Attr::Named(short));
    }
    if is_dotted_oid(name) {
        return Ok(Attr::Oid(name.to_owned()));
    }
    Err(format!(
        "unknown attribute type {name:?} (use CN, O, OU, C, ST, L, DC, emailAddress, serialNumber, … or a dotted OID)"
    ))
}

/// Parses either form; `""` (or `"/"`) is the empty DN.
pub(crate) fn parse(s: &str) -> Result<Dn, String> {
    let (body, sep, reversed) = match s.strip_prefix('/') {
        Some(rest) => (rest, '/', false),
        None => (s, ',', true),
    };
    if body.trim().is_empty() {
        return Ok(Dn { attrs: Vec::new() });
    }
    let mut attrs = split_unescaped(body, sep)?
        .into_iter()
        .map(|part| parse_component(&part, reversed))
        .collect::<Result<Vec<_>, _>>()?;
    if reversed {
        attrs.reverse();
    }
    Ok(Dn { attrs })
}

/// One piece between separators, escapes still in place.
fn split_unescaped(s: &str, sep: char) -> Result<Vec<String>, String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next().ok_or("a trailing backslash escapes nothing")?;
                let part = parts.last_mut().ok_or("internal: no part")?;
                part.push('\\');
                part.push(next);
            }
            c if c == sep => parts.push(String::new()),
            c => parts.last_mut().ok_or("internal: no part")?.push(c),
        }
    }
    Ok(parts)
}

fn parse_component(part: &str, rfc4514: bool) -> Result<(Attr, String), String> {
    let (ty, raw) = part.split_once('=').ok_or_else(|| format!("{:?} is not of the form TYPE=value", part.trim()))?;
    let ty = ty.trim();
    if rfc4514 && has_unescaped(raw, '+') {
        return Err("multi-valued RDNs (`+`) are not supported; write `\\+` for a literal plus".into());
    }
    let value = unescape(trim_end_unescaped(raw).trim_start())?;
    if value.is_empty() {
        return Err(format!("attribute {ty} has an empty value"));
    }
    Ok((attr(ty)?, value))
}

fn has_unescaped(s: &str, needle: char) -> bool {
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == needle {
            return true;
        }
    }
    false
}

/// Resolves `\,`-style escapes and RFC 4514 `\c3\a9` hex pairs.
fn unescape(s: &str) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let first = chars.next().ok_or("a trailing backslash escapes nothing")?;
        match (first.to_digit(16), chars.peek().and_then(|c| c.to_digit(16))) {
            (Some(hi), Some(lo)) => {
                chars.next();
                bytes.push((hi * 16 + lo) as u8);
            }
            _ => {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(first.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    String::from_utf8(bytes).map_err(|_| "hex escapes do not form valid UTF-8".to_owned())
}

/// Drops trailing spaces unless escaped (`a\ ` keeps one space, RFC 4514).
fn trim_end_unescaped(raw: &str) -> &str {
    let mut end = raw.len();
    while raw[..end].ends_with(' ') {
        let backslashes = raw[..end - 1].bytes().rev().take_while(|&b| b == b'\\').count();
        if backslashes % 2 == 1 {
            break;
        }
        end -= 1;
    }
    &raw[..end]
}

/// Builds the OpenSSL name. Values go in as UTF-8 and OpenSSL picks the string type per
/// attribute like `openssl req -utf8`: UTF8String in general, PrintableString for C and
/// serialNumber, IA5String for DC and emailAddress (as RFC 5280 requires).
pub(crate) fn build(dn: &Dn) -> Result<X509Name, String> {
    let mut b = X509NameBuilder::new().map_err(|e| e.to_string())?;
    for (attr, value) in &dn.attrs {
        b.append_entry_by_text(attr.as_str(), value)
            .map_err(|e| format!("OpenSSL rejected {}={value:?}: {}", attr.as_str(), first_reason(&e)))?;
    }
    Ok(b.build())
}

fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors().first().and_then(|e| e.reason().map(str::to_owned)).unwrap_or_else(|| e.to_string())
}

/// RFC 4514 rendering (most specific first), as PostgreSQL shows `clientname=DN` values.
/// Non-ASCII text stays UTF-8, matching PostgreSQL's `XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB`.
pub(crate) fn render(dn: &Dn) -> String {
    dn.attrs.iter().rev().map(|(a, v)| format!("{}={}", a.as_str(), escape(v))).collect::<Vec<_>>().join(",")
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dn: &Dn) -> Vec<(String, String)> {
        dn.attrs.iter().map(|(a, v)| (a.as_str().to_owned(), v.clone())).collect()
    }

    #[test]
    fn rfc4514_is_reversed_and_keeps_repeats() {
        let dn = parse("CN=ssltestuser-dn,OU=Testing,OU=Engineering,O=PGDG").unwrap();
        let expect = [("O", "PGDG"), ("OU", "Engineering"), ("OU", "Testing"), ("CN", "ssltestuser-dn")];
        let expect: Vec<_> = expect.iter().map(|(a, v)| (a.to_string(), v.to_string())).collect();
        assert_eq!(names(&dn), expect);
        assert_eq!(render(&dn), "CN=ssltestuser-dn,OU=Testing,OU=Engineering,O=PGDG");
    }

    #[test]
    fn slash_form_is_encoding_order() {
        let dn = parse("/DC=com/DC=example/CN=x").unwrap();
        assert_eq!(render(&dn), "CN=x,DC=example,DC=com");
    }

    #[test]
    fn escapes_and_spaces() {
        let dn = parse(r"CN=a\,b, O=x\+y ,2.5.4.45=z").unwrap();
        let got = names(&dn);
        assert_eq!(got[2], ("CN".to_owned(), "a,b".to_owned()));
        assert_eq!(got[1], ("O".to_owned(), "x+y".to_owned()));
        assert_eq!(got[0], ("2.5.4.45".to_owned(), "z".to_owned()));
        assert_eq!(parse(r"CN=\c3\a9").unwrap().attrs[0].1, "é");
    }

    #[test]
    fn errors() {
        assert!(parse("CN").is_err());
        assert!(parse("XX=1").is_err());
        assert!(parse("CN=a+OU=b").is_err());
        assert!(parse("CN=").is_err());
        assert!(parse(r"CN=a\").is_err());
        assert!(build(&parse("C=USA").unwrap()).is_err());
    }

    #[test]
    fn empty() {
        assert!(parse("").unwrap().attrs.is_empty());
        assert!(parse("/").unwrap().attrs.is_empty());
    }
}
