//! `pgtls diff`: what changed between two reports, e.g. the last build and a new one.
//!
//! Servers are paired first by label, then by major, then, when one server is left on each
//! side, with each other (a new build of another version, e.g. 15 → 17). Within a pair,
//! attempts are matched by scenario, case and client, and compared on what the outcome says
//! (class, TLS, protocol, cipher, user, client certificate, query result; for failures the
//! deciding side, SQLSTATE, alert and verify code) and on the verdict. What differs on every
//! run is ignored: timings, ports and paths (they live in the raw detail and the server log,
//! which are not compared), and client certificate serials unless asked for.

use std::collections::BTreeMap;

use super::schema::{Report, ServerMeta};
use crate::outcome::Outcome;
use crate::runner::{ClientResult, Verdict};

/// What `pgtls diff` compares beyond the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiffOptions {
    /// Compare client certificate serials too.
    pub serials: bool,
}

/// The changes from a base report to a new one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// `(base server, new server)` labels compared with each other.
    pub pairs: Vec<(String, String)>,
    /// Servers only in the base report.
    pub only_base: Vec<String>,
    /// Servers only in the new report.
    pub only_new: Vec<String>,
    pub changes: Vec<Change>,
    /// Why missing attempts may not mean vanished cases (a shard or a filtered run).
    pub caveats: Vec<String>,
}

/// One attempt that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub scenario: String,
    pub case: String,
    pub client: String,
    /// Server labels in the base and the new report.
    pub base_server: String,
    pub new_server: String,
    pub kind: ChangeKind,
    /// `(field, base value, new value)` for [`ChangeKind::Changed`].
    pub fields: Vec<(String, String, String)>,
    /// The new outcome (or the vanished one), one line.
    pub summary: String,
}

/// How an attempt changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// It ran in both and its outcome or verdict differs.
    Changed,
    /// It ran before and is skipped now.
    NewlySkipped,
    /// It was skipped before and runs now.
    Unskipped,
    /// Not in the base report.
    New,
    /// Not in the new report.
    Vanished,
}

impl ChangeKind {
    /// Lower-case label used in every rendering.
    pub fn label(self) -> &'static str {
        match self {
            ChangeKind::Changed => "changed",
            ChangeKind::NewlySkipped => "newly skipped",
            ChangeKind::Unskipped => "unskipped",
            ChangeKind::New => "new",
            ChangeKind::Vanished => "vanished",
        }
    }
}

impl Diff {
    /// Whether anything changed (the exit status of `pgtls diff`).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.only_base.is_empty() && self.only_new.is_empty()
    }
}

/// Compares `new` with `base`.
pub fn diff(base: &Report, new: &Report, opts: DiffOptions) -> Diff {
    let (pairs, only_base, only_new) = pair_servers(&base.servers, &new.servers);
    let mut changes = Vec::new();
    for (b, n) in &pairs {
        let before = attempts(base, b);
        let after = attempts(new, n);
        for (key, old) in &before {
            match after.get(key) {
                Some(cur) => changes.extend(compare(key, old, cur, opts).map(|c| c.on(b, n))),
                None => changes.push(one_sided(key, old, ChangeKind::Vanished).on(b, n)),
            }
        }
        for (key, cur) in after.iter().filter(|(k, _)| !before.contains_key(*k)) {
            changes.push(one_sided(key, cur, ChangeKind::New).on(b, n));
        }
    }
    let caveats = [("base", base), ("new", new)]
        .iter()
        .filter(|(_, r)| !r.is_whole())
        .map(|(side, _)| {
            format!("the {side} report holds part of a run (a shard or --filter): missing cases may just be elsewhere")
        })
        .collect();
    Diff { pairs, only_base, only_new, changes, caveats }
}

type Key = (String, String, String);

/// Every attempt of a server, by (scenario, case, client).
fn attempts<'a>(report: &'a Report, server: &str) -> BTreeMap<Key, &'a ClientResult> {
    let mut out = BTreeMap::new();
    for r in report.results.iter().filter(|r| r.server == server) {
        for c in &r.cases {
            for cr in &c.results {
                out.insert((r.scenario.clone(), c.name.clone(), cr.client.clone()), cr);
            }
        }
    }
    out
}

