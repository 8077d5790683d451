//! PostgreSQL versions and the version ranges scenarios gate on (`pg = ">=14, <17"`).

use std::cmp::Ordering;
use std::fmt;

/// A PostgreSQL server version. Pre-releases (`19rc1`, `18beta2`, `20devel`) sort before the
/// release of their major, but requirements compare them as their major: a release candidate
/// has its major's features, so `>=19` admits `19rc1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PgVersion {
    pub major: u32,
    pub minor: u32,
    /// True for beta/rc/devel builds.
    pub prerelease: bool,
}

impl PgVersion {
    /// Parses `15.18`, `17`, `19rc1`, `18beta2`, `20devel`, or the `postgres --version`
    /// output `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`.
    pub fn parse(text: &str) -> Option<PgVersion> {
        let word = text.split_whitespace().find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
        let digits_end = word.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(word.len());
        let (num, suffix) = word.split_at(digits_end);
        let mut parts = num.split('.').filter(|p| !p.is_empty());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
        Some(PgVersion { major, minor, prerelease: !suffix.is_empty() })
    }

    /// Lets a pre-release of major N satisfy requirements written for N: scenario authors
    /// gate features by major, and a release candidate has its major's features.
    fn comparable(self) -> PgVersion {
        PgVersion { prerelease: false, ..self }
    }
}

impl Ord for PgVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, !self.prerelease).cmp(&(other.major, other.minor, !other.prerelease))
    }
}

impl PartialOrd for PgVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for PgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.prerelease {
            f.write_str(" (pre-release)")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

/// A comma-separated term of a version requirement that is not `<op><version>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{part}` is not a version comparison")]
pub struct VersionReqError {
    pub part: String,
}

/// A conjunction of comparisons, e.g. `>=14, <17`. A bare `15` means "major 15".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionReq {
    text: String,
    terms: Vec<(Op, PgVersion, bool)>,
}

impl VersionReq {
    pub fn parse(text: &str) -> Result<VersionReq, VersionReqError> {
        let mut terms = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (op, rest) = split_op(part);
            let has_minor = rest.contains('.');
            let version = PgVersion::parse(rest)
                .filter(|v| !v.prerelease)
                .ok_or_else(|| VersionReqError { part: part.to_owned() })?;
            terms.push((op, version, has_minor));
        }
        Ok(VersionReq { text: text.to_owned(), terms })
    }

    pub fn matches(&self, v: PgVersion) -> bool {
        let v = v.comparable();
        self.terms.iter().all(|&(op, want, has_minor)| {
            // Without a minor, compare majors only: `<=16` admits 16.9.
            let (a, b) = if has_minor {
                ((v.major, v.minor), (want.major, want.minor))
            } else {
                ((v.major, 0), (want.major, 0))
            };
            match op {
                Op::Ge => a >= b,
                Op::Gt => a > b,
                Op::Le => a <= b,
                Op::Lt => a < b,
                Op::Eq => a == b,
            }
        })
    }

    /// Both requirements at once.
    pub fn and(&self, other: &VersionReq) -> VersionReq {
        let mut terms = self.terms.clone();
        terms.extend(other.terms.iter().copied());
        VersionReq { text: format!("{}, {}", self.text, other.text), terms }
    }

    /// The majors the comparisons name: whether a major matches can only change next to them.
    pub fn majors(&self) -> impl Iterator<Item = u32> + '_ {
        self.terms.iter().map(|(_, v, _)| v.major)
    }
}

impl fmt::Display for VersionReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn split_op(s: &str) -> (Op, &str) {
    for (prefix, op) in [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt), ("==", Op::Eq), ("=", Op::Eq)] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return (op, rest.trim());
        }
    }
    (Op::Eq, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> PgVersion {
        PgVersion::parse(s).unwrap()
    }

    #[test]
    fn parses_server_version_strings() {
        assert_eq!(
            v("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            PgVersion { major: 15, minor: 18, prerelease: false }
        );
        assert_eq!(v("19rc1"), PgVersion { major: 19, minor: 0, prerelease: true });
        assert_eq!(v("13.23"), PgVersion { major: 13, minor: 23, prerelease: false });
    }

    #[test]
    fn ranges_compare_majors_unless_minor_given() {
        let r = VersionReq::parse(">=14, <17").unwrap();
        assert!(r.matches(v("14.0")) && r.matches(v("16.9")) && !r.matches(v("13.23")) && !r.matches(v("17.1")));
        assert!(VersionReq::parse("15").unwrap().matches(v("15.18")));
        assert!(VersionReq::parse(">=19").unwrap().matches(v("19rc1")));
        assert!(!VersionReq::parse(">=15.19").unwrap().matches(v("15.18")));
        assert!(VersionReq::parse(">=fifteen").is_err());
    }
}
