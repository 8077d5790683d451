//! Checks an outcome against a case's expectation, graded like sqllogictest's expected
//! errors: the class always exactly, everything else only where the scenario says.

use crate::outcome::Outcome;
use crate::scenario::{Expectation, ExpectedOutcome};

/// Every way `outcome` misses `expect`, empty when it meets it.
pub fn mismatches(expect: &Expectation, outcome: &Outcome, client: &str) -> Vec<String> {
    let mut out = Vec::new();
    let want = expect.outcome.name();
    if outcome.class_name() != want {
        out.push(format!("expected {want}, got {}", outcome.class_name()));
        return out;
    }
    match (outcome, expect.outcome) {
        (Outcome::Connected(c), ExpectedOutcome::Connected) => {
            field(&mut out, "ssl", expect.ssl, Some(c.ssl));
            field(&mut out, "protocol", expect.protocol.as_deref(), c.protocol.as_deref());
            field(&mut out, "client_cert", expect.client_cert, Some(c.client_cert.is_some()));
            field(&mut out, "client_dn", expect.client_dn.as_deref(), c.client_cert.as_ref().map(|x| x.dn.as_str()));
            field(&mut out, "user", expect.user.as_deref(), Some(c.user.as_str()));
        }
        (Outcome::Failed(f), ExpectedOutcome::Failed(_)) => {
            field(&mut out, "sqlstate", expect.sqlstate.as_deref(), f.sqlstate.as_deref());
            field(&mut out, "alert", expect.alert, f.alert);
            field(&mut out, "side", expect.side, Some(f.side));
            if let Some(re) = expect.message.as_ref().and_then(|m| m.for_client(client))
                && !re.is_match(&f.detail)
            {
                out.push(format!("message does not match /{}/", re.as_str()));
            }
        }
        _ => {}
    }
    out
}

fn field<T: PartialEq + std::fmt::Debug>(out: &mut Vec<String>, name: &str, want: Option<T>, got: Option<T>) {
    if let Some(w) = want
        && got.as_ref() != Some(&w)
    {
        out.push(format!("{name}: expected {w:?}, got {got:?}"));
    }
}
