//! Every scenario under tls-scenarios/ as one test, snapshotted under tests/snapshots.

use pgtls_harness::testing::Suite;

fn main() -> std::process::ExitCode {
    Suite::new(env!("CARGO_MANIFEST_DIR"))
        .scenarios("tls-scenarios")
        .snapshots("tests/snapshots")
        .run()
}
