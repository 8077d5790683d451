//! The report as a matrix: rows are scenario › case, columns are server × client. Shared by
//! the Markdown summary (the HTML page builds the same matrix in its script).

use std::collections::BTreeMap;

use super::schema::Report;
use crate::runner::{ClientResult, Verdict};

/// One row: a case, with the result of every (server, client) that ran it.
pub struct Row<'a> {
    pub scenario: &'a str,
    pub case: &'a str,
    /// Keyed by (server position in the report, client name).
    pub cells: BTreeMap<(usize, &'a str), &'a ClientResult>,
}

impl Row<'_> {
    /// Clients whose outcome class differs between servers (skips aside).
    pub fn clients_differing_across_servers(&self) -> Vec<&str> {
        let mut by_client: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for ((_, client), cr) in &self.cells {
            if !matches!(cr.verdict, Verdict::Skip { .. }) {
                by_client.entry(client).or_default().push(cr.outcome.class_name());
            }
        }
        by_client.into_iter().filter(|(_, classes)| distinct(classes) > 1).map(|(c, _)| c).collect()
    }
}

fn distinct(v: &[&str]) -> usize {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.dedup();
    v.len()
}

/// The rows of a report, in result order (scenario name, then file order of cases).
pub fn rows(report: &Report) -> Vec<Row<'_>> {
    let mut rows: Vec<Row> = Vec::new();
    let mut index: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for r in &report.results {
        let server = report.servers.iter().position(|s| s.label == r.server).unwrap_or(usize::MAX);
        for c in &r.cases {
            let i = *index.entry((r.scenario.as_str(), c.name.as_str())).or_insert_with(|| {
                rows.push(Row { scenario: &r.scenario, case: &c.name, cells: BTreeMap::new() });
                rows.len() - 1
            });
            for cr in &c.results {
                rows[i].cells.insert((server, cr.client.as_str()), cr);
            }
        }
    }
    rows
}

/// Counts of one server's (or any group's) results by verdict.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub diverged: usize,
    pub skipped: usize,
}

impl Tally {
    /// Adds one result.
    pub fn add(&mut self, v: &Verdict) {
        match v {
            Verdict::Pass => self.passed += 1,
            Verdict::Fail { .. } => self.failed += 1,
            Verdict::KnownDivergence { .. } => self.diverged += 1,
            Verdict::Skip { .. } => self.skipped += 1,
        }
    }

    /// Counts every client result of a report, per server label and client.
    pub fn per_server_client(report: &Report) -> BTreeMap<(usize, String), Tally> {
        let mut out: BTreeMap<(usize, String), Tally> = BTreeMap::new();
        for r in &report.results {
            let server = report.servers.iter().position(|s| s.label == r.server).unwrap_or(usize::MAX);
            for cr in r.cases.iter().flat_map(|c| &c.results) {
                out.entry((server, cr.client.clone())).or_default().add(&cr.verdict);
            }
        }
        out
    }

    /// Counts every client result of a report.
    pub fn of(report: &Report) -> Tally {
        let mut t = Tally::default();
        for cr in report.results.iter().flat_map(|r| &r.cases).flat_map(|c| &c.results) {
            t.add(&cr.verdict);
        }
        t
    }
}
