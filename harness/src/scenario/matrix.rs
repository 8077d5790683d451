//! `[matrix]`: crosses named axes into generated cases with stable names.
//!
//! Each axis value says what it changes (`require = { client = { sslmode = "require" } }`), and
//! a cell is one value of every axis in `cross`, applied over `[client]` in that order. A cell
//! is named `axis=value/axis=value/…`: the name depends only on axis and value names (both
//! levels are sorted maps, so neither the order of TOML tables nor an edit elsewhere in the
//! file renames a cell), which lets the divergence registry and snapshots name cells by glob.
//! An axis owns the keywords it writes: two axes setting one keyword would make a cell's
//! meaning depend on `cross` order, so that is an error.

use std::collections::BTreeMap;

use super::load::Convert;
use super::locate::KeyPath;
use super::raw::{RawMatrix, RawPatch, RawValue};
use super::{Case, Cell, ClientSettings, Requires, SettingValue};
use crate::util::did_you_mean;

/// Most cells one matrix may generate (a typo in an axis should not eat the machine).
const MAX_CELLS: usize = 20_000;

/// One resolved axis value.
struct Value {
    name: String,
    client: ClientSettings,
    env: Vec<(String, Vec<SettingValue>)>,
    requires: Requires,
    cancel: bool,
    /// TOML-like text of what it sets, for reports.
    text: String,
}

struct Axis {
    name: String,
    values: Vec<Value>,
}

impl Convert {
    /// Appends the matrix's cells to `cases`, after the `[[case]]` tables.
    pub(super) fn matrix(&mut self, raw: RawMatrix, path: &KeyPath, defaults: &ClientSettings, cases: &mut Vec<Case>) {
        let axes = self.axes(&raw, path);
        self.check_ownership(&raw, &axes, path);
        let excludes = self.excludes(&raw.exclude, &axes, &path.key("exclude"));
        let expect = self.expect(raw.expect, &path.key("expect"));
        let total = axes.iter().map(|a| a.values.len()).product::<usize>();
        if total > MAX_CELLS {
            let msg = format!("the matrix has {total} cells, more than {MAX_CELLS}");
            self.error(&path.key("cross"), msg, Some("cross fewer axes, or split the scenario".into()));
            return;
        }
        if axes.is_empty() || axes.iter().any(|a| a.values.is_empty()) {
            return;
        }
        let line = self.line_of(path);
        for pick in product(&axes) {
            if excludes.iter().any(|ex| ex.iter().all(|(a, v)| pick[*a] == *v)) {
                continue;
            }
            let case = cell_case(&axes, &pick, defaults, line, &raw.mirrors, &raw.source, &expect);
            if cases.iter().any(|c| c.name == case.name) {
                let msg = format!("matrix cell \"{}\" has the name of a [[case]]", case.name);
                self.error(&path.key("cross"), msg, Some("rename the case".into()));
            }
            cases.push(case);
        }
    }

    /// The crossed axes in `cross` order, each value resolved; problems reported.
    fn axes(&mut self, raw: &RawMatrix, path: &KeyPath) -> Vec<Axis> {
        let cross_path = path.key("cross");
        if raw.cross.is_empty() {
            let hint = "list the axes to cross, e.g. cross = [\"sslmode\", \"host\"]";
            self.error(&cross_path, "the matrix crosses no axes", Some(hint.into()));
        }
        let mut out: Vec<Axis> = Vec::new();
        for (i, name) in raw.cross.iter().enumerate() {
            let p = cross_path.index(i);
            if out.iter().any(|a| &a.name == name) {
                self.error(&p, format!("axis `{name}` is crossed twice"), Some("list each axis once".into()));
                continue;
            }
            let Some(values) = raw.axes.get(name) else {
                let hint = did_you_mean(name, raw.axes.keys().map(String::as_str))
                    .unwrap_or_else(|| format!("declare it as [matrix.axes.{name}]"));
                self.error(&p, format!("unknown axis `{name}`"), Some(hint));
                continue;
            };
            out.push(self.axis(name, values, &path.key("axes").key(name)));
        }
        for name in raw.axes.keys().filter(|n| !raw.cross.contains(n)) {
            let p = path.key("axes").key(name);
            self.check_name("axis", name, &p);
            let hint = format!("add \"{name}\" to matrix.cross, or remove the axis");
            self.error(&p, format!("axis `{name}` is not crossed"), Some(hint));
        }
        out
    }

