//! Agreement with the reference client: for each server and client, how many of the cases
//! judged by libpq (`expect = "reference"`) it agreed on, how many differ in a registered
//! way, and how many differ unexplained.
//!
//! Decided from results alone (each case names its reference), so a merged report counts
//! exactly as an unsharded run does.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::runner::{ScenarioResult, Verdict};

/// One client's agreement with the reference on one server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// `results[].server` of the cases counted.
    pub server: String,
    pub client: String,
    /// The client whose outcomes were the expectation (`libpq`).
    pub reference: String,
    /// Cases judged by the reference that this client ran (not skipped).
    pub cells: usize,
    /// … whose outcome met the reference's.
    pub agreeing: usize,
    /// … that differ and are explained by an entry of the divergence registry.
    pub registered_divergences: usize,
    /// … that differ without an entry (failures).
    pub unexplained: usize,
    /// Cases judged by the reference that were skipped for this client (the reference
    /// skipped them, or the client lacks a keyword).
    pub skipped: usize,
}

/// Every (server, client) with a case judged by a reference, in result order.
pub fn agreement(results: &[ScenarioResult]) -> Vec<Agreement> {
    let mut out: Vec<Agreement> = Vec::new();
    for r in results {
        for c in &r.cases {
            let Some(reference) = &c.reference else { continue };
            for cr in c.results.iter().filter(|cr| &cr.client != reference) {
                let row = row(&mut out, &r.server, &cr.client, reference);
                match cr.verdict {
                    Verdict::Skip { .. } => row.skipped += 1,
                    Verdict::Pass => row.agreeing += 1,
                    Verdict::KnownDivergence { .. } => row.registered_divergences += 1,
                    Verdict::Fail { .. } => row.unexplained += 1,
                }
                if !matches!(cr.verdict, Verdict::Skip { .. }) {
                    row.cells += 1;
                }
            }
        }
    }
    out
}

fn row<'a>(rows: &'a mut Vec<Agreement>, server: &str, client: &str, reference: &str) -> &'a mut Agreement {
    let at = rows.iter().position(|a| a.server == server && a.client == client && a.reference == reference);
    let i = at.unwrap_or_else(|| {
        rows.push(Agreement {
            server: server.to_owned(),
            client: client.to_owned(),
            reference: reference.to_owned(),
            ..Agreement::default()
        });
        rows.len() - 1
    });
    &mut rows[i]
}

/// The agreement table as `pgtls run` prints it; empty when no case is judged by a reference.
pub fn agreement_table(rows: &[Agreement]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        return out;
    }
    let width = rows.iter().map(|a| a.server.len()).max().unwrap_or(6).max(6);
    let _ = writeln!(out, "agreement with the reference client (expect = \"reference\"):");
    let _ = writeln!(
        out,
        "{:<width$}  {:<10} {:<9} {:>6} {:>9} {:>11} {:>12} {:>8}",
        "server", "client", "reference", "cells", "agreeing", "registered", "unexplained", "skipped"
    );
    for a in rows {
        let _ = writeln!(
            out,
            "{:<width$}  {:<10} {:<9} {:>6} {:>9} {:>11} {:>12} {:>8}",
            a.server, a.client, a.reference, a.cells, a.agreeing, a.registered_divergences, a.unexplained, a.skipped
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::runner::{CaseResult, ClientResult, Timings};

    fn result(client: &str, verdict: Verdict) -> ClientResult {
        let outcome = Outcome::Skipped { reason: String::new() };
        ClientResult { client: client.into(), outcome, verdict, elapsed_ms: 0.0, log_span: None }
    }

    #[test]
    fn only_cases_judged_by_a_reference_count_and_the_reference_is_not_judged() {
        let fail = Verdict::Fail { reasons: vec![] };
        let diverged = Verdict::KnownDivergence { reason: String::new(), reference: None };
        let skip = Verdict::Skip { reason: String::new() };
        let case = |reference: Option<&str>, rust: Verdict| CaseResult {
            name: "c".into(),
            mirrors: None,
            expected: "connected".into(),
            reference: reference.map(str::to_owned),
            results: vec![result("libpq", Verdict::Pass), result("rust", rust)],
        };
        let r = ScenarioResult {
            scenario: "m".into(),
            server: "native 15".into(),
            major: 15,
            skipped: None,
            error: None,
            cases: vec![
                case(Some("libpq"), Verdict::Pass),
                case(Some("libpq"), diverged),
                case(Some("libpq"), fail.clone()),
                case(Some("libpq"), skip),
                case(None, fail),
            ],
            timings: Timings::default(),
            server_log: String::new(),
        };
        let rows = agreement(&[r]);
        assert_eq!(rows.len(), 1, "{rows:?}");
        let a = &rows[0];
        assert_eq!((a.client.as_str(), a.reference.as_str()), ("rust", "libpq"));
        assert_eq!((a.cells, a.agreeing, a.registered_divergences, a.unexplained, a.skipped), (3, 1, 1, 1, 1));
        assert!(agreement_table(&rows).contains("native 15  rust"), "{}", agreement_table(&rows));
        assert!(agreement_table(&[]).is_empty());
    }
}
