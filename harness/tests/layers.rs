//! The harness's modules import only from layers below them: the folders tell the data flow.
//!
//! Reads every file under `src/` and fails on a `crate::<module>` path (in a `use` or inline,
//! grouped `use crate::{a, b}` included) that names a module of the same or a higher layer
//! than the file's own top-level module. Comments and `#[cfg(test)] mod tests` blocks are not
//! read: docs may point anywhere, and unit tests may build fixtures with any layer.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bottom to top. `outcome` is plain data and `util`/`cache`/`cleanup` are helpers every layer may
/// use; `hba` (pg_hba evaluation) sits beside `pki`, below the server and classification that
/// both use it; `setup` and `testing` assemble everything.
const LAYERS: &[&[&str]] = &[
    &["util", "cache", "outcome", "cleanup"],
    &["scenario"],
    &["pki", "hba"],
    &["server"],
    &["client"],
    &["classify"],
    &["runner"],
    &["report"],
    &["setup"],
    &["testing"],
];

/// Back-imports still to be removed, as (file, imported module); the list may only shrink.
const KNOWN: &[(&str, &str)] = &[];

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = BTreeSet::new();
    let mut problems = Vec::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        let Some(own) = top_module(&rel) else { continue };
        let own_layer = layer(own).unwrap_or_else(|| panic!("{rel}: module `{own}` is in no layer of LAYERS"));
        let text = code_of(&std::fs::read_to_string(&file).unwrap());
        for used in imported_modules(&text) {
            let Some(used_layer) = layer(&used) else { continue };
            if used != own && used_layer >= own_layer {
                found.insert((rel.clone(), used.clone()));
                if !KNOWN.contains(&(rel.as_str(), used.as_str())) {
                    problems.push(format!("{rel} (layer `{own}`) imports crate::{used}, a layer above or beside it"));
                }
            }
        }
    }
    let gone: Vec<_> = KNOWN.iter().filter(|(f, m)| !found.contains(&((*f).to_owned(), (*m).to_owned()))).collect();
    assert!(gone.is_empty(), "remove these from KNOWN, they are fixed: {gone:?}");
    assert!(problems.is_empty(), "back-imports (layers, bottom up: {LAYERS:?}):\n{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_grouped_and_inline_paths() {
    let text = code_of(
        "use crate::{report, server::log};\n// crate::setup in a comment\nlet x = crate::runner::f();\n\
         #[cfg(test)]\nmod tests {\n    use crate::testing;\n}\n",
    );
    assert_eq!(imported_modules(&text), ["report", "runner", "server"].map(String::from).into_iter().collect());
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a file belongs to (`server/docker/mod.rs` → `server`); `None` for the
/// crate root.
fn top_module(rel: &str) -> Option<&str> {
    match rel.split_once('/') {
        Some((dir, _)) => Some(dir),
        None => rel.strip_suffix(".rs").filter(|m| *m != "lib"),
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The file without line comments and without its unit-test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines().map(|l| l.split_once("//").map_or(l, |(code, _)| code)).collect::<Vec<_>>().join("\n")
}

/// Every module named right after `crate::`, grouped imports (`crate::{a, b::c}`) included.
fn imported_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = closing_brace(group);
            out.extend(top_level_items(&group[..end]).into_iter().filter_map(ident));
        } else if let Some(m) = ident(rest) {
            out.insert(m);
        }
    }
    out
}

fn ident(s: &str) -> Option<String> {
    let s = s.trim_start();
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    let m = &s[..end];
    (!m.is_empty() && m != "self").then(|| m.to_owned())
}

/// The index of the `}` closing a group whose `{` came just before `s`.
fn closing_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

/// A group's items split at its top-level commas.
fn top_level_items(group: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}