/// Pairs servers by label, then by major, then the last one left on each side.
fn pair_servers(base: &[ServerMeta], new: &[ServerMeta]) -> (Vec<(String, String)>, Vec<String>, Vec<String>) {
    let mut left_b: Vec<&ServerMeta> = base.iter().collect();
    let mut left_n: Vec<&ServerMeta> = new.iter().collect();
    let mut pairs = Vec::new();
    let same_label = |a: &ServerMeta, b: &ServerMeta| a.label == b.label;
    let same_major = |a: &ServerMeta, b: &ServerMeta| a.major == b.major;
    for rule in [&same_label as &dyn Fn(&ServerMeta, &ServerMeta) -> bool, &same_major] {
        let mut i = 0;
        while i < left_b.len() {
            match left_n.iter().position(|n| rule(left_b[i], n)) {
                Some(j) => pairs.push((left_b.remove(i).label.clone(), left_n.remove(j).label.clone())),
                None => i += 1,
            }
        }
    }
    if let ([b], [n]) = (left_b.as_slice(), left_n.as_slice()) {
        pairs.push((b.label.clone(), n.label.clone()));
        left_b.clear();
        left_n.clear();
    }
    let labels = |v: Vec<&ServerMeta>| v.into_iter().map(|s| s.label.clone()).collect();
    (pairs, labels(left_b), labels(left_n))
}

impl Change {
    fn on(mut self, base: &str, new: &str) -> Change {
        self.base_server = base.to_owned();
        self.new_server = new.to_owned();
        self
    }
}

fn one_sided(key: &Key, cr: &ClientResult, kind: ChangeKind) -> Change {
    Change {
        scenario: key.0.clone(),
        case: key.1.clone(),
        client: key.2.clone(),
        base_server: String::new(),
        new_server: String::new(),
        kind,
        fields: Vec::new(),
        summary: super::text::describe(&cr.outcome),
    }
}

fn compare(key: &Key, old: &ClientResult, cur: &ClientResult, opts: DiffOptions) -> Option<Change> {
    let skipped = |cr: &ClientResult| matches!(cr.outcome, Outcome::Skipped { .. });
    let kind = match (skipped(old), skipped(cur)) {
        (true, true) => return None,
        (false, true) => ChangeKind::NewlySkipped,
        (true, false) => ChangeKind::Unskipped,
        (false, false) => ChangeKind::Changed,
    };
    let mut change = one_sided(key, cur, kind);
    if kind == ChangeKind::Changed {
        let (a, b) = (facts(old, opts), facts(cur, opts));
        // A new class makes every other fact differ; the class (and verdict) say it all.
        let class_changed = a[0].1 != b[0].1;
        change.fields = a
            .iter()
            .zip(&b)
            .take(if class_changed { 2 } else { a.len() })
            .filter(|(x, y)| x.1 != y.1)
            .map(|(x, y)| (x.0.to_owned(), x.1.clone(), y.1.clone()))
            .collect();
        if change.fields.is_empty() {
            return None;
        }
    }
    Some(change)
}

/// The compared facts of an attempt, every one in a fixed order (`-` where it does not
/// apply), so two attempts line up field by field.
fn facts(cr: &ClientResult, opts: DiffOptions) -> Vec<(&'static str, String)> {
    let o = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let verdict = match cr.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail { .. } => "fail",
        Verdict::Skip { .. } => "skip",
        Verdict::KnownDivergence { .. } => "known-divergence",
    };
    let (c, f) = match &cr.outcome {
        Outcome::Connected(c) => (Some(c), None),
        Outcome::Failed(f) => (None, Some(f)),
        Outcome::Skipped { .. } => (None, None),
    };
    let cert = c.and_then(|c| c.client_cert.as_ref());
    let mut v = vec![
        ("class", cr.outcome.class_name().to_owned()),
        ("verdict", verdict.to_owned()),
        ("ssl", o(c.map(|c| c.ssl.to_string()))),
        ("protocol", o(c.and_then(|c| c.protocol.clone()))),
        ("cipher", o(c.and_then(|c| c.cipher.clone()))),
        ("user", o(c.map(|c| c.user.clone()))),
        ("client_dn", o(cert.map(|x| x.dn.clone()))),
        ("issuer_dn", o(cert.map(|x| x.issuer_dn.clone()))),
        ("query", o(c.and_then(|c| c.query.as_ref()).map(|q| format!("{q:?}")))),
        (
            "cancel",
            o(c.and_then(|c| c.cancel.as_ref())
                .map(|k| format!("{} over {}", k.sqlstate.as_deref().unwrap_or("-"), k.openings.join(",")))),
        ),
        ("side", o(f.map(|f| format!("{:?}", f.side).to_lowercase()))),
        ("sqlstate", o(f.and_then(|f| f.sqlstate.clone()))),
        ("alert", o(f.and_then(|f| f.alert).map(|a| a.to_string()))),
        ("verify_code", o(f.and_then(|f| f.verify_code).map(|a| a.to_string()))),
    ];
    if opts.serials {
        v.push(("client_serial", o(cert.map(|x| x.serial.clone()))));
    }
    v
}
