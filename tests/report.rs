//! The reports rendered from the JSON report: schema version 1 stays readable, the Markdown
//! summary stays under GitHub's limit, and the HTML matrix renders in a real browser.
//!
//! The browser test runs Debian's `chromium` headless (`--dump-dom`): the rendered page must
//! hold as many cells of each verdict as the JSON has attempts, and no script error. Without
//! Chromium it ends ignored with that reason, unless `PGTLS_REQUIRE_CHROMIUM=1` (set in CI),
//! which makes its absence a failure.

mod cli;

use libtest_mimic::Completion;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pgtls_harness::report::{self, Report};
use pgtls_harness::runner::Verdict;

fn main() -> std::process::ExitCode {
    cli::run_tests(&[
        ("schema_version_1_reads_back_and_round_trips", schema_version_1_reads_back_and_round_trips),
        ("a_newer_schema_is_refused_with_a_hint", a_newer_schema_is_refused_with_a_hint),
        (
            "markdown_stays_under_githubs_limit_and_counts_what_it_leaves_out",
            markdown_stays_under_githubs_limit_and_counts_what_it_leaves_out,
        ),
        ("report_renders_every_format_from_the_json", report_renders_every_format_from_the_json),
        (
            "html_matrix_renders_in_chromium_with_a_cell_per_attempt",
            html_matrix_renders_in_chromium_with_a_cell_per_attempt,
        ),
        ("the_page_reports_its_own_script_errors", the_page_reports_its_own_script_errors),
    ])
}

/// A report of two servers with every verdict (a failure and a known divergence edited in).
fn fixture() -> PathBuf {
    cli::root().join("tests/fixtures/report-v1.json")
}

fn verdict_counts(r: &Report) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for cr in r.results.iter().flat_map(|r| &r.cases).flat_map(|c| &c.results) {
        let v = match cr.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail { .. } => "fail",
            Verdict::Skip { .. } => "skip",
            Verdict::KnownDivergence { .. } => "known-divergence",
        };
        *out.entry(v).or_insert(0) += 1;
    }
    out
}

fn schema_version_1_reads_back_and_round_trips() -> Completion {
    let r = cli::load(&fixture());
    assert_eq!(r.schema_version, 1);
    let counts = verdict_counts(&r);
    assert!(["pass", "fail", "skip", "known-divergence"].iter().all(|v| counts.contains_key(v)), "{counts:?}");
    let text = serde_json::to_string(&r).unwrap();
    let again = Report::parse(&text, Path::new("round-trip")).unwrap();
    assert_eq!(again, r);
    Completion::Completed
}

fn a_newer_schema_is_refused_with_a_hint() -> Completion {
    let text =
        std::fs::read_to_string(fixture()).unwrap().replacen("\"schema_version\": 1", "\"schema_version\": 2", 1);
    let e = Report::parse(&text, Path::new("new.json")).unwrap_err().to_string();
    assert!(e.contains("report new.json has schema version 2; this pgtls reads version 1"), "{e}");
    Completion::Completed
}

fn markdown_stays_under_githubs_limit_and_counts_what_it_leaves_out() -> Completion {
    let mut r = cli::load(&fixture());
    let one = r.results[0].clone();
    for i in 0..4000 {
        let mut copy = one.clone();
        copy.scenario = format!("bulk/scenario-{i:04}");
        for cr in copy.cases.iter_mut().flat_map(|c| c.results.iter_mut()) {
            cr.verdict = Verdict::Fail { reasons: vec!["expected connected, got server-cert-untrusted".into()] };
        }
        r.results.push(copy);
    }
    let md = report::markdown(&r, report::GITHUB_SUMMARY_LIMIT);
    assert!(md.len() <= report::GITHUB_SUMMARY_LIMIT, "{} bytes", md.len());
    assert!(md.contains("more failures not shown"), "no truncation note");
    assert!(md.starts_with("## ❌ pgtls:"), "{}", &md[..200]);
    Completion::Completed
}

fn report_renders_every_format_from_the_json() -> Completion {
    let dir = tempfile::tempdir().unwrap();
    let out = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let fixture_path = fixture().to_string_lossy().into_owned();
    let args = [
        "report",
        &fixture_path,
        "--json",
        &out("r.json"),
        "--html",
        &out("r.html"),
        "--junit",
        &out("r.xml"),
        "--markdown",
        &out("r.md"),
    ];
    cli::pgtls_ok(&args, 1); // the fixture has a failure
    let again = cli::load(Path::new(&out("r.json")));
    assert_eq!(cli::stable(again).results, cli::stable(cli::load(&fixture())).results);
    let junit = std::fs::read_to_string(out("r.xml")).unwrap();
    assert!(junit.contains("<property name=\"pg_version\"") && junit.contains("<failure"), "{junit}");
    let md = std::fs::read_to_string(out("r.md")).unwrap();
    assert!(md.contains("### Failures (1)") && md.contains("### Outcomes that differ across servers"), "{md}");
    Completion::Completed
}

