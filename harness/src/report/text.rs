//! The terminal report of a run: failures with expected vs actual, the closing counts line,
//! phase timings, and cases whose outcome differs across PostgreSQL majors.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use crate::outcome::{Basis, Outcome};
use crate::runner::{ScenarioResult, Verdict};

/// Totals over client results: (passed, failed, skipped); known divergences count as passed.
pub fn totals(results: &[ScenarioResult]) -> (usize, usize, usize) {
    results.iter().map(ScenarioResult::counts).fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
}

/// `N passed, M failed, K skipped`.
pub fn closing_line(results: &[ScenarioResult]) -> String {
    let (p, f, s) = totals(results);
    let diverged = results
        .iter()
        .flat_map(|r| &r.cases)
        .flat_map(|c| &c.results)
        .filter(|r| matches!(r.verdict, Verdict::KnownDivergence { .. }))
        .count();
    let mut line = format!("{p} passed, {f} failed, {s} skipped");
    if diverged > 0 {
        let what = if diverged == 1 { "is a known divergence" } else { "are known divergences" };
        line.push_str(&format!(" ({diverged} of the passed {what})"));
    }
    line
}

/// Every failure: where, expected vs actual, the raw detail and the server log tail.
pub fn failures(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    for r in results {
        if let Some(e) = &r.error {
            let _ = writeln!(out, "ERROR {} [{}]: {e}", r.scenario, r.server);
        }
        for c in &r.cases {
            for cr in &c.results {
                let Verdict::Fail { reasons } = &cr.verdict else { continue };
                let _ = writeln!(out, "FAIL {} › {} [{} on {}]", r.scenario, c.name, cr.client, r.server);
                for reason in reasons {
                    let _ = writeln!(out, "  {reason}");
                }
                let _ = writeln!(out, "  actual: {}", describe(&cr.outcome));
                if let Outcome::Failed(f) = &cr.outcome {
                    for line in f.detail.lines() {
                        let _ = writeln!(out, "    | {line}");
                    }
                }
                let (title, lines) = log_excerpt(&r.server_log, cr.log_span);
                let _ = writeln!(out, "  server log ({title}):");
                for line in lines {
                    let _ = writeln!(out, "    > {line}");
                }
            }
        }
    }
    out
}

/// The attempt's own lines of the server log (at most 30), else the log's last 12 lines.
fn log_excerpt(log: &str, span: Option<[usize; 2]>) -> (&'static str, Vec<&str>) {
    match span {
        Some([from, to]) if to > from => {
            ("during the attempt", log.lines().skip(from).take((to - from).min(30)).collect())
        }
        _ => ("last lines", tail(log, 12)),
    }
}

fn tail(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// `; cancel: 57014 over ssl-request` (the query's SQLSTATE, how the cancel connections opened).
fn cancel_text(k: &crate::outcome::CancelOutcome) -> String {
    let ended = k.sqlstate.as_deref().unwrap_or("query not cancelled");
    let how = if k.openings.is_empty() { "no cancel connection seen".to_owned() } else { k.openings.join(", ") };
    let error = k.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default();
    format!("; cancel: {ended} over {how}{error}")
}

/// One line describing an outcome.
pub fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Connected(c) => {
            let tls = c.protocol.as_deref().unwrap_or(if c.ssl { "TLS" } else { "no TLS" });
            let cert = c.client_cert.as_ref().map(|x| format!(", client cert {}", x.dn)).unwrap_or_default();
            let cancel = c.cancel.as_deref().map(cancel_text).unwrap_or_default();
            format!("connected ({tls}{cert}) as {}{cancel}", c.user)
        }
        Outcome::Failed(f) => {
            let mut s = format!("{} (decided by {:?}", f.class, f.side).to_lowercase();
            if f.basis != Basis::Unrecorded {
                s.push_str(&format!(" on {}", f.basis));
            }
            if let Some(st) = &f.sqlstate {
                s.push_str(&format!(", SQLSTATE {st}"));
            }
            if let Some(a) = f.alert {
                s.push_str(&format!(", alert {a}"));
            }
            if let Some(v) = f.verify_code {
                s.push_str(&format!(", verify code {v}"));
            }
            if let Some(v) = f.ocsp {
                s.push_str(&format!(", ocsp {}", v.name()));
            }
            s.push(')');
            s
        }
        Outcome::Skipped { reason } => format!("skipped: {reason}"),
    }
}