    fn axis(&mut self, name: &str, raw: &BTreeMap<String, RawPatch>, path: &KeyPath) -> Axis {
        self.check_name("axis", name, path);
        if raw.is_empty() {
            let hint = "give it at least one value, e.g. `require = { client = { sslmode = \"require\" } }`";
            self.error(path, format!("axis `{name}` has no values"), Some(hint.into()));
        }
        let values = raw
            .iter()
            .map(|(value, patch)| {
                let p = path.key(value);
                self.check_name("value", value, &p);
                Value {
                    name: value.clone(),
                    client: self.client(&patch.client, &p.key("client"), &ClientSettings::default()),
                    env: self.env(&patch.env, &p.key("env")),
                    requires: self.requires(&patch.requires, &p.key("requires")),
                    cancel: patch.cancel.unwrap_or(false),
                    text: patch_text(patch),
                }
            })
            .collect();
        Axis { name: name.to_owned(), values }
    }

    /// Axis and value names become case names (`axis=value/…`) and registry globs.
    fn check_name(&mut self, what: &str, name: &str, path: &KeyPath) {
        let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            let hint = "a cell is named `axis=value/…`: use letters, digits, `-`, `_` and `.`";
            self.error(path, format!("`{name}` is not a valid {what} name"), Some(hint.into()));
        }
    }

    /// Reports a client keyword or environment variable written by two axes.
    fn check_ownership(&mut self, raw: &RawMatrix, axes: &[Axis], path: &KeyPath) {
        let mut owner: BTreeMap<String, &str> = BTreeMap::new();
        for axis in axes {
            let Some(values) = raw.axes.get(&axis.name) else { continue };
            let mut mine: Vec<(String, KeyPath)> = Vec::new();
            for (value, patch) in values {
                let p = path.key("axes").key(&axis.name).key(value);
                mine.extend(patch.client.keys().map(|k| (k.clone(), p.key("client").key(k))));
                mine.extend(patch.env.keys().map(|k| (format!("env {k}"), p.key("env").key(k))));
            }
            for (key, p) in &mine {
                match owner.get(key) {
                    Some(other) if *other != axis.name => {
                        let msg = format!("`{key}` is also set by axis `{other}`");
                        let hint = "an axis owns the keywords it sets: set it in one axis only";
                        self.error(p, msg, Some(hint.into()));
                    }
                    _ => {}
                }
            }
            for (key, _) in mine {
                owner.entry(key).or_insert(&axis.name);
            }
        }
    }

    /// `exclude` tables as `(axis position, value position)` pairs.
    fn excludes(
        &mut self,
        raw: &[BTreeMap<String, String>],
        axes: &[Axis],
        path: &KeyPath,
    ) -> Vec<Vec<(usize, usize)>> {
        let mut out = Vec::new();
        for (i, table) in raw.iter().enumerate() {
            let p = path.index(i);
            if table.is_empty() {
                self.error(&p, "an empty exclusion drops every cell", Some("name at least one axis = value".into()));
                continue;
            }
            let mut pairs = Vec::new();
            for (axis, value) in table {
                let Some(a) = axes.iter().position(|x| &x.name == axis) else {
                    let hint = did_you_mean(axis, axes.iter().map(|x| x.name.as_str()));
                    self.error(&p.key(axis), format!("unknown axis `{axis}`"), hint);
                    continue;
                };
                let Some(v) = axes[a].values.iter().position(|x| &x.name == value) else {
                    let names = axes[a].values.iter().map(|x| x.name.as_str());
                    let hint = did_you_mean(value, names);
                    self.error(&p.key(axis), format!("axis `{axis}` has no value `{value}`"), hint);
                    continue;
                };
                pairs.push((a, v));
            }
            out.push(pairs);
        }
        out
    }
}

