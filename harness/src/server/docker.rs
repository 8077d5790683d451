//! The Docker backend (being written).

use crate::runner::Target;
use crate::setup::ClientChoice;

/// Targets for Docker images.
pub fn targets(_images: &[String], _clients: &ClientChoice) -> Result<Vec<Target>, String> {
    Err("the docker backend is not available in this build yet".into())
}
