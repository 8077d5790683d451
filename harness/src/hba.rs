//! Evaluates the scenario's pg_hba lines for a connection, the way the server does.
//!
//! Below both the server (which renders the lines) and classification (which splits SQLSTATE
//! 28000 by the line the connection matched).
//!
//! SQLSTATE 28000 covers "no pg_hba.conf entry", "pg_hba.conf rejects connection" and
//! "connection requires a valid client certificate" alike, and the server sends no finer code.
//! The harness wrote the pg_hba file itself, so instead of reading the message it finds the
//! line the server matched (first match wins: connection type, database, user, address) and
//! classifies by that line's method and options. Constructs it cannot evaluate (`@file`,
//! host names, `samenet`) yield [`HbaMatch::Unknown`], never a guess.

use std::net::IpAddr;

use crate::scenario::Role;

/// One connection, as far as pg_hba matching is concerned.
#[derive(Debug, Clone)]
pub struct HbaQuery<'a> {
    pub ssl: bool,
    pub database: &'a str,
    pub user: &'a str,
    /// The client's address; `None` for a Unix-socket connection (`local` lines).
    pub addr: Option<IpAddr>,
}

/// A parsed pg_hba line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaLine {
    /// 1-based line number in the file the harness wrote.
    pub line_no: usize,
    pub method: String,
    /// `clientcert=verify-ca|verify-full` (or the pre-14 `1`).
    pub clientcert: Option<String>,
}

impl HbaLine {
    /// True when this line demands a client certificate.
    pub fn requires_cert(&self) -> bool {
        self.method == "cert" || self.clientcert.as_deref().is_some_and(|v| !matches!(v, "no-verify" | "0"))
    }

    /// True when the certificate's name must match the user (cert auth, verify-full).
    pub fn checks_cert_name(&self) -> bool {
        self.method == "cert" || self.clientcert.as_deref() == Some("verify-full")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HbaMatch {
    Line(HbaLine),
    NoMatch,
    Unknown(String),
}

/// Finds the first line matching `q`. `lines` are the file's lines in order; `roles` give
/// role membership for `+group` entries.
pub fn evaluate(lines: &[String], q: &HbaQuery, roles: &[Role]) -> HbaMatch {
    for (i, raw) in lines.iter().enumerate() {
        let tokens = tokenize(raw);
        if tokens.is_empty() {
            continue;
        }
        match match_line(&tokens, q, roles) {
            Ok(Some(mut line)) => {
                line.line_no = i + 1;
                return HbaMatch::Line(line);
            }
            Ok(None) => {}
            Err(why) => return HbaMatch::Unknown(format!("line {}: {why}", i + 1)),
        }
    }
    HbaMatch::NoMatch
}

/// Splits a line into tokens; quoted tokens keep a leading `"` marker so keywords like
/// `all` can be told from a quoted `"all"`.
fn tokenize(line: &str) -> Vec<String> {
    let line = line.split('#').next().unwrap_or("");
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_token = false;
    for ch in line.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                if !cur.starts_with('"') {
                    cur.insert(0, '"');
                }
                in_token = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_token {
                    out.push(std::mem::take(&mut cur));
                    in_token = false;
                }
            }
            c => {
                cur.push(c);
                in_token = true;
            }
        }
    }
    if in_token {
        out.push(cur);
    }
    out
}