/// Every pick of one value per axis (value positions, in axis order), the last axis fastest.
fn product(axes: &[Axis]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for axis in axes {
        out = out.into_iter().flat_map(|pick| (0..axis.values.len()).map(move |v| extend(&pick, v))).collect();
    }
    out
}

fn extend(pick: &[usize], v: usize) -> Vec<usize> {
    let mut p = pick.to_vec();
    p.push(v);
    p
}

fn cell_case(
    axes: &[Axis],
    pick: &[usize],
    defaults: &ClientSettings,
    line: usize,
    mirrors: &Option<String>,
    source: &Option<String>,
    expect: &super::Expectation,
) -> Case {
    let mut client = defaults.clone();
    let mut env = Vec::new();
    let mut requires = Requires::default();
    let mut cancel = false;
    let mut values = Vec::new();
    for (axis, &v) in axes.iter().zip(pick) {
        let value = &axis.values[v];
        for (k, val) in &value.client.0 {
            client.set(k, val.clone());
        }
        env.extend(value.env.iter().cloned());
        requires = requires.and(&value.requires);
        cancel |= value.cancel;
        values.push((axis.name.clone(), value.name.clone(), value.text.clone()));
    }
    let cell = Cell { values };
    Case {
        name: cell.name(),
        line,
        mirrors: mirrors.clone(),
        source: source.clone(),
        requires,
        steps: Vec::new(),
        client,
        query: None,
        cancel,
        env,
        expect: expect.clone(),
        cell: Some(cell),
    }
}

/// `client = { sslmode = "require" }`-style text of a patch (empty for an empty patch).
fn patch_text(p: &RawPatch) -> String {
    let table = |m: &mut dyn Iterator<Item = (&String, String)>| {
        let items: Vec<String> = m.map(|(k, v)| format!("{k} = {v:?}")).collect();
        format!("{{ {} }}", items.join(", "))
    };
    let mut parts = Vec::new();
    if !p.client.is_empty() {
        parts.push(format!("client = {}", table(&mut p.client.iter().map(|(k, RawValue(v))| (k, v.clone())))));
    }
    if !p.env.is_empty() {
        parts.push(format!("env = {}", table(&mut p.env.iter().map(|(k, v)| (k, v.clone())))));
    }
    if let Some(cancel) = p.cancel {
        parts.push(format!("cancel = {cancel}"));
    }
    if let Some(pg) = &p.requires.pg {
        parts.push(format!("requires = {{ pg = {pg:?} }}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn cells_are_named_in_cross_order_values_sorted_and_exclusions_drop_cells() {
        let text = r#"
[matrix]
cross = ["b", "a"]
expect = "reference"
exclude = [{ a = "x", b = "two" }]
[matrix.axes.a]
y = { client = { sslmode = "require" } }
x = { client = { sslmode = "disable" } }
[matrix.axes.b]
two = { client = { dbname = "d2" } }
one = {}
[[case]]
name = "plain"
expect = "connected"
"#;
        let s = super::super::load_str(text, Path::new("m.toml"), "m").unwrap();
        let names: Vec<&str> = s.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["plain", "b=one/a=x", "b=one/a=y", "b=two/a=y"]);
        let c = &s.cases[3];
        assert_eq!(c.client.text("sslmode"), Some("require"));
        assert_eq!(c.client.text("dbname"), Some("d2"));
        assert!(c.cell.is_some() && s.cases[0].cell.is_none());
        assert_eq!(c.expect.outcome, crate::scenario::ExpectedOutcome::Reference);
    }
}
