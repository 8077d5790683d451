//! `pgtls run --shard K/N` and `pgtls report` merge: the merged report of three shards is the
//! report of the unsharded run (timings, logs and raw details aside), and the divergence
//! registry's stale-entry check runs on the merged report, never on a shard alone.
//!
//! Runs `scenarios/docs` four times on the native backend with libpq and rust, judged with the
//! project's registry plus one entry that can never match.

mod cli;

use std::path::Path;

const STALE_ENTRY: &str = r#"
[[divergence]]
client = "rust"
case = "docs/walkthrough-1-server-verification/*"
expected = "connected"
actual = "timeout"
reason = "never true: tests/shard.rs checks that it is reported stale"
"#;

fn run(dir: &Path, name: &str, registry: &Path, shard: Option<&str>) -> (String, std::path::PathBuf) {
    let json = dir.join(format!("{name}.json"));
    let mut args = vec!["run", "scenarios/docs", "--client", "libpq,rust"];
    args.extend(["--divergences", registry.to_str().unwrap(), "--json", json.to_str().unwrap()]);
    if let Some(s) = shard {
        args.extend(["--shard", s]);
    }
    (cli::pgtls_ok(&args, 0), json)
}

#[test]
fn three_shards_merge_into_the_unsharded_report_and_only_the_merge_checks_stale_entries() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("divergences.toml");
    let project = std::fs::read_to_string(cli::root().join("scenarios/divergences.toml")).unwrap();
    std::fs::write(&registry, project + STALE_ENTRY).unwrap();

    let (whole_out, whole) = run(dir.path(), "whole", &registry, None);
    assert!(
        whole_out.contains("STALE divergence entry: client rust case docs/walkthrough-1-server-verification/*"),
        "{whole_out}"
    );
    let mut parts = Vec::new();
    for k in 1..=3 {
        let (out, json) = run(dir.path(), &format!("shard-{k}"), &registry, Some(&format!("{k}/3")));
        assert!(!out.contains("STALE"), "a shard cannot know which entries are stale:\n{out}");
        assert!(
            out.contains(&format!(
                "note: shard {k}/3: the divergence registry's stale-entry check runs on the merged report"
            )),
            "{out}"
        );
        let r = cli::load(&json);
        assert!(r.divergences.stale.is_none() && !r.results.is_empty(), "shard {k}");
        parts.push(json.to_string_lossy().into_owned());
    }

    let merged = dir.path().join("merged.json");
    let mut args = vec!["report"];
    args.extend(parts.iter().map(String::as_str));
    args.extend(["--json", merged.to_str().unwrap()]);
    let out = cli::pgtls_ok(&args, 0);
    assert!(out.contains("STALE divergence entry: client rust case docs/walkthrough-1-server-verification/*"), "{out}");

    let (merged, whole) = (cli::load(&merged), cli::load(&whole));
    assert!(merged.shards.is_none(), "all three shards make the whole run");
    assert_eq!(merged.divergences.stale.as_ref().map(Vec::len), Some(1));
    assert_eq!(cli::stable(merged), cli::stable(whole));
}

#[test]
fn a_missing_shard_leaves_the_stale_check_undone() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("divergences.toml");
    std::fs::write(&registry, STALE_ENTRY).unwrap();
    let (_, one) = run(dir.path(), "one", &registry, Some("1/2"));
    let merged = dir.path().join("merged.json");
    let out = cli::pgtls_ok(&["report", one.to_str().unwrap(), "--json", merged.to_str().unwrap()], 0);
    assert!(out.contains("note: shards 2 of 2 are missing"), "{out}");
    assert!(!out.contains("STALE"), "{out}");
    assert!(cli::load(&merged).divergences.stale.is_none());
}

#[test]
fn merging_a_shard_twice_is_refused() {
    let f = cli::root().join("tests/fixtures/report-v1.json");
    let out = cli::pgtls(&["report", f.to_str().unwrap(), f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is in two reports (hint: give each shard once)"), "{err}");
}
