//! Assembles a [`Report`] from a finished run, and decides stale divergence entries from
//! results alone, so a merged report is checked exactly as a whole run is.

use super::schema::{
    ClientMeta, DivergenceEntry, Divergences, Report, SCHEMA_MINOR, SCHEMA_VERSION, ScenarioMeta, ServerMeta, ShardSet,
};
use crate::runner::{Registry, ScenarioResult, Target, Verdict, glob};
use crate::scenario::Scenario;

/// What a run knows besides its results.
pub struct RunMeta<'a> {
    pub scenarios: &'a [Scenario],
    pub targets: &'a [Target],
    pub registry: &'a Registry,
    /// RFC 3339 start time ([`super::now_rfc3339`]).
    pub started_at: String,
    pub duration_ms: u64,
    /// `--shard K/N` as `(K, N)`.
    pub shard: Option<(usize, usize)>,
    pub filter: Option<String>,
}

/// The report of a run; stale divergence entries are decided when it holds the whole run.
pub fn assemble(meta: RunMeta<'_>, results: Vec<ScenarioResult>) -> Report {
    let servers = meta
        .targets
        .iter()
        .map(|t| {
            let clients =
                t.clients.iter().map(|c| ClientMeta { name: c.name().to_owned(), version: c.version() }).collect();
            ServerMeta::new(t.backend.info(), clients)
        })
        .collect();
    let scenarios = meta
        .scenarios
        .iter()
        .map(|s| ScenarioMeta::new(s, &std::fs::read_to_string(&s.path).unwrap_or_default()))
        .collect();
    let entries = meta.registry.entries.iter().map(DivergenceEntry::from).collect();
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        schema_minor: SCHEMA_MINOR,
        generator: generator(),
        started_at: meta.started_at,
        duration_ms: meta.duration_ms,
        shards: meta.shard.map(|(k, n)| ShardSet { total: n, indices: vec![k] }),
        filter: meta.filter,
        servers,
        scenarios,
        divergences: Divergences { entries, stale: None },
        agreement: Vec::new(),
        results,
    };
    report.sort();
    report.agreement = super::agreement::agreement(&report.results);
    check_stale(&mut report);
    report
}

/// `pgtls <version>` of this build.
pub fn generator() -> String {
    format!("pgtls {}", env!("CARGO_PKG_VERSION"))
}

/// Decides the report's stale divergence entries when it holds the whole run, and clears
/// them when it does not (a shard cannot know whether another shard used an entry).
pub fn check_stale(report: &mut Report) {
    report.divergences.stale = report.is_whole().then(|| stale(&report.divergences.entries, &report.results));
}

/// Entries that explained no attempt although an attempt of a case they name ran (was not
/// skipped) for their client.
pub fn stale(entries: &[DivergenceEntry], results: &[ScenarioResult]) -> Vec<DivergenceEntry> {
    entries.iter().filter(|e| !explained_any(e, results) && ran_any(e, results)).cloned().collect()
}

fn attempts(results: &[ScenarioResult]) -> impl Iterator<Item = (String, &str, &crate::runner::ClientResult)> {
    results.iter().flat_map(|r| {
        r.cases.iter().flat_map(move |c| {
            c.results.iter().map(move |cr| (format!("{}/{}", r.scenario, c.name), c.expected.as_str(), cr))
        })
    })
}

fn explained_any(e: &DivergenceEntry, results: &[ScenarioResult]) -> bool {
    attempts(results).any(|(path, expected, cr)| {
        matches!(cr.verdict, Verdict::KnownDivergence { .. })
            && cr.client == e.client
            && expected == e.expected
            && cr.outcome.class_name() == e.actual
            && glob(&e.case, &path)
    })
}

fn ran_any(e: &DivergenceEntry, results: &[ScenarioResult]) -> bool {
    attempts(results).any(|(path, _, cr)| {
        !matches!(cr.verdict, Verdict::Skip { .. }) && cr.client == e.client && glob(&e.case, &path)
    })
}

impl From<&crate::runner::Entry> for DivergenceEntry {
    fn from(e: &crate::runner::Entry) -> Self {
        DivergenceEntry {
            client: e.client.clone(),
            case: e.case.clone(),
            expected: e.expected.clone(),
            actual: e.actual.clone(),
            reason: e.reason.clone(),
            reference: e.reference.clone(),
        }
    }
}
