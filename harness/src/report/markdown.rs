//! The Markdown summary for GitHub's job summary (`$GITHUB_STEP_SUMMARY`) and merge-request
//! comments: totals per server and client, failures with expected and actual, outcomes that
//! differ across servers, divergences. GitHub refuses a step summary over 1 MiB, so the text
//! stays within a byte budget: a section that does not fit ends with how many rows it left out.

use std::fmt::Write;

use super::matrix::{Row, Tally, rows};
use super::schema::Report;
use super::text::describe;
use crate::runner::Verdict;

/// GitHub's limit for one step's summary.
pub const GITHUB_SUMMARY_LIMIT: usize = 1024 * 1024;

/// The summary of `report` in at most `limit` bytes (keep some room below
/// [`GITHUB_SUMMARY_LIMIT`] when other steps append to the same summary).
pub fn markdown(report: &Report, limit: usize) -> String {
    let mut out = Budget::new(limit);
    header(report, &mut out);
    servers(report, &mut out);
    agreement(report, &mut out);
    let rows = rows(report);
    failures(report, &mut out);
    differences(report, &rows, &mut out);
    divergences(report, &mut out);
    out.finish()
}

/// Text that refuses lines past a limit, keeping room for each section's closing note.
struct Budget {
    text: String,
    limit: usize,
}

/// Room kept for a section's "… N more" note and the page's footer.
const RESERVE: usize = 512;

impl Budget {
    fn new(limit: usize) -> Self {
        Budget { text: String::new(), limit }
    }

    /// Appends `line` (and a newline) if it fits; false when it does not.
    fn line(&mut self, line: &str) -> bool {
        if self.text.len() + line.len() + 1 + RESERVE > self.limit {
            return false;
        }
        self.text.push_str(line);
        self.text.push('\n');
        true
    }

    /// Appends a note that must appear (it uses the reserve).
    fn note(&mut self, line: &str) {
        if self.text.len() + line.len() < self.limit {
            self.text.push_str(line);
            self.text.push('\n');
        }
    }

    /// Appends table rows while they fit, then a note of how many did not.
    fn rows(&mut self, rows: impl ExactSizeIterator<Item = String>, what: &str) {
        let total = rows.len();
        for (i, row) in rows.enumerate() {
            if !self.line(&row) {
                self.note(&format!("\n… and {} more {what} not shown (see the HTML or JUnit report)", total - i));
                return;
            }
        }
    }

    fn finish(self) -> String {
        self.text
    }
}

fn header(report: &Report, out: &mut Budget) {
    let t = Tally::of(report);
    let errors = report.results.iter().filter(|r| r.error.is_some()).count();
    let mark = if t.failed + errors == 0 { "✅" } else { "❌" };
    let mut line = format!(
        "## {mark} pgtls: {} passed, {} failed, {} skipped",
        t.passed + t.diverged,
        t.failed + errors,
        t.skipped
    );
    if t.diverged > 0 {
        let _ = write!(line, " ({} known divergences)", t.diverged);
    }
    out.line(&line);
    out.line("");
    let mut facts = format!("Started {}, {:.1} s", report.started_at, report.duration_ms as f64 / 1000.0);
    if let Some(s) = &report.shards {
        let list: Vec<String> = s.indices.iter().map(usize::to_string).collect();
        let _ = write!(facts, "; shards {} of {} only", list.join(", "), s.total);
    }
    if let Some(f) = &report.filter {
        let _ = write!(facts, "; filter `{}`", cell(f));
    }
    out.line(&(facts + "."));
    out.line("");
}

fn servers(report: &Report, out: &mut Budget) {
    out.line("| server | version | TLS library | client | passed | failed | known divergences | skipped |");
    out.line("|---|---|---|---|---:|---:|---:|---:|");
    let tallies = Tally::per_server_client(report);
    for (i, s) in report.servers.iter().enumerate() {
        for c in &s.clients {
            let t = tallies.get(&(i, c.name.clone())).copied().unwrap_or_default();
            let client = match &c.version {
                Some(v) => format!("{} ({})", c.name, cell(v)),
                None => c.name.clone(),
            };
            out.line(&format!(
                "| {} | {} | {} | {client} | {} | {} | {} | {} |",
                cell(&s.label),
                cell(s.printed_version()),
                s.ssl_library.as_deref().unwrap_or("none"),
                t.passed,
                t.failed,
                t.diverged,
                t.skipped
            ));
        }
    }
    out.line("");
}

