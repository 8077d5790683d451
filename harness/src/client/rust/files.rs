//! Loading the client's TLS files the way libpq's `initialize_SSL` does.
//!
//! libpq's rules are easy to get subtly wrong, so each is mirrored here with its reason:
//! a root file makes even `require` verify the chain; a CRL is only used together with a root
//! file, and if the named CRL file cannot be loaded no CRL checking happens at all (libpq calls
//! `X509_STORE_load_locations(file, dir)`, which fails as a whole); a client certificate that
//! does not exist is silently not sent; a certificate without its key, a key readable by group
//! or world, or a wrong passphrase are errors.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslContextBuilder, SslFiletype};
use openssl::x509::X509;
use openssl::x509::store::{X509Lookup, X509StoreBuilder};
use openssl::x509::verify::X509VerifyFlags;

use super::settings::SslMode;
use crate::outcome::FailureClass;

/// A failure decided while preparing TLS, before any byte reaches the server.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct LocalError {
    pub class: FailureClass,
    pub message: String,
}

pub fn local(class: FailureClass, message: impl Into<String>) -> LocalError {
    LocalError { class, message: message.into() }
}

fn exists(path: &str) -> bool {
    !path.is_empty() && Path::new(path).exists()
}

/// The `SSL_CERT_FILE` and `SSL_CERT_DIR` a case gives its client.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnv<'a> {
    pub cert_file: Option<&'a str>,
    pub cert_dir: Option<&'a str>,
}

/// libpq's `sslrootcert=system` is OpenSSL's `X509_STORE_set_default_paths`: the file named by
/// `SSL_CERT_FILE` (else the build's default file) and the hashed directories in
/// `SSL_CERT_DIR` (else the default directory), missing ones ignored. The variables are read
/// from the case's environment rather than the process's, which the harness shares.
fn system_store(env: SystemEnv<'_>) -> Result<openssl::x509::store::X509Store, LocalError> {
    let mut store = X509StoreBuilder::new().map_err(ssl_local)?;
    if env.cert_file.is_none() && env.cert_dir.is_none() {
        store.set_default_paths().map_err(ssl_local)?;
        return Ok(store.build());
    }
    // SAFETY: both return pointers to static NUL-terminated strings of the OpenSSL build.
    let default = |f: unsafe extern "C" fn() -> *const std::ffi::c_char| {
        unsafe { std::ffi::CStr::from_ptr(f()) }.to_string_lossy().into_owned()
    };
    let file = env.cert_file.map_or_else(|| default(openssl_sys::X509_get_default_cert_file), str::to_owned);
    let dir = env.cert_dir.map_or_else(|| default(openssl_sys::X509_get_default_cert_dir), str::to_owned);
    let lookup = store.add_lookup(X509Lookup::file()).map_err(ssl_local)?;
    let _ = lookup.load_cert_file(&file, SslFiletype::PEM);
    let lookup = store.add_lookup(X509Lookup::hash_dir()).map_err(ssl_local)?;
    let _ = lookup.add_dir(&dir, SslFiletype::PEM);
    Ok(store.build())
}

/// Root certificates and CRLs. Returns whether a root file was loaded (which turns on
/// verification even for `require`).
pub fn load_roots(
    b: &mut SslContextBuilder,
    sslmode: SslMode,
    rootcert: &str,
    crl: &str,
    crldir: &str,
    system_env: SystemEnv<'_>,
) -> Result<bool, LocalError> {
    let verify = sslmode.verifies();
    if rootcert == "system" {
        b.set_cert_store(system_store(system_env)?);
        return Ok(true);
    }
    if !exists(rootcert) {
        if verify {
            let shown = if rootcert.is_empty() { "~/.postgresql/root.crt" } else { rootcert };
            return Err(local(
                FailureClass::RootCertMissing,
                format!(
                    "root certificate file \"{shown}\" does not exist\nEither provide the file, use the system's trusted roots \
                     with sslrootcert=system, or change sslmode to disable server certificate verification."
                ),
            ));
        }
        return Ok(false);
    }
    let mut store = X509StoreBuilder::new().map_err(ssl_local)?;
    let lookup = store.add_lookup(X509Lookup::file()).map_err(ssl_local)?;
    lookup.load_cert_file(rootcert, SslFiletype::PEM).map_err(|e| {
        local(FailureClass::ClientConfigInvalid, format!("could not read root certificate file \"{rootcert}\": {e}"))
    })?;
    if load_crls(&mut store, crl, crldir) {
        store.set_flags(X509VerifyFlags::CRL_CHECK | X509VerifyFlags::CRL_CHECK_ALL).map_err(ssl_local)?;
    }
    b.set_cert_store(store.build());
    Ok(true)
}

