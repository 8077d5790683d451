//! Scenario model, backends, clients, outcomes and runner (work in progress).