/// Agreement with the reference client, where cases are judged by it.
fn agreement(report: &Report, out: &mut Budget) {
    if report.agreement.is_empty() {
        return;
    }
    out.line("Agreement with the reference client (`expect = \"reference\"`):");
    out.line("");
    out.line("| server | client | reference | cells | agreeing | registered divergences | unexplained | skipped |");
    out.line("|---|---|---|---:|---:|---:|---:|---:|");
    for a in &report.agreement {
        out.line(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&a.server),
            cell(&a.client),
            cell(&a.reference),
            a.cells,
            a.agreeing,
            a.registered_divergences,
            a.unexplained,
            a.skipped
        ));
    }
    out.line("");
}

fn failures(report: &Report, out: &mut Budget) {
    let errors: Vec<String> = report
        .results
        .iter()
        .filter_map(|r| r.error.as_ref().map(|e| format!("- `{}` on {}: {}", r.scenario, r.server, cell(e))))
        .collect();
    if !errors.is_empty() {
        out.line(&format!("### Harness errors ({})", errors.len()));
        out.line("");
        out.rows(errors.into_iter(), "errors");
        out.line("");
    }
    let mut lines = Vec::new();
    for r in &report.results {
        for c in &r.cases {
            for cr in &c.results {
                let Verdict::Fail { reasons } = &cr.verdict else { continue };
                lines.push(format!(
                    "| {} › {} | {} | {} | `{}` | {} | {} |",
                    cell(&r.scenario),
                    cell(&c.name),
                    cell(&r.server),
                    cr.client,
                    c.expected,
                    cell(&describe(&cr.outcome)),
                    cell(&reasons.join("; "))
                ));
            }
        }
    }
    if lines.is_empty() {
        return;
    }
    out.line(&format!("### Failures ({})", lines.len()));
    out.line("");
    out.line("| scenario › case | server | client | expected | actual | why |");
    out.line("|---|---|---|---|---|---|");
    out.rows(lines.into_iter(), "failures");
    out.line("");
}

fn differences(report: &Report, rows: &[Row], out: &mut Budget) {
    if report.servers.len() < 2 {
        return;
    }
    let mut lines = Vec::new();
    for row in rows {
        for client in row.clients_differing_across_servers() {
            let cells: Vec<String> = (0..report.servers.len())
                .map(|i| row.cells.get(&(i, client)).map_or("".to_owned(), |cr| cr.outcome.class_name().to_owned()))
                .collect();
            lines.push(format!("| {} › {} | {client} | {} |", cell(row.scenario), cell(row.case), cells.join(" | ")));
        }
    }
    if lines.is_empty() {
        return;
    }
    out.line(&format!("### Outcomes that differ across servers ({})", lines.len()));
    out.line("");
    let heads: Vec<String> = report.servers.iter().map(|s| cell(&s.short())).collect();
    out.line(&format!("| scenario › case | client | {} |", heads.join(" | ")));
    out.line(&format!("|---|---|{}", "---|".repeat(heads.len())));
    out.rows(lines.into_iter(), "differences");
    out.line("");
}

fn divergences(report: &Report, out: &mut Budget) {
    if let Some(stale) = &report.divergences.stale
        && !stale.is_empty()
    {
        out.line(&format!("### Stale divergence entries ({})", stale.len()));
        out.line("");
        let lines = stale.iter().map(|e| {
            format!("- client `{}` case `{}` ({} → {}): matched nothing", e.client, cell(&e.case), e.expected, e.actual)
        });
        out.rows(lines.collect::<Vec<_>>().into_iter(), "entries");
        out.line("");
    } else if report.divergences.stale.is_none() && !report.divergences.entries.is_empty() {
        out.line(
            "The divergence registry's stale-entry check needs the whole run: `pgtls report` runs it on merged shards.",
        );
        out.line("");
    }
}

/// Text safe inside a table cell: no pipes or newlines, bounded length.
fn cell(s: &str) -> String {
    const MAX: usize = 300;
    let mut t: String = s.replace('|', "\\|").replace(['\n', '\r'], " ");
    if t.len() > MAX {
        let cut = (0..=MAX).rev().find(|i| t.is_char_boundary(*i)).unwrap_or(0);
        t.truncate(cut);
        t.push('…');
    }
    t
}