/// libpq: `X509_STORE_load_locations(store, file, dir)` with empty values as NULL; CRL checks
/// are switched on only if that call succeeds as a whole.
fn load_crls(store: &mut X509StoreBuilder, crl: &str, crldir: &str) -> bool {
    if crl.is_empty() && crldir.is_empty() {
        return false;
    }
    if !crl.is_empty() {
        let Ok(lookup) = store.add_lookup(X509Lookup::file()) else { return false };
        if lookup.load_crl_file(crl, SslFiletype::PEM).is_err() {
            return false;
        }
    }
    if !crldir.is_empty() {
        if !Path::new(crldir).is_dir() {
            return false;
        }
        let Ok(lookup) = store.add_lookup(X509Lookup::hash_dir()) else { return false };
        if lookup.add_dir(crldir, SslFiletype::PEM).is_err() {
            return false;
        }
    }
    true
}

/// The client certificate chain and key; `Ok(false)` when there is no certificate to send.
pub fn load_client_cert(b: &mut SslContextBuilder, cert: &str, key: &str, password: &str) -> Result<bool, LocalError> {
    if !exists(cert) {
        return Ok(false);
    }
    let pem = std::fs::read(cert).map_err(|e| {
        local(FailureClass::ClientConfigInvalid, format!("could not read certificate file \"{cert}\": {e}"))
    })?;
    let chain = X509::stack_from_pem(&pem).ok().filter(|c| !c.is_empty()).ok_or_else(|| {
        local(FailureClass::ClientConfigInvalid, format!("could not read certificate file \"{cert}\": no certificate"))
    })?;
    b.set_certificate(&chain[0]).map_err(ssl_local)?;
    for extra in &chain[1..] {
        b.add_extra_chain_cert(extra.clone()).map_err(ssl_local)?;
    }
    let pkey = load_key(key, password)?;
    // libpq: SSL_CTX_use_PrivateKey_file fails ("key values mismatch") for a key that does
    // not belong to the certificate, reported as "could not load private key file".
    b.set_private_key(&pkey).map_err(|e| {
        local(
            FailureClass::ClientKeyUnusable,
            format!("could not load private key file \"{key}\": {}", first_reason(&e)),
        )
    })?;
    b.check_private_key().map_err(|_| {
        local(FailureClass::ClientKeyUnusable, format!("certificate does not match private key file \"{key}\""))
    })?;
    Ok(true)
}

fn load_key(key: &str, password: &str) -> Result<PKey<Private>, LocalError> {
    let unusable = |m: String| local(FailureClass::ClientKeyUnusable, m);
    let meta = std::fs::metadata(key)
        .map_err(|_| unusable(format!("certificate present, but not private key file \"{key}\"")))?;
    if !meta.is_file() {
        return Err(unusable(format!("private key file \"{key}\" is not a regular file")));
    }
    check_key_permissions(key, &meta)?;
    let bytes = std::fs::read(key).map_err(|e| unusable(format!("could not read private key file \"{key}\": {e}")))?;
    let pem = if password.is_empty() {
        // libpq's default passphrase hook supplies sslpassword, which is empty here.
        PKey::private_key_from_pem_callback(&bytes, |_| Ok(0))
    } else {
        PKey::private_key_from_pem_passphrase(&bytes, password.as_bytes())
    };
    match pem {
        Ok(k) => Ok(k),
        // libpq retries as DER (SSL_FILETYPE_ASN1), which reads unencrypted keys only.
        Err(pem_err) => PKey::private_key_from_der(&bytes)
            .map_err(|_| unusable(format!("could not load private key file \"{key}\": {}", first_reason(&pem_err)))),
    }
}

/// libpq (16+): the key must be 0600 or less when owned by us, 0640 or less when owned by
/// root.
fn check_key_permissions(key: &str, meta: &std::fs::Metadata) -> Result<(), LocalError> {
    let mode = meta.mode();
    let me = nix::unistd::geteuid().as_raw();
    let bad = if meta.uid() == me {
        mode & 0o077 != 0
    } else if meta.uid() == 0 {
        mode & 0o037 != 0
    } else {
        true
    };
    if bad {
        return Err(local(
            FailureClass::ClientKeyUnusable,
            format!(
                "private key file \"{key}\" has group or world access; file must have permissions u=rw (0600) or less \
                 if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root"
            ),
        ));
    }
    Ok(())
}

fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors().first().and_then(|x| x.reason().map(str::to_owned)).unwrap_or_else(|| e.to_string())
}

fn ssl_local(e: openssl::error::ErrorStack) -> LocalError {
    local(FailureClass::ClientConfigInvalid, format!("could not create SSL context: {}", first_reason(&e)))
}
