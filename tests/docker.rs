//! The docs, clients, pg-suite, ocsp and cancel scenarios on every locally available PostgreSQL image
//! (stock builds: only the OCSP cases that need no `ssl_ocsp_file` run).
//!
//! Images come from `PGTLS_IMAGE_PATTERN` (default `postgres:{major}`) for majors 13–19 that
//! exist locally; nothing is pulled. Without a Docker engine or any image every test ends
//! ignored with that reason, unless `PGTLS_REQUIRE_DOCKER=1` (set by .ci/run where an engine
//! runs) makes it a failure. Clients as in tests/scenarios.rs (libpq is the image's own psql).
//!
//! Snapshots (tests/snapshots/docker), per client: the reference major's outcomes (15 when
//! present) as `<scenario>@<client>`, a major whose outcomes differ as
//! `<scenario>@pg<major>@<client>`.

use pgtls_harness::testing::{Backend, Suite};

fn main() -> std::process::ExitCode {
    Suite::new(env!("CARGO_MANIFEST_DIR"))
        .scenarios("scenarios/docs")
        .scenarios("scenarios/clients")
        .scenarios("scenarios/pg-suite")
        .scenarios("scenarios/ocsp")
        .scenarios("scenarios/matrix/cancel.toml")
        .divergences("scenarios/divergences.toml")
        .backend(Backend::Docker)
        .run()
}
