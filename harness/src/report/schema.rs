//! The JSON report: the versioned source of truth every other report is rendered from.
//!
//! `pgtls run --json` writes a [`Report`]; `pgtls report` and `pgtls diff` read it back. The
//! schema is described field by field in `docs/report-schema.md`. [`SCHEMA_VERSION`] changes
//! when a field is removed or changes meaning; adding a field does not change it, so readers
//! accept unknown fields (no `deny_unknown_fields` here, unlike scenario files, which people
//! write by hand).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runner::ScenarioResult;
use crate::scenario::Scenario;
use crate::server::ServerInfo;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The minor version this build writes: a minor adds optional fields a reader of an older
/// minor ignores, so readers accept any minor of [`SCHEMA_VERSION`]. 1 added `agreement`;
/// 2 a failure's `basis`.
pub const SCHEMA_MINOR: u32 = 2;

/// One run (or several merged): metadata, then every scenario result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// [`SCHEMA_MINOR`] of the writer (absent, i.e. 0, before minor 1).
    #[serde(default)]
    pub schema_minor: u32,
    /// `pgtls <version>` of the writer.
    pub generator: String,
    /// When the run started, RFC 3339 in UTC.
    pub started_at: String,
    /// Wall time of the run; for a merged report, the sum over its parts.
    pub duration_ms: u64,
    /// Which shards this report holds; absent when it holds the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<ShardSet>,
    /// The `--filter` of the run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Every server of the run, in the order results list them.
    pub servers: Vec<ServerMeta>,
    /// The scenarios the results come from (a shard's own; a merge has them all), by name.
    pub scenarios: Vec<ScenarioMeta>,
    /// The known-divergence registry the run judged with, and its stale entries.
    pub divergences: Divergences,
    /// Per server and client, agreement with the reference client on the cases it judged
    /// (`expect = "reference"`); absent when no case is judged so. Since minor 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agreement: Vec<super::agreement::Agreement>,
    /// One result per scenario and server, ordered by scenario name, then server.
    pub results: Vec<ScenarioResult>,
}

/// The shards of a `--shard K/N` partition a report holds (1-based `indices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSet {
    pub total: usize,
    pub indices: Vec<usize>,
}

/// A server the run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMeta {
    /// Label used by results (`ScenarioResult::server`), e.g. `native 15.18`.
    pub label: String,
    /// `native` or `docker`.
    pub backend: String,
    pub major: u32,
    /// `major.minor`, with ` (pre-release)` for beta/rc/devel builds.
    pub version: String,
    /// `postgres --version` output.
    pub version_text: String,
    /// The `ssl_library` setting; absent for builds without SSL support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_library: Option<String>,
    /// The clients run against this server.
    pub clients: Vec<ClientMeta>,
}

/// A client, with its version where it is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMeta {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A scenario file, for locating its cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioMeta {
    pub name: String,
    /// The file, relative to the working directory of the run when it is below it.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub cases: Vec<CaseMeta>,
}

/// Where a case is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseMeta {
    pub name: String,
    /// 1-based line of the case's `[[case]]` table.
    pub line: usize,
    /// The case's text, from its `[[case]]` line to the next case.
    pub source: String,
}

/// The divergence registry of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Divergences {
    pub entries: Vec<DivergenceEntry>,
    /// Entries that explained nothing although a case they name ran for their client; absent
    /// when the report does not hold the whole run (a shard, a `--filter` run), where the
    /// check cannot be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<Vec<DivergenceEntry>>,
}

/// One entry of `divergences.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DivergenceEntry {
    pub client: String,
    pub case: String,
    pub expected: String,
    pub actual: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Failure to read or write a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("failed to read report {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("failed to parse report {}: {source} (hint: is it the file `pgtls run --json` wrote?)", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error(
        "report {} has schema version {found}; this pgtls reads version {SCHEMA_VERSION} (hint: use the pgtls that wrote it)",
        path.display()
    )]
    Version { path: PathBuf, found: u32 },
    #[error("failed to write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("failed to merge reports: {0}")]
    Merge(String),
}

