//! One test per scenario file under `scenarios/`: run it on the native backend with every
//! client, snapshot every outcome (tests/snapshots), and fail on any unmet expectation.
//!
//! Select one with `cargo test --test scenarios -- <part of its path>`. Snapshots are YAML
//! with ports, scratch paths and serials redacted; accept new ones with
//! `INSTA_UPDATE=always cargo test --test scenarios` and review the diff.

mod common;

use std::path::PathBuf;

use rstest::rstest;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario(
    #[files("scenarios/**/*.toml")]
    #[exclude("divergences\\.toml$")]
    path: PathBuf,
) {
    let scenario = common::load(&path);
    let targets = common::native_targets();
    let result = common::run(&scenario, &targets[0]).await;
    common::snapshot(&scenario.name, None, &result);
    common::assert_passed(&[result]);
}
