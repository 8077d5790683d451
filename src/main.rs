//! The `pgtls` command line (work in progress).
use std::sync::Arc;
use pgtls_harness::{client::{libpq::LibpqClient, rust::RustClient}, runner, scenario, server::native};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap();
    let s = scenario::load_file(path.as_ref(), "scenarios".as_ref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let b = tokio::task::block_in_place(|| native::NativeBackend::new(native::Binaries::discover(None).unwrap())).map_err(anyhow::Error::msg)?;
    let cx = runner::RunContext { clients: vec![Arc::new(LibpqClient::new(&b.bindir().join("psql")).unwrap()), Arc::new(RustClient)], timeout: std::time::Duration::from_secs(10), divergences: Default::default(), filter: None };
    let r = runner::run_scenario(&s, &b, &cx).await;
    println!("{}", serde_json::to_string_pretty(&r)?);
    Ok(())
}
