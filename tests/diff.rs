//! `pgtls diff`: exit 0 when nothing changed, 1 when something did, and the changes between
//! two builds are the known ones.
//!
//! The build comparison runs `scenarios/docs` with libpq and rust on native PostgreSQL 15 and
//! on the Docker images of 13 and 17 (`PGTLS_IMAGE_PATTERN`; without them it ends ignored with
//! the reason, unless `PGTLS_REQUIRE_DOCKER=1`). What differs is read off the snapshots
//! (`tests/snapshots/docker/docs__*@<client>.snap` against their `@pg13`/`@pg17` variants):
//! from 15 to 13 six cases per client change whether they run (`requires`), and
//! from 15 to 17 nothing a diff compares changes, although the raw messages, ports, paths and
//! timings all do.

mod cli;

use libtest_mimic::Completion;
use std::path::{Path, PathBuf};

use pgtls_harness::outcome::{Connected, Outcome};
use pgtls_harness::report::{ChangeKind, DiffOptions, Report, diff};
use pgtls_harness::runner::Verdict;

fn main() -> std::process::ExitCode {
    cli::run_tests(&[
        ("a_report_against_itself_has_no_changes_and_exits_0", a_report_against_itself_has_no_changes_and_exits_0),
        ("a_changed_outcome_is_listed_and_exits_1", a_changed_outcome_is_listed_and_exits_1),
        (
            "docs_on_native_15_and_docker_13_17_differ_exactly_where_the_snapshots_do",
            docs_on_native_15_and_docker_13_17_differ_exactly_where_the_snapshots_do,
        ),
    ])
}

fn fixture() -> PathBuf {
    cli::root().join("tests/fixtures/report-v1.json")
}

fn a_report_against_itself_has_no_changes_and_exits_0() -> Completion {
    let f = fixture();
    let out = cli::pgtls_ok(&["diff", f.to_str().unwrap(), f.to_str().unwrap()], 0);
    assert!(out.ends_with("no changes\n"), "{out}");
    Completion::Completed
}

fn a_changed_outcome_is_listed_and_exits_1() -> Completion {
    let dir = tempfile::tempdir().unwrap();
    let mut r = cli::load(&fixture());
    let case = r.results[0].cases[1].name.clone();
    let cr = &mut r.results[0].cases[1].results[0];
    let client = cr.client.clone();
    cr.outcome = Outcome::Connected(Connected { ssl: true, user: "postgres".into(), ..Connected::default() });
    cr.verdict = Verdict::Fail { reasons: vec!["edited".into()] };
    let changed = dir.path().join("changed.json");
    r.save(&changed).unwrap();
    let (html, md) = (dir.path().join("d.html"), dir.path().join("d.md"));
    let args: [String; 7] = [
        "diff".into(),
        fixture().to_string_lossy().into(),
        changed.to_string_lossy().into(),
        "--html".into(),
        html.to_string_lossy().into(),
        "--markdown".into(),
        md.to_string_lossy().into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cli::pgtls_ok(&args, 1);
    assert!(out.contains(&format!("changed: {} › {case} [{client}]: class ", r.results[0].scenario)), "{out}");
    assert!(out.contains("→ connected; verdict pass → fail"), "{out}");
    assert!(std::fs::read_to_string(md).unwrap().contains("| changed |"));
    assert!(std::fs::read_to_string(html).unwrap().contains("<td class=\"kind\">changed</td>"));
    Completion::Completed
}

/// Runs the docs scenarios on one server and returns the report.
fn docs_run(dir: &Path, name: &str, backend: &[&str]) -> Report {
    let json = dir.join(format!("{name}.json"));
    let mut args = vec!["run", "scenarios/docs", "--client", "libpq,rust", "--json", json.to_str().unwrap()];
    args.extend_from_slice(backend);
    cli::pgtls_ok(&args, 0);
    cli::load(&json)
}

/// `(kind, scenario › case, client)` of every change, sorted.
fn changes(base: &Report, new: &Report) -> Vec<(ChangeKind, String, String)> {
    let d = diff(base, new, DiffOptions::default());
    assert_eq!(d.pairs.len(), 1, "one server on each side pairs up: {:?}", d.pairs);
    let mut v: Vec<_> =
        d.changes.iter().map(|c| (c.kind, format!("{} › {}", c.scenario, c.case), c.client.clone())).collect();
    v.sort();
    v
}

fn docs_on_native_15_and_docker_13_17_differ_exactly_where_the_snapshots_do() -> Completion {
    let (pg13, pg17) = match (cli::docker_image(13), cli::docker_image(17)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(reason), _) | (_, Err(reason)) => return Completion::ignored_with(reason),
    };
    let dir = tempfile::tempdir().unwrap();
    let native = docs_run(dir.path(), "native", &[]);
    let d13 = docs_run(dir.path(), "pg13", &["--backend", "docker", "--image", &pg13]);
    let d17 = docs_run(dir.path(), "pg17", &["--backend", "docker", "--image", &pg17]);

    let mut expected = Vec::new();
    for client in ["libpq", "rust"] {
        for (kind, case) in [
            (ChangeKind::NewlySkipped, "docs/manual-crl › ssl_crl_dir: a revoked certificate is refused"),
            (ChangeKind::NewlySkipped, "docs/manual-crl › ssl_crl_dir: a valid certificate passes"),
            (
                ChangeKind::NewlySkipped,
                "docs/postgrespro-clientcert-no-verify › 14+: clientcert=no-verify makes pg_hba invalid, the server does not start",
            ),
            (ChangeKind::Unskipped, "docs/postgrespro-clientcert-no-verify › 13: no-verify, no certificate: connects"),
            (
                ChangeKind::Unskipped,
                "docs/postgrespro-clientcert-no-verify › 13: no-verify, a trusted certificate: verified and shown",
            ),
            (
                ChangeKind::Unskipped,
                "docs/postgrespro-clientcert-no-verify › 13: no-verify, an untrusted certificate: still verified, refused",
            ),
        ] {
            expected.push((kind, case.to_owned(), client.to_owned()));
        }
    }
    expected.sort();
    assert_eq!(changes(&native, &d13), expected);
    assert_eq!(changes(&native, &d17), Vec::new(), "15 → 17 changes nothing the docs scenarios compare");

    // The CLI agrees: exit 1 for 15 → 13, 0 for 15 → 17.
    let p = |n: &str| dir.path().join(format!("{n}.json")).to_string_lossy().into_owned();
    let out = cli::pgtls_ok(&["diff", &p("native"), &p("pg13")], 1);
    assert!(out.contains("12 changes (6 newly skipped, 6 unskipped)"), "{out}");
    cli::pgtls_ok(&["diff", &p("native"), &p("pg17")], 0);
    Completion::Completed
}
