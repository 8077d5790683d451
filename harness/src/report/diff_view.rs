//! Renderings of a [`Diff`]: terminal text and Markdown (the HTML page is in `html.rs`).

use std::fmt::Write;

use super::diff::{Change, ChangeKind, Diff};

/// `3 changes (2 changed, 1 newly skipped)` or `no changes`.
pub fn headline(d: &Diff) -> String {
    if d.is_empty() {
        return "no changes".to_owned();
    }
    let kinds =
        [ChangeKind::Changed, ChangeKind::NewlySkipped, ChangeKind::Unskipped, ChangeKind::New, ChangeKind::Vanished];
    let parts: Vec<String> = kinds
        .iter()
        .filter_map(|k| {
            let n = d.changes.iter().filter(|c| c.kind == *k).count();
            (n > 0).then(|| format!("{n} {}", k.label()))
        })
        .collect();
    let mut s = format!("{} changes", d.changes.len());
    if !parts.is_empty() {
        let _ = write!(s, " ({})", parts.join(", "));
    }
    if !d.only_base.is_empty() || !d.only_new.is_empty() {
        let _ =
            write!(s, "; {} servers only in the base, {} only in the new report", d.only_base.len(), d.only_new.len());
    }
    s
}

/// Which servers were compared, which were not, and caveats.
pub fn preamble(d: &Diff) -> Vec<String> {
    let mut out: Vec<String> = d.pairs.iter().map(|(b, n)| format!("compared {b} (base) with {n} (new)")).collect();
    out.extend(d.only_base.iter().map(|s| format!("server {s} is only in the base report")));
    out.extend(d.only_new.iter().map(|s| format!("server {s} is only in the new report")));
    out.extend(d.caveats.iter().cloned());
    out
}

/// `(field, before, after)` rows of one change.
pub fn rows_of(c: &Change) -> Vec<(String, String, String)> {
    match c.kind {
        ChangeKind::Changed => c.fields.clone(),
        ChangeKind::NewlySkipped => vec![("outcome".into(), "ran".into(), c.summary.clone())],
        ChangeKind::Unskipped => vec![("outcome".into(), "skipped".into(), c.summary.clone())],
        ChangeKind::New => vec![("case".into(), "-".into(), c.summary.clone())],
        ChangeKind::Vanished => vec![("case".into(), c.summary.clone(), "-".into())],
    }
}

/// The diff as terminal text.
pub fn text(d: &Diff) -> String {
    let mut out = String::new();
    for line in preamble(d) {
        let _ = writeln!(out, "{line}");
    }
    for c in &d.changes {
        let what: Vec<String> = rows_of(c).iter().map(|(f, a, b)| format!("{f} {a} → {b}")).collect();
        let _ = writeln!(out, "{}: {} › {} [{}]: {}", c.kind.label(), c.scenario, c.case, c.client, what.join("; "));
    }
    let _ = writeln!(out, "{}", headline(d));
    out
}

/// The diff as Markdown, within `limit` bytes (rows that do not fit are counted).
pub fn markdown(d: &Diff, base: &str, new: &str, limit: usize) -> String {
    let mut out = format!("## pgtls diff: {}\n\n`{base}` → `{new}`\n\n", headline(d));
    for line in preamble(d) {
        let _ = writeln!(out, "- {line}");
    }
    if d.changes.is_empty() {
        return out;
    }
    out.push_str("\n| change | scenario › case | client | field | before | after |\n|---|---|---|---|---|---|\n");
    let rows: Vec<String> = d
        .changes
        .iter()
        .flat_map(|c| {
            rows_of(c).into_iter().map(move |(f, a, b)| {
                format!(
                    "| {} | {} › {} | {} | {f} | {} | {} |",
                    c.kind.label(),
                    cell(&c.scenario),
                    cell(&c.case),
                    c.client,
                    cell(&a),
                    cell(&b)
                )
            })
        })
        .collect();
    let total = rows.len();
    for (i, row) in rows.iter().enumerate() {
        if out.len() + row.len() + 200 > limit {
            let _ = writeln!(out, "\n… and {} more rows not shown", total - i);
            break;
        }
        out.push_str(row);
        out.push('\n');
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
