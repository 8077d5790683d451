//! Declarative X.509 PKI generation for TLS scenarios (work in progress).