impl Report {
    /// Reads a report written by `pgtls run --json` (or `pgtls report --json`).
    pub fn load(path: &Path) -> Result<Report, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read { path: path.into(), source })?;
        Report::parse(&text, path)
    }

    /// Parses report text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Report, ReportError> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let parse_error = |source| ReportError::Parse { path: path.into(), source };
        let v: Version = serde_json::from_str(text).map_err(parse_error)?;
        if v.schema_version != SCHEMA_VERSION {
            return Err(ReportError::Version { path: path.into(), found: v.schema_version });
        }
        serde_json::from_str(text).map_err(parse_error)
    }

    /// Writes the report as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<(), ReportError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| ReportError::Write { path: path.into(), source: std::io::Error::other(e) })?;
        write(path, text.as_bytes())
    }

    /// The server a result ran on.
    pub fn server(&self, label: &str) -> Option<&ServerMeta> {
        self.servers.iter().find(|s| s.label == label)
    }

    /// The metadata of a scenario.
    pub fn scenario(&self, name: &str) -> Option<&ScenarioMeta> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// Whether the report holds the whole run (no missing shard, no filter), so that absent
    /// results mean absent cases.
    pub fn is_whole(&self) -> bool {
        self.shards.is_none() && self.filter.is_none()
    }

    /// Puts results in the canonical order: scenario name, then the server's position.
    pub fn sort(&mut self) {
        let pos = |label: &str| self.servers.iter().position(|s| s.label == label).unwrap_or(usize::MAX);
        let mut keyed: Vec<_> =
            std::mem::take(&mut self.results).into_iter().map(|r| ((r.scenario.clone(), pos(&r.server)), r)).collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        self.results = keyed.into_iter().map(|(_, r)| r).collect();
        self.scenarios.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// Writes a report file.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Write { path: path.into(), source })
}

impl ServerMeta {
    /// The metadata of a server and the clients run against it.
    pub fn new(info: &ServerInfo, clients: Vec<ClientMeta>) -> ServerMeta {
        ServerMeta {
            label: info.label.clone(),
            backend: info.label.split_whitespace().next().unwrap_or("").to_owned(),
            major: info.version.major,
            version: info.version.to_string(),
            version_text: info.version_text.trim().to_owned(),
            ssl_library: info.ssl_library.clone(),
            clients,
        }
    }

    /// `native 15.18`, `docker 19rc1`: backend and version as the server prints it, for
    /// column headers.
    pub fn short(&self) -> String {
        format!("{} {}", self.backend, self.printed_version())
    }

    /// The version as `postgres --version` prints it: `15.18`, `19rc1`.
    pub fn printed_version(&self) -> &str {
        let printed = self.version_text.split_once(')').map_or(self.version_text.as_str(), |(_, rest)| rest);
        printed.split_whitespace().find(|w| w.starts_with(|c: char| c.is_ascii_digit())).unwrap_or(&self.version)
    }
}

impl ScenarioMeta {
    /// Where the scenario and its cases are written; `text` is the file's content.
    pub fn new(s: &Scenario, text: &str) -> ScenarioMeta {
        let lines: Vec<&str> = text.lines().collect();
        let mut starts: Vec<usize> = s.cases.iter().map(|c| c.line).collect();
        starts.sort_unstable();
        starts.dedup();
        let cases = s
            .cases
            .iter()
            .map(|c| {
                let source = match &c.cell {
                    Some(cell) => cell_source(cell),
                    None => case_source(&lines, c.line, &starts),
                };
                CaseMeta { name: c.name.clone(), line: c.line, source }
            })
            .collect();
        ScenarioMeta { name: s.name.clone(), file: display_path(&s.path), description: s.description.clone(), cases }
    }

    /// The case's metadata.
    pub fn case(&self, name: &str) -> Option<&CaseMeta> {
        self.cases.iter().find(|c| c.name == name)
    }
}

/// A `[[case]]` table's text: from its line to the next case's (or the end of the file).
fn case_source(lines: &[&str], line: usize, starts: &[usize]) -> String {
    let from = line.saturating_sub(1).min(lines.len());
    let next = starts.iter().find(|&&l| l > line);
    let to = next.map_or(lines.len(), |n| n.saturating_sub(1)).clamp(from, lines.len());
    let mut block = &lines[from..to];
    // Comments and blank lines before the next case introduce that case.
    while let [rest @ .., last] = block
        && (last.trim().is_empty() || last.trim_start().starts_with('#'))
    {
        block = rest;
    }
    block.join("\n")
}

/// What a `[matrix]` cell is made of: each axis value and what it sets.
fn cell_source(cell: &crate::scenario::Cell) -> String {
    let mut out = String::from("# a [matrix] cell: one value of each axis");
    for (axis, value, text) in &cell.values {
        out.push_str(&format!("\n{axis} = {value:?}"));
        if !text.is_empty() {
            out.push_str(&format!("    # {text}"));
        }
    }
    out
}

/// A path relative to the working directory when it is below it.
fn display_path(p: &Path) -> String {
    let rel = std::env::current_dir().ok().and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_owned));
    rel.unwrap_or_else(|| p.to_owned()).to_string_lossy().into_owned()
}

/// The current time as RFC 3339 in UTC (seconds precision).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
