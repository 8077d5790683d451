//! JUnit XML for CI: a suite per scenario and server, a test case per case and client.
//!
//! Each test case carries the server's PostgreSQL version and TLS library, the client and the
//! outcome class as `<properties>` (renderers that ignore test-case properties still show the
//! name), and a failure's raw, redacted detail as `<system-err>`.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report as Junit, TestCase, TestCaseStatus, TestSuite};

use super::schema::{Report, ServerMeta};
use super::text::describe;
use crate::outcome::Outcome;
use crate::runner::{CaseResult, ClientResult, ScenarioResult, Verdict};

/// The JUnit XML of a report.
pub fn junit(report: &Report) -> String {
    let mut out = Junit::new("pgtls");
    for r in &report.results {
        out.add_test_suite(suite(r, report.server(&r.server)));
    }
    if let Some(stale) = &report.divergences.stale
        && !stale.is_empty()
    {
        let mut suite = TestSuite::new("divergence registry");
        for e in stale {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("stale entry: {} → {} matched nothing", e.expected, e.actual));
            let mut tc = TestCase::new(format!("{} [{}]", e.case, e.client), s);
            tc.set_classname("divergences");
            suite.add_test_case(tc);
        }
        out.add_test_suite(suite);
    }
    out.to_string().unwrap_or_default()
}

fn suite(r: &ScenarioResult, server: Option<&ServerMeta>) -> TestSuite {
    let mut suite = TestSuite::new(format!("{} [{}]", r.scenario, r.server));
    suite.set_time(Duration::from_millis(r.timings.total_ms));
    for c in &r.cases {
        for cr in &c.results {
            suite.add_test_case(case(r, c, cr, server));
        }
    }
    if let Some(e) = &r.error {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(e.as_str());
        suite.add_test_case(TestCase::new("harness", s));
    }
    suite
}

fn case(r: &ScenarioResult, c: &CaseResult, cr: &ClientResult, server: Option<&ServerMeta>) -> TestCase {
    let mut tc = TestCase::new(format!("{} [{}]", c.name, cr.client), status(cr));
    tc.set_classname(r.scenario.as_str());
    tc.set_time(Duration::from_micros((cr.elapsed_ms * 1000.0) as u64));
    tc.add_property(Property::new("server", r.server.as_str()));
    if let Some(s) = server {
        tc.add_property(Property::new("pg_version", s.version.as_str()));
        tc.add_property(Property::new("ssl_library", s.ssl_library.as_deref().unwrap_or("none")));
    }
    tc.add_property(Property::new("client", cr.client.as_str()));
    tc.add_property(Property::new("expected", c.expected.as_str()));
    tc.add_property(Property::new("outcome", cr.outcome.class_name()));
    if let Outcome::Failed(f) = &cr.outcome
        && !matches!(cr.verdict, Verdict::Pass)
    {
        tc.set_system_err(f.detail.as_str());
    }
    tc
}

fn status(cr: &ClientResult) -> TestCaseStatus {
    match &cr.verdict {
        Verdict::Pass | Verdict::KnownDivergence { .. } => TestCaseStatus::success(),
        Verdict::Skip { reason } => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(reason.as_str());
            s
        }
        Verdict::Fail { reasons } => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(reasons.join("; "));
            s.set_description(describe(&cr.outcome));
            s
        }
    }
}
