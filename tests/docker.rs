//! The docs, clients and pg-suite scenarios on every locally available PostgreSQL image.
//!
//! Images come from `PGTLS_IMAGE_PATTERN` (default `postgres:{major}`) for majors 13–19 that
//! exist locally; nothing is pulled. Without a Docker engine or any image the tests say so and
//! pass as skipped, unless `PGTLS_REQUIRE_DOCKER=1` (set by .ci/run where an engine runs), which
//! makes a missing engine or image a failure. Clients as in tests/scenarios.rs (libpq is the
//! image's own psql).
//!
//! Snapshots: one shared `@docker` snapshot holds the outcomes of the reference major (15 when
//! present); a major whose outcomes differ gets its own `@docker-pg<major>` snapshot.

mod common;

use std::path::PathBuf;

use rstest::rstest;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_scenario(
    #[files("scenarios/docs/*.toml")]
    #[files("scenarios/clients/*.toml")]
    #[files("scenarios/pg-suite/*.toml")]
    path: PathBuf,
) {
    let Some(targets) = common::docker_targets() else { return };
    let scenario = common::load(&path);
    let mut results = Vec::new();
    for t in &targets {
        results.push(common::run(&scenario, t).await);
    }
    common::snapshot_majors(&scenario.name, &results);
    common::assert_passed(&results);
}