/// The `--timings` table: wall time, then per scenario and phase.
pub fn timings(results: &[ScenarioResult], wall: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<52} {:>6} {:>7} {:>6} {:>9} {:>5} {:>7}",
        "scenario [server]", "pki", "server", "steps", "connects", "n", "total"
    );
    let mut sum = crate::runner::Timings::default();
    for r in results {
        let t = &r.timings;
        let name = format!("{} [{}]", r.scenario, r.server);
        let _ = writeln!(
            out,
            "{:<52} {:>6} {:>7} {:>6} {:>9} {:>5} {:>7}",
            name, t.pki_ms, t.server_ms, t.steps_ms, t.connects_ms, t.connects, t.total_ms
        );
        sum.pki_ms += t.pki_ms;
        sum.server_ms += t.server_ms;
        sum.steps_ms += t.steps_ms;
        sum.connects_ms += t.connects_ms;
        sum.connects += t.connects;
        sum.total_ms += t.total_ms;
    }
    let _ = writeln!(
        out,
        "{:<52} {:>6} {:>7} {:>6} {:>9} {:>5} {:>7}",
        "sum of scenario times (ms)",
        sum.pki_ms,
        sum.server_ms,
        sum.steps_ms,
        sum.connects_ms,
        sum.connects,
        sum.total_ms
    );
    let per = if sum.connects > 0 { sum.connects_ms as f64 / sum.connects as f64 } else { 0.0 };
    let _ = writeln!(
        out,
        "wall {:.2} s for {} scenario runs; {:.1} ms per connection attempt",
        wall.as_secs_f64(),
        results.len(),
        per
    );
    out.push_str(&per_client(results));
    out
}

/// Mean and median wall time of the attempts each client ran (skipped ones cost nothing and
/// would hide what an attempt costs, e.g. in a matrix whose reference skips half its cells).
fn per_client(results: &[ScenarioResult]) -> String {
    let mut by: BTreeMap<&str, (Vec<f64>, usize)> = BTreeMap::new();
    for cr in results.iter().flat_map(|r| &r.cases).flat_map(|c| &c.results) {
        let e = by.entry(cr.client.as_str()).or_default();
        match cr.verdict {
            Verdict::Skip { .. } => e.1 += 1,
            _ => e.0.push(cr.elapsed_ms),
        }
    }
    let mut out = String::new();
    for (client, (mut ran, skipped)) in by {
        ran.sort_by(f64::total_cmp);
        let mean = if ran.is_empty() { 0.0 } else { ran.iter().sum::<f64>() / ran.len() as f64 };
        let median = ran.get(ran.len() / 2).copied().unwrap_or(0.0);
        let _ = writeln!(
            out,
            "{client}: {} attempts ran ({skipped} skipped), {mean:.1} ms mean, {median:.1} ms median per attempt",
            ran.len()
        );
    }
    out
}

/// Cases whose outcome class differs between PostgreSQL majors (same client).
pub fn major_differences(results: &[ScenarioResult]) -> String {
    let mut by_case: BTreeMap<(String, String, String), BTreeMap<u32, String>> = BTreeMap::new();
    for r in results {
        for c in &r.cases {
            for cr in &c.results {
                let key = (r.scenario.clone(), c.name.clone(), cr.client.clone());
                by_case.entry(key).or_default().insert(r.major, cr.outcome.class_name().to_owned());
            }
        }
    }
    let mut out = String::new();
    for ((s, c, client), majors) in by_case {
        let mut classes: Vec<&String> = majors.values().filter(|v| *v != "skipped").collect();
        classes.dedup();
        classes.sort();
        classes.dedup();
        if classes.len() > 1 {
            let row: Vec<String> = majors.iter().map(|(m, cl)| format!("{m}: {cl}")).collect();
            let _ = writeln!(out, "{s} › {c} [{client}]: {}", row.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::FailureClass;

    #[test]
    fn a_failure_says_what_decided_it_and_on_what() {
        let mut o = Outcome::harness_failure(FailureClass::Timeout, "");
        assert_eq!(describe(&o), "timeout (decided by harness on harness)");
        if let Outcome::Failed(f) = &mut o {
            (f.basis, f.side, f.sqlstate) = (Basis::Unrecorded, crate::outcome::Side::Server, Some("28000".into()));
        }
        assert_eq!(describe(&o), "timeout (decided by server, SQLSTATE 28000)");
    }
}