/// Chromium, or why not (the test then ends ignored); `PGTLS_REQUIRE_CHROMIUM=1` makes its
/// absence a failure.
fn chromium() -> Result<PathBuf, String> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let out = Command::new("sh").args(["-c", &format!("command -v {name}")]).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    });
    let reason = "Chromium is not installed (hint: apt-get install chromium)";
    match found {
        Some(c) => Ok(c),
        None if std::env::var("PGTLS_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") => {
            panic!("Chromium is required (PGTLS_REQUIRE_CHROMIUM=1): {reason}")
        }
        None => Err(reason.to_owned()),
    }
}

/// The page's DOM after its script ran.
fn dump_dom(chromium: &Path, page: &Path) -> String {
    let out = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("failed to run {}: {e}", chromium.display()));
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn count(dom: &str, needle: &str) -> usize {
    dom.matches(needle).count()
}

fn assert_page_matches(chromium: &Path, json: &Path, html: &Path) {
    let r = cli::load(json);
    let dom = dump_dom(chromium, html);
    assert_eq!(count(&dom, "class=\"script-error\""), 0, "script errors: {}", errors(&dom));
    let total: usize = verdict_counts(&r).values().sum();
    assert!(
        dom.contains(&format!("id=\"pgtls-loaded\" hidden=\"\" data-cells=\"{total}\"")),
        "the page did not finish loading"
    );
    for (v, n) in verdict_counts(&r) {
        assert_eq!(count(&dom, &format!("data-verdict=\"{v}\"")), n, "cells with verdict {v}");
    }
}

/// Opens the fixture's failing cell (`#open=R.C.K`) and checks what the panel shows.
fn assert_failure_detail_opens(chromium: &Path, html: &Path) {
    let r = cli::load(&fixture());
    let (ri, ci, ki) = r
        .results
        .iter()
        .enumerate()
        .flat_map(|(ri, res)| res.cases.iter().enumerate().map(move |(ci, c)| (ri, ci, c)))
        .flat_map(|(ri, ci, c)| c.results.iter().enumerate().map(move |(ki, cr)| (ri, ci, ki, cr)))
        .find(|(_, _, _, cr)| matches!(cr.verdict, Verdict::Fail { .. }))
        .map(|(ri, ci, ki, _)| (ri, ci, ki))
        .expect("the fixture has a failure");
    let page = PathBuf::from(format!("{}#open={ri}.{ci}.{ki}", html.display()));
    let dom = dump_dom(chromium, &page);
    assert_eq!(count(&dom, "class=\"script-error\""), 0, "script errors: {}", errors(&dom));
    for shown in [
        "expected hostname-mismatch, got connected",
        "scenario source: scenarios/docs/walkthrough-1-server-verification.toml:",
        "connection authorized",
    ] {
        assert!(dom.contains(shown), "the detail panel lacks {shown:?}");
    }
    let selected = regex::Regex::new(r#"class="cell v-fail[^"]* selected" data-verdict="fail""#).unwrap();
    assert!(selected.is_match(&dom), "the failing cell is not the selected one");
}

fn errors(dom: &str) -> String {
    dom.split("class=\"script-error\">")
        .skip(1)
        .map(|s| s.split('<').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("; ")
}

fn html_matrix_renders_in_chromium_with_a_cell_per_attempt() -> Completion {
    let chromium = match chromium() {
        Ok(c) => c,
        Err(reason) => return Completion::ignored_with(reason),
    };
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("fixture.html");
    cli::pgtls_ok(&["report", fixture().to_str().unwrap(), "--html", html.to_str().unwrap()], 1);
    assert_page_matches(&chromium, &fixture(), &html);
    assert_failure_detail_opens(&chromium, &html);
    // A real run too: its JSON and HTML come from the same run.
    let (json, html) = (dir.path().join("run.json"), dir.path().join("run.html"));
    let args = [
        "run",
        "scenarios/docs",
        "--client",
        "libpq,rust",
        "--json",
        json.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ];
    cli::pgtls_ok(&args, 0);
    assert_page_matches(&chromium, &json, &html);
    Completion::Completed
}

fn the_page_reports_its_own_script_errors() -> Completion {
    let chromium = match chromium() {
        Ok(c) => c,
        Err(reason) => return Completion::ignored_with(reason),
    };
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("broken.html");
    let page = report::html(&cli::load(&fixture()));
    let broken = page.replacen(
        "<script type=\"application/json\" id=\"pgtls-data\">{",
        "<script type=\"application/json\" id=\"pgtls-data\">{{",
        1,
    );
    std::fs::write(&html, broken).unwrap();
    let dom = dump_dom(&chromium, &html);
    assert!(count(&dom, "class=\"script-error\"") > 0, "a broken page must list its error");
    assert!(!dom.contains("id=\"pgtls-loaded\""));
    Completion::Completed
}
