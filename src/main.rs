//! The `pgtls` command: run scenarios, validate them, write their certificates, or serve one.
//!
//! Exit codes: 0 when every attempt passed (or was skipped with a reason), 1 when any failed,
//! 2 when scenarios could not be loaded or the run could not start.

mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "pgtls", version, about = "End-to-end conformance harness for PostgreSQL TLS")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against real servers with real clients.
    Run(Box<run::RunArgs>),
    /// Validate scenario files without starting anything.
    Check(CheckArgs),
    /// Write a scenario's certificates, keys, bundles, CRLs and OCSP responses for manual use.
    Certs(CertsArgs),
    /// Start a scenario's server and print a connection string per case; stop on Ctrl-C.
    Serve(serve::ServeArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// Scenario files or directories.
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
}

#[derive(Args)]
struct CertsArgs {
    scenario: PathBuf,
    /// Output directory (created).
    #[arg(long)]
    out: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run::run(*a),
        Command::Check(a) => check(a),
        Command::Certs(a) => certs(a),
        Command::Serve(a) => serve::serve(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pgtls: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Loads scenarios, printing every located error; `None` when any failed to load.
pub fn load(paths: &[PathBuf]) -> anyhow::Result<Option<Vec<pgtls_harness::scenario::Scenario>>> {
    let files = pgtls_harness::setup::scenario_files(paths).map_err(anyhow::Error::msg)?;
    if files.is_empty() {
        anyhow::bail!("no scenario files under {paths:?}");
    }
    match pgtls_harness::setup::load_scenarios(&files) {
        Ok(s) => Ok(Some(s)),
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            Ok(None)
        }
    }
}

fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let Some(scenarios) = load(&a.paths)? else { return Ok(ExitCode::from(2)) };
    let cases: usize = scenarios.iter().map(|s| s.cases.len()).sum();
    println!("{} scenarios, {cases} cases: ok", scenarios.len());
    Ok(ExitCode::SUCCESS)
}

fn certs(a: CertsArgs) -> anyhow::Result<ExitCode> {
    let Some(scenarios) = load(std::slice::from_ref(&a.scenario))? else { return Ok(ExitCode::from(2)) };
    let s = &scenarios[0];
    let pki = pgtls_harness::pki::Materialized::generate(&s.pki, &a.out).map_err(anyhow::Error::msg)?;
    for f in &pki.pki().manifest().files {
        println!("{:<16} {}", format!("{:?}", f.kind).to_lowercase(), a.out.join(&f.path).display());
    }
    Ok(ExitCode::SUCCESS)
}
