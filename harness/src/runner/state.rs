//! The server state a scenario's steps build, and which cases run in the state they were
//! written for.
//!
//! Steps persist: a case runs against the server its own steps and every earlier case's steps
//! made. A case skipped by `requires` (or left out by `--filter`) does not apply its steps, so
//! the cases after it would meet a server the author never described, and could pass or fail
//! for the wrong reason. [`plan`] follows two models of the server through the scenario, the
//! one the file describes (every case's steps) and the one this run builds (only the steps of
//! cases that apply them), and skips a case whose server differs, naming the skipped case
//! responsible. The models compare what the server has *loaded*: a `set` takes effect at the
//! next `"reload"` or `"restart"`, so a divergence shows from there on, and a later case that
//! writes the same state again (for example `reset`, `set`, `hba`, then `"restart"`) makes
//! the two agree and runs. Cases left out by `--filter` apply their steps without connecting
//! (and are not reported), so a filtered run meets the state the file describes.

use std::collections::{BTreeMap, BTreeSet};

use crate::pki::Materialized;
use crate::scenario::{Case, KeyFilePerms, Scenario, SettingValue, Step};
use crate::server::ServerConfig;

/// What the runner does with one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasePlan {
    /// Apply its steps, then connect with every client.
    Run,
    /// Its requirements are not met: report it skipped with this reason; no steps.
    Unmet(String),
    /// Apply its steps, but do not connect: the server differs from what the scenario
    /// describes for it. Reported skipped with this reason.
    Dependent(String),
    /// Left out by the filter, but later selected cases need its steps: apply them silently.
    StepsOnly,
    /// Left out by the filter and nothing after it needs it (or requirements unmet): nothing.
    Omitted,
}

/// Plans every case of `s`: `unmet` says why a case's requirements are not met (or `None`),
/// `selected` whether the run's filter selects it.
pub fn plan(s: &Scenario, unmet: impl Fn(&Case) -> Option<String>, selected: impl Fn(&Case) -> bool) -> Vec<CasePlan> {
    let last_selected = s.cases.iter().rposition(&selected);
    let mut described = Model::new(s);
    let mut built = Model::new(s);
    // Skipped cases with steps since the two models last agreed, with their reasons.
    let mut culprits: Vec<(String, String)> = Vec::new();
    let mut out = Vec::with_capacity(s.cases.len());
    for (i, case) in s.cases.iter().enumerate() {
        let is_selected = selected(case);
        let needed = last_selected.is_some_and(|last| i <= last);
        let reason = unmet(case);
        let applies = reason.is_none() && (is_selected || needed);
        described.apply(&case.steps);
        if applies {
            built.apply(&case.steps);
        } else if !case.steps.is_empty() {
            let why = reason.clone().unwrap_or_else(|| "left out by the filter".to_owned());
            culprits.push((case.name.clone(), why));
        }
        if described.whole() == built.whole() {
            culprits.clear();
        }
        let culprit = culprits.first().filter(|_| described.loaded() != built.loaded());
        out.push(if !is_selected {
            if applies { CasePlan::StepsOnly } else { CasePlan::Omitted }
        } else if let Some(r) = reason {
            CasePlan::Unmet(r)
        } else if let Some((name, why)) = culprit {
            CasePlan::Dependent(format!("depends on the steps of skipped case \"{name}\" ({why})"))
        } else {
            CasePlan::Run
        });
    }
    out
}

/// Cases that would be skipped as [`CasePlan::Dependent`] on some PostgreSQL major, judged
/// from `requires.pg` alone (what `pgtls check` can know without a server): `(case, reason,
/// majors)`. Majors next to those the requirements name are tried.
pub fn dependents_by_major(s: &Scenario) -> Vec<(String, String, Vec<u32>)> {
    let mut majors: BTreeSet<u32> = BTreeSet::new();
    for req in s.cases.iter().filter_map(|c| c.requires.pg.as_ref()) {
        for m in req.majors() {
            majors.extend([m.saturating_sub(1), m, m + 1]);
        }
    }
    let mut out: Vec<(String, String, Vec<u32>)> = Vec::new();
    for major in majors {
        let v = crate::scenario::PgVersion { major, minor: 0, prerelease: false };
        let unmet = |c: &Case| {
            let req = c.requires.pg.as_ref().filter(|r| !r.matches(v))?;
            Some(format!("needs PostgreSQL {req}"))
        };
        for (case, p) in s.cases.iter().zip(plan(s, unmet, |_| true)) {
            let CasePlan::Dependent(reason) = p else { continue };
            match out.iter_mut().find(|(n, r, _)| *n == case.name && *r == reason) {
                Some(entry) => entry.2.push(major),
                None => out.push((case.name.clone(), reason, vec![major])),
            }
        }
    }
    out
}

/// The server as steps change it: the configuration being written (`pending`), what the
/// running server last loaded (at a reload or restart) and last started with, and the
/// extensions created.
struct Model {
    pending: ConfigState,
    reloaded: Snapshot,
    started: Snapshot,
    extensions: BTreeSet<String>,
}

/// A configuration compared by content: settings by name, not by the order steps wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    settings: BTreeMap<String, SettingValue>,
    hba: Vec<String>,
    ident: Vec<String>,
    key_file: KeyFilePerms,
}

impl Model {
    fn new(s: &Scenario) -> Model {
        let pending = ConfigState::new(s);
        let snap = pending.snapshot();
        Model { pending, reloaded: snap.clone(), started: snap, extensions: BTreeSet::new() }
    }

