//! Reuses running servers across scenarios.
//!
//! Creating an instance costs a template copy (native) or a container start (Docker); giving a
//! running one a new configuration and restarting it costs a postgres restart. Instances of
//! one backend (`Backend::id`) are interchangeable once their roles and databases are
//! reconciled, so a finished scenario hands its instance back here and the next scenario on
//! that backend takes it: preferably one bootstrapped the same way, else any (the runner then
//! reconciles with SQL). The pool lives as long as the process; at exit its instances are
//! stopped (an `atexit` hook), and the reaper of [`crate::cleanup`] covers a killed process.

use std::sync::{Mutex, Once};

use crate::server::{Bootstrap, Instance};

/// An idle instance and what it was bootstrapped with.
pub struct Idle {
    pub backend: String,
    pub bootstrap: Bootstrap,
    pub instance: Box<dyn Instance>,
}

static POOL: Mutex<Vec<Idle>> = Mutex::new(Vec::new());

/// An idle instance of `backend`, one with `bootstrap` if possible.
pub fn take(backend: &str, bootstrap: &Bootstrap) -> Option<Idle> {
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    let same = pool.iter().position(|i| i.backend == backend && &i.bootstrap == bootstrap);
    let any = || pool.iter().position(|i| i.backend == backend);
    let i = same.or_else(any)?;
    Some(pool.swap_remove(i))
}

/// Hands an instance back for reuse.
pub fn give(idle: Idle) {
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(|| {
        extern "C" fn stop_all() {
            drain();
        }
        // SAFETY: registering a plain extern "C" function with no captured state.
        unsafe { libc::atexit(stop_all) };
    });
    POOL.lock().unwrap_or_else(|p| p.into_inner()).push(idle);
}

/// Stops and drops every idle instance.
pub fn drain() {
    let all = std::mem::take(&mut *POOL.lock().unwrap_or_else(|p| p.into_inner()));
    drop(all);
}
