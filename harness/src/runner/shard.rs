//! `--shard K/N`: a deterministic partition of a run's scenarios over N machines.
//!
//! Scenarios are the unit (a scenario's cases share one server and its steps). Each scenario
//! gets a cost, the wall time a previous report recorded for it (`--shard-timings`) or an
//! estimate from the file alone, and scenarios are dealt longest first to the least loaded
//! shard (ties: lower shard, then scenario name). The result depends only on the scenario
//! files and the timings file, never on the machine, so every shard computes the same
//! partition.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::ScenarioResult;
use crate::scenario::{Scenario, Step};

/// Shard `index` (1-based) of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub total: usize,
}

/// A `--shard` value that is not `K/N` with 1 ≤ K ≤ N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to parse shard \"{0}\": expected K/N with 1 <= K <= N, e.g. 2/3")]
pub struct ShardParseError(String);

impl FromStr for Shard {
    type Err = ShardParseError;

    fn from_str(s: &str) -> Result<Shard, ShardParseError> {
        let err = || ShardParseError(s.to_owned());
        let (k, n) = s.split_once('/').ok_or_else(err)?;
        let index: usize = k.trim().parse().map_err(|_| err())?;
        let total: usize = n.trim().parse().map_err(|_| err())?;
        if index == 0 || index > total {
            return Err(err());
        }
        Ok(Shard { index, total })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// The scenarios of `shard`, in their original order; `timings` are the results of an
/// earlier run (a JSON report's `results`).
pub fn select(scenarios: Vec<Scenario>, shard: Shard, timings: Option<&[ScenarioResult]>) -> Vec<Scenario> {
    let costs = costs(&scenarios, timings);
    let owner = partition(&scenarios, &costs, shard.total);
    scenarios.into_iter().zip(owner).filter(|(_, k)| *k == shard.index).map(|(s, _)| s).collect()
}

/// The shard (1-based) of each scenario, for `costs` (same order as `scenarios`).
pub fn partition(scenarios: &[Scenario], costs: &[f64], total: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scenarios.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then_with(|| scenarios[a].name.cmp(&scenarios[b].name)));
    let mut load = vec![0.0_f64; total.max(1)];
    let mut owner = vec![1; scenarios.len()];
    for i in order {
        let (k, _) = load.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0))).unwrap_or((0, &0.0));
        load[k] += costs[i];
        owner[i] = k + 1;
    }
    owner
}

/// Each scenario's cost in milliseconds: recorded in `timings` (summed over its servers), or
/// estimated and scaled to the recorded ones.
pub fn costs(scenarios: &[Scenario], timings: Option<&[ScenarioResult]>) -> Vec<f64> {
    let recorded: BTreeMap<&str, f64> = timings.map_or_else(BTreeMap::new, |results| {
        let mut m = BTreeMap::new();
        for res in results {
            *m.entry(res.scenario.as_str()).or_insert(0.0) += res.timings.total_ms as f64;
        }
        m
    });
    let estimates: Vec<f64> = scenarios.iter().map(estimate).collect();
    let (mut measured, mut estimated) = (0.0, 0.0);
    for (s, e) in scenarios.iter().zip(&estimates) {
        if let Some(ms) = recorded.get(s.name.as_str()) {
            measured += ms;
            estimated += e;
        }
    }
    let scale = if measured > 0.0 && estimated > 0.0 { measured / estimated } else { 1.0 };
    scenarios.iter().zip(estimates).map(|(s, e)| recorded.get(s.name.as_str()).copied().unwrap_or(e * scale)).collect()
}

/// An estimate from the file alone, in rough milliseconds of one native run with two
/// clients: generating the PKI and starting the server, an attempt per case and client,
/// reloads and restarts.
pub fn estimate(s: &Scenario) -> f64 {
    const START: f64 = 400.0;
    const PER_ENTITY: f64 = 15.0;
    const PER_CASE: f64 = 60.0;
    const RELOAD: f64 = 40.0;
    const RESTART: f64 = 350.0;
    let steps = s.cases.iter().flat_map(|c| &c.steps);
    let (reloads, restarts) = steps.fold((0.0, 0.0), |(l, r), st| match st {
        Step::Reload => (l + 1.0, r),
        Step::Restart => (l, r + 1.0),
        _ => (l, r),
    });
    START
        + PER_ENTITY * s.pki.entities().len() as f64
        + PER_CASE * s.cases.len() as f64
        + RELOAD * reloads
        + RESTART * restarts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenarios(n: usize) -> Vec<Scenario> {
        (0..n)
            .map(|i| {
                let text = "[[case]]\nname = \"c\"\nexpect = \"connected\"\n".to_owned();
                crate::scenario::load_str(&text, std::path::Path::new("x.toml"), &format!("s{i:02}")).unwrap()
            })
            .collect()
    }

    #[test]
    fn shards_parse_and_refuse_what_is_not_k_of_n() {
        assert_eq!("2/3".parse::<Shard>().unwrap(), Shard { index: 2, total: 3 });
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            let e = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(e.starts_with(&format!("failed to parse shard \"{bad}\"")), "{e}");
        }
    }

    #[test]
    fn longest_first_to_the_least_loaded_shard() {
        let s = scenarios(6);
        let costs = [5.0, 4.0, 3.0, 3.0, 2.0, 1.0];
        let owner = partition(&s, &costs, 3);
        assert_eq!(owner, vec![1, 2, 3, 3, 2, 1]);
        let load = |k: usize| owner.iter().zip(costs).filter(|(o, _)| **o == k).map(|(_, c)| c).sum::<f64>();
        assert_eq!((load(1), load(2), load(3)), (6.0, 6.0, 6.0));
    }

    #[test]
    fn recorded_timings_win_and_scale_the_estimates_of_the_rest() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/report-v1.json");
        let report = crate::report::Report::load(&path).unwrap();
        let mut s = scenarios(2);
        s[0].name = "docs/manual-crl".into();
        let recorded: f64 =
            report.results.iter().filter(|r| r.scenario == "docs/manual-crl").map(|r| r.timings.total_ms as f64).sum();
        let c = costs(&s, Some(&report.results));
        assert_eq!(c[0], recorded);
        // s[1] has the same file shape as s[0], so the same scaled estimate.
        assert_eq!(c[1], estimate(&s[1]) * recorded / estimate(&s[0]));
    }

    #[test]
    fn every_scenario_lands_in_exactly_one_shard() {
        let s = scenarios(11);
        let mut seen: Vec<String> = Vec::new();
        for k in 1..=4 {
            seen.extend(select(s.clone(), Shard { index: k, total: 4 }, None).into_iter().map(|x| x.name));
        }
        seen.sort();
        assert_eq!(seen, s.iter().map(|x| x.name.clone()).collect::<Vec<_>>());
    }
}