fn match_line(t: &[String], q: &HbaQuery, roles: &[Role]) -> Result<Option<HbaLine>, String> {
    let ty = t[0].as_str();
    let tcp = q.addr.is_some();
    let type_ok = match ty {
        "local" => !tcp,
        "host" => tcp,
        "hostssl" => tcp && q.ssl,
        "hostnossl" => tcp && !q.ssl,
        "hostgssenc" => false,
        "hostnogssenc" => tcp,
        other => return Err(format!("unknown connection type `{other}`")),
    };
    let (db, user, rest) = match (t.get(1), t.get(2)) {
        (Some(db), Some(user)) => (db, user, &t[3..]),
        _ => return Err("too few fields".into()),
    };
    let (addr_ok, rest) = match q.addr {
        // A local line has no address field.
        _ if ty == "local" => (true, rest),
        Some(addr) => match_address(rest, addr)?,
        None => (false, rest),
    };
    if !type_ok
        || !addr_ok
        || !match_list(db, q.database, q.user, roles, true)?
        || !match_list(user, q.user, q.user, roles, false)?
    {
        return Ok(None);
    }
    let method = rest.first().ok_or("no authentication method")?.clone();
    let clientcert = rest[1..].iter().find_map(|o| o.strip_prefix("clientcert=")).map(str::to_owned);
    Ok(Some(HbaLine { line_no: 0, method, clientcert }))
}

/// Matches a comma-separated database or user list.
fn match_list(list: &str, value: &str, user: &str, roles: &[Role], is_db: bool) -> Result<bool, String> {
    for item in list.split(',') {
        let (quoted, name) = match item.strip_prefix('"') {
            Some(n) => (true, n),
            None => (false, item),
        };
        let hit = match name {
            _ if quoted => name == value,
            "all" => true,
            "sameuser" if is_db => value == user,
            "samerole" | "samegroup" if is_db => is_member(user, value, roles),
            "replication" if is_db => false,
            n if n.starts_with('@') => return Err(format!("`{n}` includes a file")),
            n if n.starts_with('+') => is_member(value, &n[1..], roles),
            n if n.starts_with('/') => regex::Regex::new(&n[1..]).map_err(|e| e.to_string())?.is_match(value),
            n => n == value,
        };
        if hit {
            return Ok(true);
        }
    }
    Ok(false)
}

fn is_member(user: &str, group: &str, roles: &[Role]) -> bool {
    user == group || roles.iter().any(|r| r.name == user && r.member_of.iter().any(|g| g == group))
}

/// Matches the address field(s); returns the remaining tokens (method and options).
fn match_address(t: &[String], addr: IpAddr) -> Result<(bool, &[String]), String> {
    let first = t.first().ok_or("no address")?;
    match first.as_str() {
        "all" => return Ok((true, &t[1..])),
        "samehost" => return Ok((addr.is_loopback(), &t[1..])),
        "samenet" => return Err("`samenet` depends on the host's interfaces".into()),
        _ => {}
    }
    if let Some((ip, bits)) = first.split_once('/') {
        let ip: IpAddr = ip.parse().map_err(|_| format!("bad address `{first}`"))?;
        let bits: u32 = bits.parse().map_err(|_| format!("bad prefix length in `{first}`"))?;
        return Ok((in_prefix(addr, ip, bits), &t[1..]));
    }
    if let Ok(ip) = first.parse::<IpAddr>() {
        let mask: IpAddr = t.get(1).and_then(|m| m.parse().ok()).ok_or("address without mask")?;
        return Ok((in_prefix(addr, ip, mask_bits(mask)), &t[2..]));
    }
    Err(format!("host name `{first}` in the address field"))
}

