//! `[matrix]` with `expect = "reference"` end to end: the cells a fixture generates run with
//! libpq first, the others are judged by its outcome, and the agreement table reaches the
//! terminal, the JSON report (schema minor 1) and a merged report. Native backend.

mod cli;

use pgtls_harness::outcome::Outcome;
use pgtls_harness::report::{Agreement, Report, SCHEMA_MINOR};
use pgtls_harness::runner::Verdict;

const FIXTURE: &str = "tests/fixtures/reference-matrix.toml";

fn run(clients: &str) -> (String, Report, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let stdout = cli::pgtls_ok(&["run", FIXTURE, "--client", clients, "--json", json.to_str().unwrap()], 0);
    let report = cli::load(&json);
    (stdout, report, dir)
}

#[test]
fn cells_are_judged_by_libpq_and_the_agreement_is_reported() {
    let (stdout, r, dir) = run("libpq,rust");
    let cases = &r.results[0].cases;
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 7, "{names:?}");
    assert_eq!(names[0], "a query judged by libpq");
    assert_eq!(names[1], "sslmode=disable/hba=hostnossl/negotiation=postgres");
    assert!(!names.contains(&"sslmode=disable/hba=hostssl/negotiation=direct"), "{names:?}");
    for c in cases {
        assert_eq!(c.reference.as_deref(), Some("libpq"), "{}", c.name);
        let libpq = &c.results[0];
        assert_eq!(libpq.client, "libpq", "the reference runs first in {}", c.name);
        match &libpq.verdict {
            Verdict::Skip { reason } => {
                assert_eq!(c.expected, "reference");
                let rust = &c.results[1].verdict;
                let want = format!("the reference client libpq skipped this case: {reason}");
                assert_eq!(rust, &Verdict::Skip { reason: want }, "{}", c.name);
            }
            v => {
                assert_eq!(v, &Verdict::Pass, "{}", c.name);
                assert_eq!(c.expected, libpq.outcome.class_name(), "{}", c.name);
            }
        }
    }
    let disable_ssl = cases.iter().find(|c| c.name == "sslmode=disable/hba=hostssl/negotiation=postgres").unwrap();
    assert_eq!(disable_ssl.expected, "ssl-required-by-server");
    let query = &cases[0].results[1];
    assert_eq!(query.verdict, Verdict::Pass, "{query:?}");
    assert!(matches!(&query.outcome, Outcome::Connected(c) if c.query.is_some()), "{query:?}");
    assert_eq!(r.schema_minor, SCHEMA_MINOR);
    let [a]: &[Agreement] = r.agreement.as_slice() else { panic!("{:?}", r.agreement) };
    assert_eq!((a.client.as_str(), a.reference.as_str()), ("rust", "libpq"));
    assert_eq!(a.cells + a.skipped, 7);
    assert_eq!((a.agreeing, a.registered_divergences, a.unexplained), (a.cells, 0, 0), "{a:?}");
    assert!(stdout.contains("agreement with the reference client"), "{stdout}");
    let merged = dir.path().join("m.json");
    let json = dir.path().join("r.json");
    cli::pgtls_ok(&["report", json.to_str().unwrap(), "--json", merged.to_str().unwrap()], 0);
    assert_eq!(cli::load(&merged).agreement, r.agreement);
}

#[test]
fn without_libpq_every_cell_is_skipped_with_the_reason() {
    let (_, r, _dir) = run("rust");
    for c in &r.results[0].cases {
        let [rust] = c.results.as_slice() else { panic!("{:?}", c.results) };
        let Verdict::Skip { reason } = &rust.verdict else { panic!("{} ran without its reference", c.name) };
        assert!(reason.starts_with("no reference client"), "{reason}");
    }
    assert_eq!(r.agreement[0].skipped, 7);
}
