//! pgtls harness: scenario files in, classified connection outcomes out.
//!
//! The data flows through the modules in this order: [`scenario`] (load and validate a file)
//! → [`pki`] (generate its certificates with `pgtls-certs`) → [`server`] (start PostgreSQL
//! from a [`server::Backend`]) → [`client`] (connect with each [`client::Client`]) →
//! [`classify`] (client evidence and server log into one [`outcome`] and what it rests on) →
//! [`runner`] (expectations, divergences) → [`report`]. [`hba`] (pg_hba evaluation) sits
//! beside [`pki`], for the server and classification alike; [`outcome`] is plain data every
//! layer may use. A module imports only from layers below it (`tests/layers.rs` checks).

pub mod cache;
pub mod classify;
pub mod cleanup;
pub mod client;
pub mod hba;
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
