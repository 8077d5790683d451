//! Times in specs: offsets from the run's clock (`-2d`, `+1h30m`, `now`) or RFC 3339 instants.
//!
//! Offsets keep scenarios valid forever (committed fixtures expire and break CI); absolute
//! times exist for reproducing fixtures with fixed windows, such as PostgreSQL's client certs.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

/// Resolves `s` against `now`; the result is in UTC with whole seconds, as X.509 stores it.
pub(crate) fn resolve(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let t = if s == "now" {
        now
    } else if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        t
    } else {
        now.checked_add(offset(s)?).ok_or("the time is out of range")?
    };
    let t = t.to_offset(UtcOffset::UTC).replace_nanosecond(0).map_err(|e| e.to_string())?;
    if !(1950..=9999).contains(&t.year()) {
        return Err(format!("year {} is outside 1950..=9999, which X.509 cannot encode", t.year()));
    }
    Ok(t)
}

/// `[+-]?(<digits><unit>)+` with units s, m, h, d, w, y (= 365 days).
fn offset(s: &str) -> Result<Duration, String> {
    const FORMAT: &str =
        "expected an offset like -2d, +30d or +1h30m (units s, m, h, d, w, y), `now`, or an RFC 3339 time";
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return Err(FORMAT.into());
    }
    let mut total = Duration::ZERO;
    let mut digits = String::new();
    for c in body.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = unit_seconds(c).ok_or_else(|| format!("unknown unit {c:?}; {FORMAT}"))?;
        let n: i64 = digits.parse().map_err(|_| FORMAT.to_owned())?;
        let secs = n.checked_mul(unit).ok_or("the offset is too large")?;
        total = total.checked_add(Duration::seconds(secs)).ok_or("the offset is too large")?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(format!("{digits:?} has no unit; {FORMAT}"));
    }
    Ok(if negative { -total } else { total })
}

fn unit_seconds(c: char) -> Option<i64> {
    Some(match c {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'y' => 365 * 86_400,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-01 12:00:00.5 UTC);

    #[test]
    fn offsets() {
        assert_eq!(resolve("-2d", NOW).unwrap(), datetime!(2025-12-30 12:00:00 UTC));
        assert_eq!(resolve("+1h30m", NOW).unwrap(), datetime!(2026-01-01 13:30:00 UTC));
        assert_eq!(resolve("1w", NOW).unwrap(), datetime!(2026-01-08 12:00:00 UTC));
        assert_eq!(resolve("now", NOW).unwrap(), datetime!(2026-01-01 12:00:00 UTC));
        assert_eq!(resolve("+100y", NOW).unwrap().year(), 2125);
    }

    #[test]
    fn absolute() {
        let t = resolve("2023-06-29T01:01:01Z", NOW).unwrap();
        assert_eq!(t, datetime!(2023-06-29 01:01:01 UTC));
    }

    #[test]
    fn errors() {
        for bad in ["", "-", "2", "-2x", "d", "+99999999999999y", "tomorrow", "+9000y"] {
            assert!(resolve(bad, NOW).is_err(), "{bad}");
        }
    }
}