    fn apply(&mut self, steps: &[Step]) {
        for step in steps {
            self.pending.change(step);
            match step {
                Step::Reload => self.reloaded = self.pending.snapshot(),
                Step::Restart => {
                    self.reloaded = self.pending.snapshot();
                    self.started = self.reloaded.clone();
                }
                Step::Extension(name) => {
                    self.extensions.insert(name.clone());
                }
                _ => {}
            }
        }
    }

    /// What the server runs with, as far as a case can tell.
    fn loaded(&self) -> (&Snapshot, &Snapshot, &BTreeSet<String>) {
        (&self.reloaded, &self.started, &self.extensions)
    }

    /// What it runs with and what the next reload or restart would load.
    fn whole(&self) -> (Snapshot, (&Snapshot, &Snapshot, &BTreeSet<String>)) {
        (self.pending.snapshot(), self.loaded())
    }
}

/// The server configuration as steps change it.
pub(super) struct ConfigState {
    settings: Vec<(String, SettingValue)>,
    pub(super) hba: Vec<String>,
    ident: Vec<String>,
    key_file: KeyFilePerms,
    extra_files: Vec<(String, Vec<SettingValue>)>,
    /// The `[server]` tables' configuration, for the `"initial"` step.
    initial: Snapshot,
}

impl ConfigState {
    pub(super) fn new(s: &Scenario) -> Self {
        let mut state = ConfigState {
            settings: s.server.conf.clone(),
            hba: s.server.hba.clone(),
            ident: s.server.ident.clone(),
            key_file: s.server.key_file,
            extra_files: s.server.files.clone(),
            initial: Snapshot {
                settings: BTreeMap::new(),
                hba: Vec::new(),
                ident: Vec::new(),
                key_file: s.server.key_file,
            },
        };
        state.initial = state.snapshot();
        state
    }

    /// Whether the server currently has `ssl` on.
    pub(super) fn ssl_on(&self) -> bool {
        self.settings.iter().any(|(k, v)| {
            k == "ssl"
                && matches!(v, SettingValue::Literal(x) if matches!(x.to_lowercase().as_str(), "on" | "true" | "yes" | "1"))
        })
    }

    pub(super) fn change(&mut self, step: &Step) {
        match step {
            Step::Set(list) => {
                for (k, v) in list {
                    match self.settings.iter_mut().find(|(n, _)| n == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => self.settings.push((k.clone(), v.clone())),
                    }
                }
            }
            Step::Reset(names) => self.settings.retain(|(n, _)| !names.contains(n)),
            Step::Hba(lines) => self.hba = lines.clone(),
            Step::Ident(lines) => self.ident = lines.clone(),
            Step::KeyFile(p) => self.key_file = *p,
            Step::Initial => {
                let i = self.initial.clone();
                self.settings = i.settings.into_iter().collect();
                (self.hba, self.ident, self.key_file) = (i.hba, i.ident, i.key_file);
            }
            Step::Extension(_) | Step::Reload | Step::Restart => {}
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            settings: self.settings.iter().cloned().collect(),
            hba: self.hba.clone(),
            ident: self.ident.clone(),
            key_file: self.key_file,
        }
    }

    pub(super) fn render(&self, pki: &Materialized) -> ServerConfig {
        let mut cfg = ServerConfig { hba: self.hba.clone(), ident: self.ident.clone(), ..ServerConfig::default() };
        for (name, value) in &self.settings {
            let (v, file) = pki.server_value(name, value, self.key_file);
            cfg.settings.push((name.clone(), v));
            cfg.files.extend(file);
        }
        for (name, pieces) in &self.extra_files {
            let mut rendered = Vec::new();
            for piece in pieces {
                let (v, file) = pki.server_value(name, piece, self.key_file);
                rendered.push(v);
                cfg.files.extend(file);
            }
            cfg.extra_files.push((name.clone(), rendered));
        }
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{PgVersion, load_str};

    fn scenario(file: &str) -> Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        load_str(&text, &path, "fixture").unwrap()
    }

    fn plan_on(s: &Scenario, major: u32, filter: Option<&str>) -> Vec<CasePlan> {
        let v = PgVersion { major, minor: 0, prerelease: false };
        let unmet = |c: &Case| c.requires.pg.as_ref().filter(|r| !r.matches(v)).map(|r| format!("needs {r}"));
        plan(s, unmet, |c| filter.is_none_or(|f| c.name.contains(f)))
    }

    #[test]
    fn a_skipped_case_with_steps_skips_what_depends_on_them() {
        let s = scenario("skipped-steps.toml");
        let dependent =
            |case: &str| CasePlan::Dependent(format!("depends on the steps of skipped case \"{case}\" (needs >=99)"));
        assert_eq!(
            plan_on(&s, 15, None),
            vec![
                CasePlan::Unmet("needs >=99".into()),
                dependent("reject everyone"),
                CasePlan::Run,
                CasePlan::Unmet("needs >=99".into()),
                CasePlan::Run,
                dependent("a setting written but not loaded"),
                CasePlan::Run,
            ]
        );
    }

    #[test]
    fn cases_left_out_by_the_filter_apply_their_steps_for_later_ones() {
        let s = scenario("filtered-steps.toml");
        assert_eq!(
            plan_on(&s, 15, Some("still rejected")),
            vec![CasePlan::StepsOnly, CasePlan::Run, CasePlan::Omitted]
        );
    }
}
