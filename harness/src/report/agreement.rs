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
            a.server,
            a.client,
            a.reference,
            a.cells,
            a.agreeing,
            a.registered_divergences,
            a.unexplained,
            a.skipped
        );
    }
    out
}
