//! `pgtls serve`: one scenario's server, kept running for manual exploration.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use pgtls_harness::runner::{Session, Timings};
use pgtls_harness::setup::{self, ClientChoice};

#[derive(Args)]
pub struct ServeArgs {
    pub scenario: PathBuf,
    /// PostgreSQL binary directory (default: discover).
    #[arg(long, env = "PGTLS_PG_BIN")]
    pub pg_bin: Option<PathBuf>,
}

pub fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let Some(scenarios) = crate::load(std::slice::from_ref(&a.scenario))? else { return Ok(ExitCode::from(2)) };
        let s = &scenarios[0];
        let bins: Vec<PathBuf> = a.pg_bin.into_iter().collect();
        let targets =
            tokio::task::block_in_place(|| setup::native_targets(&bins, &ClientChoice { names: vec![], psql: None }))
                .map_err(anyhow::Error::msg)?;
        let backend = targets[0].backend.clone();
        let mut session =
            Session::open(s, backend.as_ref(), &mut Timings::default()).await.map_err(anyhow::Error::msg)?;
        if let Some(f) = session.start_failure() {
            println!("the server did not start: {}\n{}", f.summary, f.log_tail);
        }
        println!("{} is running ({}). Connection strings per case (passwords omitted):", s.name, backend.info().label);
        for case in &s.cases {
            let req = session.request(case, Duration::from_secs(10));
            let conninfo: Vec<String> = req
                .params
                .iter()
                .filter(|(k, _)| !req.secrets.contains(k))
                .map(|(k, v)| format!("{k}='{}'", v.replace('\'', "\\'")))
                .collect();
            let steps = if case.steps.is_empty() {
                ""
            } else {
                "  (this case changes the server first; serve does not apply steps)"
            };
            println!("\n# {}{steps}\npsql \"{}\"", case.name, conninfo.join(" "));
        }
        println!("\nPress Ctrl-C to stop.");
        tokio::signal::ctrl_c().await?;
        session.close().await;
        Ok(ExitCode::SUCCESS)
    })
}
