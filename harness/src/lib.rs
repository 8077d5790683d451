//! pgtls harness: scenario files in, classified connection outcomes out.
//!
//! The data flows through the modules in this order: [`scenario`] (load and validate a file)
//! → [`pki`] (generate its certificates with `pgtls-certs`) → [`server`] (start PostgreSQL
//! from a [`server::Backend`]) → [`client`] (connect with each [`client::Client`]) →
//! [`outcome`] (one taxonomy) → [`runner`] (expectations, divergences, reports).

pub mod cache;
pub mod cleanup;
pub mod client;
pub mod outcome;
pub mod pki;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod setup;
#[cfg(feature = "testing")]
pub mod testing;
mod util;
