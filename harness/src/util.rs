//! Small helpers shared across the harness: the did-you-mean hints are certs-gen's, so the
//! scenario loader and certificate errors suggest names alike.

pub use pgtls_certs::hint::{closest, did_you_mean};
