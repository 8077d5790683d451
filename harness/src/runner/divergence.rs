//! The known-divergence registry: differences between clients that are understood.
//!
//! When a client's outcome class differs from a case's expectation, the case fails unless an
//! entry names that client, matches the case (`<scenario>/<case>` glob, `*` any run of
//! characters), and lists exactly the expected and the actual class, with a reason and,
//! where one exists, an upstream reference. Entries that match nothing in a run are reported
//! as stale, so the registry shrinks when clients converge.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;

use super::error::{RunnerError, RunnerErrorKind as Kind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    #[serde(default, rename = "divergence")]
    entries: Vec<Entry>,
}

/// One understood difference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub client: String,
    /// `<scenario name>/<case name>` glob.
    pub case: String,
    pub expected: String,
    pub actual: String,
    pub reason: String,
    pub reference: Option<String>,
    #[serde(skip)]
    hits: AtomicUsize,
}

/// The registry for a run.
#[derive(Debug, Default)]
pub struct Registry {
    pub entries: Vec<Entry>,
}

impl Registry {
    pub fn load(path: &Path) -> Result<Registry, RunnerError> {
        if !path.exists() {
            return Ok(Registry::default());
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| RunnerError::with(Kind::Registry, format!("failed to read {}", path.display()), e))?;
        let raw: RawRegistry = toml::from_str(&text)
            .map_err(|e| RunnerError::with(Kind::Registry, format!("failed to load {}", path.display()), e))?;
        Ok(Registry { entries: raw.entries })
    }

    /// The entry explaining `client` getting `actual` where `expected` was expected.
    pub fn explain(&self, client: &str, case_path: &str, expected: &str, actual: &str) -> Option<&Entry> {
        let e = self
            .entries
            .iter()
            .find(|e| e.client == client && e.expected == expected && e.actual == actual && glob(&e.case, case_path))?;
        e.hits.fetch_add(1, Ordering::Relaxed);
        Some(e)
    }

    /// Entries that explained nothing although a case they name ran for their client;
    /// `ran` holds `(client, "<scenario>/<case>")` of every attempt that was not skipped.
    pub fn stale<'a>(&'a self, ran: &[(String, String)]) -> Vec<&'a Entry> {
        self.entries
            .iter()
            .filter(|e| e.hits.load(Ordering::Relaxed) == 0)
            .filter(|e| ran.iter().any(|(client, case)| *client == e.client && glob(&e.case, case)))
            .collect()
    }
}

/// Does `pattern` (with `*` wildcards) match all of `text`?
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len())
                    .any(|i| text.is_char_boundary(head.len() + i) && glob(rest, &text[head.len() + i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("docs/*/not-yet-valid*", "docs/expiry/not-yet-valid server"));
        assert!(!glob("docs/a", "docs/ab"));
        assert!(glob("*", "anything"));
    }
}
