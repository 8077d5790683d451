//! A case skipped by `requires` (or left out by `--filter`) must not leave the cases after it
//! running on a server the scenario does not describe (docs/scenario-format.md, "Steps").
//! The fixtures are built so that the wrong server state flips an outcome: without the rule,
//! "still rejected" would connect and fail. Native backend, libpq and rust.

mod cli;

use pgtls_harness::outcome::Outcome;
use pgtls_harness::report::Report;
use pgtls_harness::runner::Verdict;

fn run(fixture: &str, filter: Option<&str>) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let fixture = format!("tests/fixtures/{fixture}");
    let mut args = vec!["run", fixture.as_str(), "--client", "libpq,rust", "--json", json.to_str().unwrap()];
    if let Some(f) = filter {
        args.extend(["--filter", f]);
    }
    cli::pgtls_ok(&args, 0);
    cli::load(&json)
}

/// `(case, verdict kind, skip reason)` of every attempt, one per client.
fn verdicts(r: &Report) -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    for c in r.results.iter().flat_map(|r| &r.cases) {
        for cr in &c.results {
            let (kind, reason) = match &cr.verdict {
                Verdict::Pass => ("pass", String::new()),
                Verdict::Fail { reasons } => ("fail", reasons.join("; ")),
                Verdict::Skip { reason } => ("skip", reason.clone()),
                Verdict::KnownDivergence { .. } => ("known-divergence", String::new()),
            };
            out.push((c.name.clone(), kind, reason));
        }
    }
    out
}

#[test]
fn cases_after_a_skipped_case_with_steps_are_skipped_until_the_state_is_written_again() {
    let r = run("skipped-steps.toml", None);
    let v = verdicts(&r);
    let kinds: Vec<(&str, &str)> = v.iter().step_by(2).map(|(c, k, _)| (c.as_str(), *k)).collect();
    assert_eq!(
        kinds,
        [
            ("reject everyone", "skip"),
            ("still rejected", "skip"),
            ("trust again", "pass"),
            ("a setting written but not loaded", "skip"),
            ("the server has loaded nothing new yet", "pass"),
            ("a reload loads the setting the skipped case wrote", "skip"),
            ("reset and reload: the server is as described again", "pass"),
        ],
        "{v:#?}"
    );
    let still = v.iter().find(|(c, _, _)| c == "still rejected").unwrap();
    assert!(
        still.2.starts_with("depends on the steps of skipped case \"reject everyone\" (needs PostgreSQL >=99"),
        "{still:?}"
    );
    // Both clients are judged the same way.
    assert_eq!(v.len(), 14);
    assert!(v.chunks(2).all(|p| p[0].1 == p[1].1), "{v:#?}");
}

#[test]
fn a_filtered_run_applies_the_steps_of_the_cases_it_leaves_out() {
    let r = run("filtered-steps.toml", Some("still rejected"));
    let cases: Vec<&str> = r.results[0].cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(cases, ["still rejected"], "only the selected case is reported");
    for cr in &r.results[0].cases[0].results {
        assert_eq!(cr.verdict, Verdict::Pass, "{}: {:?}", cr.client, cr.outcome);
        assert!(matches!(&cr.outcome, Outcome::Failed(f) if f.class.name() == "hba-rejected"));
    }
}

#[test]
fn check_names_the_cases_a_skipped_case_would_take_along() {
    let out = cli::pgtls_ok(&["check", "tests/fixtures/skipped-steps.toml"], 0);
    let note = "on PostgreSQL 98, 1 case will be skipped (\"still rejected\"): it depends on the steps of skipped case \"reject everyone\"";
    assert!(out.contains(note), "{out}");
}