fn in_prefix(addr: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits.min(32)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits.min(128)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn mask_bits(mask: IpAddr) -> u32 {
    match mask {
        IpAddr::V4(m) => u32::from(m).count_ones(),
        IpAddr::V6(m) => u128::from(m).count_ones(),
    }
}

/// The line with a loopback address (`127.0.0.1/32`, `127.0.0.1 255.255.255.255`, `::1/128`,
/// `samehost`) replaced by `all`. For a server in a container, the harness's clients arrive
/// from the Docker bridge; "the client's own address" is then `all` for every client there is.
pub fn widen_loopback(line: &str) -> String {
    let tokens = tokenize(line);
    if tokens.len() < 4 || !tokens[0].starts_with("host") {
        return line.to_owned();
    }
    let addr = tokens[3].as_str();
    let loopback_mask = tokens.get(4).is_some_and(|m| m == "255.255.255.255");
    let (is_loopback, used) = match addr {
        "127.0.0.1/32" | "::1/128" | "samehost" => (true, 1),
        "127.0.0.1" if loopback_mask => (true, 2),
        a if a.starts_with("127.") && a.ends_with("/8") => (true, 1),
        _ => (false, 0),
    };
    if !is_loopback {
        return line.to_owned();
    }
    let mut out: Vec<String> = tokens[..3].iter().map(|t| requote(t)).collect();
    out.push("all".into());
    out.extend(tokens[3 + used..].iter().map(|t| requote(t)));
    out.join(" ")
}

/// A token as written: tokenize() marks quoted tokens with a leading `"`.
fn requote(t: &str) -> String {
    match t.strip_prefix('"') {
        Some(inner) => format!("\"{inner}\""),
        None => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q<'a>(ssl: bool, database: &'a str, user: &'a str) -> HbaQuery<'a> {
        HbaQuery { ssl, database, user, addr: Some("127.0.0.1".parse().unwrap()) }
    }

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_owned).collect()
    }

    #[test]
    fn unix_socket_connections_match_only_local_lines() {
        let hba = lines("host all all 127.0.0.1/32 trust\nlocal postgres localuser md5\nlocal all all reject");
        let socket = |user| HbaQuery { ssl: false, database: "postgres", user, addr: None };
        assert!(
            matches!(evaluate(&hba, &socket("localuser"), &[]), HbaMatch::Line(l) if l.line_no == 2 && l.method == "md5")
        );
        assert!(matches!(evaluate(&hba, &socket("testuser"), &[]), HbaMatch::Line(l) if l.method == "reject"));
        assert!(matches!(evaluate(&hba, &q(false, "postgres", "localuser"), &[]), HbaMatch::Line(l) if l.line_no == 1));
        assert_eq!(evaluate(&lines("hostnossl all all all trust"), &socket("x"), &[]), HbaMatch::NoMatch);
    }

    #[test]
    fn first_match_wins_with_ssl_state() {
        let hba = lines(
            "hostnossl all all 0.0.0.0/0 reject\n\
             hostssl certdb all 127.0.0.1/32 cert\n\
             hostssl \"trustdb\" md5testuser 127.0.0.1 255.255.255.255 md5\n\
             hostssl verifydb all 127.0.0.1/32 trust clientcert=verify-full",
        );
        let m = |ssl, db, user| evaluate(&hba, &q(ssl, db, user), &[]);
        assert!(matches!(m(false, "certdb", "x"), HbaMatch::Line(l) if l.method == "reject" && l.line_no == 1));
        assert!(matches!(m(true, "certdb", "x"), HbaMatch::Line(l) if l.requires_cert()));
        assert!(matches!(m(true, "trustdb", "md5testuser"), HbaMatch::Line(l) if l.method == "md5"));
        assert!(matches!(m(true, "verifydb", "a"), HbaMatch::Line(l) if l.checks_cert_name()));
        assert_eq!(m(true, "postgres", "a"), HbaMatch::NoMatch);
    }

    #[test]
    fn loopback_lines_are_widened_for_containers() {
        assert_eq!(
            widen_loopback("hostssl certdb all 127.0.0.1/32 cert clientname=DN map=dn"),
            "hostssl certdb all all cert clientname=DN map=dn"
        );
        assert_eq!(
            widen_loopback("hostssl \"trustdb\" md5testuser 127.0.0.1 255.255.255.255 md5"),
            "hostssl \"trustdb\" md5testuser all md5"
        );
        assert_eq!(widen_loopback("hostnossl all all 0.0.0.0/0 reject"), "hostnossl all all 0.0.0.0/0 reject");
    }

    #[test]
    fn unknown_constructs_are_not_guessed() {
        let hba = lines("host all all db.example.com trust");
        assert!(matches!(evaluate(&hba, &q(true, "a", "b"), &[]), HbaMatch::Unknown(_)));
    }
}
