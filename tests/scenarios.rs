//! One test per scenario file under `scenarios/`: run it on the native backend with every
//! client, snapshot every client's outcomes (tests/snapshots/native) and fail on any unmet
//! expectation; a file whose every attempt was skipped (by `requires`) ends ignored, with the
//! reason, not passed.
//!
//! Select one with `cargo test --test scenarios -- <part of its name>`. Accept new snapshots
//! with `INSTA_UPDATE=always cargo test --test scenarios` and review the diff. The mechanics
//! live in `pgtls_harness::testing`, which other crates use the same way.

fn main() -> std::process::ExitCode {
    pgtls_harness::testing::Suite::new(env!("CARGO_MANIFEST_DIR")).scenarios("scenarios").run()
}
