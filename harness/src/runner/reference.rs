//! `expect = "reference"`: what the reference client did in a case is what the others are
//! judged by.
//!
//! The reference is libpq of the build under test (psql), because libpq defines the keywords
//! every other client imitates. It runs first in such a case; its outcome (class; for a
//! connection also TLS yes/no, protocol, client certificate presented or not, user) becomes
//! the case's expectation, and the other clients then go through the usual checks and the
//! divergence registry, with libpq's class as the expected one. The reference itself passes
//! unless its outcome could not be classified (or timed out): then there is nothing to judge
//! the others by and they are skipped with that reason, as they are when libpq skipped the
//! case or is not part of the run.

use std::sync::Arc;

use super::Verdict;
use crate::client::Client;
use crate::outcome::{FailureClass, Outcome, QueryOutcome};
use crate::scenario::{Case, Expectation, ExpectedOutcome};

/// The client whose outcome is the expectation of a `"reference"` case.
pub const REFERENCE_CLIENT: &str = "libpq";

/// Whether a case is judged by the reference client.
pub fn by_reference(case: &Case) -> bool {
    case.expect.outcome == ExpectedOutcome::Reference
}

/// The clients in the order a case runs them: the reference first when it judges the case.
pub fn order<'a>(case: &Case, clients: &'a [Arc<dyn Client>]) -> Vec<&'a Arc<dyn Client>> {
    let mut out: Vec<&Arc<dyn Client>> = clients.iter().collect();
    if by_reference(case) {
        out.sort_by_key(|c| c.name() != REFERENCE_CLIENT);
    }
    out
}

/// What a reference case knows of its expectation so far.
#[derive(Debug, Clone)]
pub enum Judge {
    /// A case with an expectation of its own.
    Written,
    /// The reference has not run yet (it runs first, so only before its attempt).
    Pending,
    /// The reference's outcome, as an expectation.
    Expect(Box<Expectation>),
    /// There is nothing to judge the other clients by, for this reason.
    Unavailable(String),
}

impl Judge {
    /// The judge of `case` before any client ran.
    pub fn new(case: &Case, clients: &[Arc<dyn Client>]) -> Judge {
        if !by_reference(case) {
            Judge::Written
        } else if clients.iter().any(|c| c.name() == REFERENCE_CLIENT) {
            Judge::Pending
        } else {
            Judge::Unavailable(format!(
                "no reference client: the case is judged by {REFERENCE_CLIENT}, which is not in this run \
                 (add it to --client)"
            ))
        }
    }

    /// Records the reference's outcome; returns the reference's own verdict.
    pub fn reference_ran(&mut self, outcome: &Outcome) -> Verdict {
        let (judge, verdict) = match outcome {
            Outcome::Skipped { reason } => {
                let why = format!("the reference client {REFERENCE_CLIENT} skipped this case: {reason}");
                (Judge::Unavailable(why), Verdict::Skip { reason: reason.clone() })
            }
            Outcome::Failed(f) if matches!(f.class, FailureClass::Unclassified | FailureClass::Timeout) => {
                let why = format!("the reference client's outcome is {}, so it judges nothing", f.class.name());
                let fail = Verdict::Fail { reasons: vec![format!("the reference outcome is {}", f.class.name())] };
                (Judge::Unavailable(why), fail)
            }
            o => (Judge::Expect(Box::new(expectation(o))), Verdict::Pass),
        };
        *self = judge;
        verdict
    }
}

/// The expectation a classified reference outcome stands for.
fn expectation(o: &Outcome) -> Expectation {
    let mut e = Expectation::of(ExpectedOutcome::Connected);
    match o {
        Outcome::Connected(c) => {
            e.ssl = Some(c.ssl);
            e.protocol = c.protocol.clone();
            e.client_cert = Some(c.client_cert.is_some());
            e.client_dn = c.client_cert.as_ref().map(|x| x.dn.clone());
            e.user = Some(c.user.clone());
            match &c.query {
                Some(QueryOutcome::Rows(rows)) => e.query_result = Some(rows.clone()),
                Some(QueryOutcome::Error { sqlstate, .. }) => {
                    e.query_sqlstate = Some(sqlstate.clone().unwrap_or_else(|| "(none)".into()))
                }
                None => {}
            }
            if let Some(k) = &c.cancel {
                e.cancel_sqlstate = Some(k.sqlstate.clone().unwrap_or_else(|| "(none)".into()));
                e.cancel_ssl = k.ssl;
                if let [one] = k.openings.as_slice() {
                    e.cancel_opening = Some(one.clone());
                }
            }
        }
        Outcome::Failed(f) => e.outcome = ExpectedOutcome::Failed(f.class),
        Outcome::Skipped { .. } => {}
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Basis, ClientCert, Connected, Failure, Side};

    #[test]
    fn a_connection_expects_what_the_server_saw_and_a_failure_its_class() {
        let c = Connected {
            ssl: true,
            protocol: Some("TLSv1.3".into()),
            client_cert: Some(ClientCert { dn: "/CN=a".into(), serial: "1".into(), issuer_dn: "/CN=r".into() }),
            user: "a".into(),
            query: Some(QueryOutcome::Rows("x".into())),
            ..Connected::default()
        };
        let e = expectation(&Outcome::Connected(c));
        assert_eq!((e.ssl, e.protocol.as_deref(), e.client_cert), (Some(true), Some("TLSv1.3"), Some(true)));
        assert_eq!((e.client_dn.as_deref(), e.user.as_deref()), (Some("/CN=a"), Some("a")));
        assert_eq!(e.query_result.as_deref(), Some("x"));
        let f = Failure {
            class: FailureClass::HbaRejected,
            side: Side::Server,
            sqlstate: Some("28000".into()),
            alert: None,
            verify_code: None,
            ocsp: None,
            basis: Basis::HbaEvaluation,
            detail: String::new(),
        };
        let mut judge = Judge::Pending;
        assert_eq!(judge.reference_ran(&Outcome::Failed(f.clone())), Verdict::Pass);
        assert!(matches!(&judge, Judge::Expect(e) if e.outcome == ExpectedOutcome::Failed(FailureClass::HbaRejected)));
        let mut judge = Judge::Pending;
        let odd = Failure { class: FailureClass::Unclassified, ..f };
        assert!(matches!(judge.reference_ran(&Outcome::Failed(odd)), Verdict::Fail { .. }));
        assert!(matches!(judge, Judge::Unavailable(_)));
    }
}
