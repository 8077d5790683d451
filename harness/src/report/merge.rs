//! `pgtls report A.json B.json …`: merges reports (shards of one run, or runs on different
//! servers) into the report one machine would have written.
//!
//! Results are keyed by (scenario, server); a pair in two inputs is an error (a shard merged
//! twice). Shards combine: once every index 1..=N of a partition is present the merged report
//! holds the whole run, and the divergence registry's stale-entry check runs on it, as it
//! would have on an unsharded run. Merging is associative, so partial merges merge again.

use std::collections::BTreeSet;

use super::assemble::{check_stale, generator};
use super::schema::{Divergences, Report, ReportError, SCHEMA_MINOR, SCHEMA_VERSION, ServerMeta, ShardSet};

/// Merges `reports` (at least one) into one.
pub fn merge(reports: Vec<Report>) -> Result<Report, ReportError> {
    let mut iter = reports.into_iter();
    let Some(first) = iter.next() else {
        return Err(ReportError::Merge("no reports given".into()));
    };
    let mut out =
        Report { generator: generator(), schema_version: SCHEMA_VERSION, schema_minor: SCHEMA_MINOR, ..first };
    for r in iter {
        absorb(&mut out, r)?;
    }
    out.shards = out.shards.take().filter(|s| !covers(s));
    out.sort();
    check_stale(&mut out);
    out.agreement = super::agreement::agreement(&out.results);
    Ok(out)
}

fn absorb(out: &mut Report, r: Report) -> Result<(), ReportError> {
    if out.filter != r.filter {
        return Err(ReportError::Merge(format!(
            "the reports ran with different --filter ({:?} and {:?})",
            out.filter, r.filter
        )));
    }
    out.shards = combine(out.shards.take(), r.shards)?;
    out.started_at = out.started_at.clone().min(r.started_at);
    out.duration_ms += r.duration_ms;
    for s in r.servers {
        add_server(&mut out.servers, s)?;
    }
    for s in r.scenarios {
        if !out.scenarios.iter().any(|x| x.name == s.name) {
            out.scenarios.push(s);
        }
    }
    add_divergences(&mut out.divergences, r.divergences);
    for res in r.results {
        if out.results.iter().any(|x| x.scenario == res.scenario && x.server == res.server) {
            return Err(ReportError::Merge(format!(
                "scenario {} on {} is in two reports (hint: give each shard once)",
                res.scenario, res.server
            )));
        }
        out.results.push(res);
    }
    Ok(())
}

fn combine(a: Option<ShardSet>, b: Option<ShardSet>) -> Result<Option<ShardSet>, ReportError> {
    Ok(match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) if a.total != b.total => {
            return Err(ReportError::Merge(format!(
                "shards of different partitions ({} and {} shards)",
                a.total, b.total
            )));
        }
        (Some(a), Some(b)) => {
            let set: BTreeSet<usize> = a.indices.into_iter().chain(b.indices).collect();
            Some(ShardSet { total: a.total, indices: set.into_iter().collect() })
        }
    })
}

fn covers(s: &ShardSet) -> bool {
    (1..=s.total).all(|i| s.indices.contains(&i))
}

fn add_server(servers: &mut Vec<ServerMeta>, s: ServerMeta) -> Result<(), ReportError> {
    let Some(known) = servers.iter_mut().find(|x| x.label == s.label) else {
        servers.push(s);
        return Ok(());
    };
    if known.version_text != s.version_text {
        return Err(ReportError::Merge(format!(
            "server {} is a different build in two reports ({} and {})",
            s.label, known.version_text, s.version_text
        )));
    }
    for c in s.clients {
        if !known.clients.iter().any(|k| k.name == c.name) {
            known.clients.push(c);
        }
    }
    Ok(())
}

fn add_divergences(out: &mut Divergences, d: Divergences) {
    for e in d.entries {
        if !out.entries.contains(&e) {
            out.entries.push(e);
        }
    }
}
