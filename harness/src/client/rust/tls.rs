//! A `tokio-postgres` TLS connector with libpq's verification semantics.
//!
//! postgres-openssl's connector verifies like `verify-full` (OpenSSL's name rules), hides the
//! `SslStream` (so the negotiated protocol and the server's certificate are out of reach) and
//! reports failures as strings. This connector is built on `tokio-openssl` directly:
//! verification follows libpq ([`super::files`], [`super::names`]), every failure is a typed
//! [`TlsFailure`] the classifier can downcast, and the negotiated session is recorded.
//!
//! One more reason: under TLS 1.3 the server verifies the client certificate *after* the
//! client's handshake has finished, so a rejection (an alert, then close) can race with the
//! client writing its startup packet, and the write fails with ECONNRESET before the alert is
//! read. [`LibpqTlsStream`] then reads the alert that is already in the socket buffer and
//! reports it, so the outcome is exact every time without pinning TLS 1.2.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use openssl::ex_data::Index;
use openssl::ssl::{Ssl, SslContext, SslMethod, SslRef, SslVerifyMode, SslVersion, StatusType};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_openssl::SslStream;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use super::files::{self, LocalError};
use super::names::{self, NameCheck};
use super::ocsp::{self, VerdictSlot};
use super::settings::{CertMode, Settings, SslMode};
use crate::outcome::{FailureClass, OcspVerdict};

/// Why the TLS part of an attempt failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsFailure {
    /// Decided locally (files, parameters, libpq's name check, `sslcertmode=require`).
    #[error("{0}")]
    Local(LocalError),
    /// The handshake failed: our verification (`verify_code`), an alert from the server, or
    /// a protocol/transport error.
    #[error("SSL error: {message}")]
    Handshake { verify_code: Option<i32>, alert: Option<u8>, protocol: bool, message: String },
    /// `sslocspstapling=1` and the staple was rejected (the handshake was aborted for it).
    #[error("SSL error: {message}\n{}", ocsp::message(*verdict))]
    Ocsp { verdict: OcspVerdict, message: String },
}

/// What happened during the TLS part of an attempt.
#[derive(Debug, Default)]
pub struct TlsTrace {
    pub started: bool,
    pub established: bool,
    pub protocol: Option<String>,
    /// The server sent a CertificateRequest.
    pub cert_requested: bool,
    /// ...and the client answered it with a certificate.
    pub cert_sent: bool,
}

/// Makes one connector per attempt; `trace` records what happened.
#[derive(Clone)]
pub struct LibpqTls {
    pub settings: Arc<Settings>,
    pub trace: Arc<Mutex<TlsTrace>>,
}

impl<S> MakeTlsConnect<S> for LibpqTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = LibpqTlsStream<S>;
    type TlsConnect = LibpqTlsConnect;
    type Error = TlsFailure;

    fn make_tls_connect(&mut self, domain: &str) -> Result<LibpqTlsConnect, TlsFailure> {
        Ok(LibpqTlsConnect { tls: self.clone(), host: domain.to_owned() })
    }
}

pub struct LibpqTlsConnect {
    tls: LibpqTls,
    host: String,
}

impl<S> TlsConnect<S> for LibpqTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = LibpqTlsStream<S>;
    type Error = TlsFailure;
    type Future = BoxFuture<'static, Result<LibpqTlsStream<S>, TlsFailure>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            self.tls.trace.lock().unwrap_or_else(|p| p.into_inner()).started = true;
            let s = &self.tls.settings;
            let staple = VerdictSlot::default();
            let (ctx, have_cert) = context(s, &staple).map_err(TlsFailure::Local)?;
            let verify_code = Arc::new(Mutex::new(None));
            let ssl = session(&ctx, s, &self.host, verify_code.clone()).map_err(TlsFailure::Local)?;
            let mut stream = SslStream::new(ssl, stream).map_err(|e| handshake(None, &e.into()))?;
            if let Err(e) = Pin::new(&mut stream).connect().await {
                let code = *verify_code.lock().unwrap_or_else(|p| p.into_inner());
                let failure = handshake(code, &e);
                return Err(match (*staple.lock().unwrap_or_else(|p| p.into_inner()), failure) {
                    (Some(verdict), TlsFailure::Handshake { message, .. }) => TlsFailure::Ocsp { verdict, message },
                    (_, other) => other,
                });
            }
            after_handshake(stream.ssl(), s, &self.host)?;
            let requested = stream.ssl().ex_data(requested_index()).is_some_and(|f| f.load(Ordering::SeqCst));
            let mut trace = self.tls.trace.lock().unwrap_or_else(|p| p.into_inner());
            trace.established = true;
            trace.protocol = Some(stream.ssl().version_str().to_owned());
            trace.cert_requested = requested;
            trace.cert_sent = requested && have_cert;
            Ok(LibpqTlsStream { inner: stream })
        })
    }
}

/// The SSL context for one attempt, as libpq's `initialize_SSL` builds it, and whether it
/// holds a client certificate. With `sslocspstapling=1` its status callback leaves a rejected
/// staple's verdict in `staple`.
fn context(s: &Settings, staple: &VerdictSlot) -> Result<(SslContext, bool), LocalError> {
    let mut b = SslContext::builder(SslMethod::tls_client())
        .map_err(|e| files::local(FailureClass::ClientConfigInvalid, e.to_string()))?;
    b.set_min_proto_version(s.min_protocol)
        .map_err(|e| files::local(FailureClass::ClientConfigInvalid, e.to_string()))?;
    b.set_max_proto_version(s.max_protocol)
        .map_err(|e| files::local(FailureClass::ClientConfigInvalid, e.to_string()))?;
    let system = files::SystemEnv { cert_file: s.cert_file_env.as_deref(), cert_dir: s.cert_dir_env.as_deref() };
    let have_root = files::load_roots(&mut b, s.sslmode, &s.rootcert, &s.crl, &s.crldir, system)?;
    // libpq: SSL_VERIFY_PEER whenever a root file was loaded, else none (require/prefer/allow).
    b.set_verify(if have_root { SslVerifyMode::PEER } else { SslVerifyMode::NONE });
    if s.ocsp_stapling {
        ocsp::require_staple(&mut b, have_root, staple.clone())
            .map_err(|e| files::local(FailureClass::ClientConfigInvalid, e.to_string()))?;
    }
    let have_cert =
        s.certmode != CertMode::Disable && files::load_client_cert(&mut b, &s.cert, &s.key, &s.sslpassword)?;
    set_cert_requested_callback(&mut b);
    if let Some(path) = &s.keylog {
        set_keylog(&mut b, path);
    }
    Ok((b.build(), have_cert))
}

fn session(
    ctx: &SslContext,
    s: &Settings,
    host: &str,
    verify_code: Arc<Mutex<Option<i32>>>,
) -> Result<Ssl, LocalError> {
    let err = |e: openssl::error::ErrorStack| files::local(FailureClass::ClientConfigInvalid, e.to_string());
    let mut ssl = Ssl::new(ctx).map_err(err)?;
    // libpq sends SNI unless sslsni=0 or the host is an IP address.
    if s.sni && !is_ip(host) && !host.is_empty() {
        ssl.set_hostname(host).map_err(err)?;
    }
    if s.direct {
        ssl.set_alpn_protos(b"\x0apostgresql").map_err(err)?;
    }
    if s.ocsp_stapling {
        // The status_request extension; without it a server never staples.
        ssl.set_status_type(StatusType::OCSP).map_err(err)?;
    }
    ssl.set_ex_data(requested_index(), Arc::new(AtomicBool::new(false)));
    let mode = ctx.verify_mode();
    ssl.set_verify_callback(mode, move |ok, x| {
        if !ok {
            let mut slot = verify_code.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(x.error().as_raw());
        }
        ok
    });
    Ok(ssl)
}

/// Checks libpq makes once the handshake has succeeded.
fn after_handshake(ssl: &SslRef, s: &Settings, host: &str) -> Result<(), TlsFailure> {
    if s.sslmode == SslMode::VerifyFull {
        let cert = ssl.peer_certificate().ok_or_else(|| {
            TlsFailure::Local(files::local(FailureClass::HostnameMismatch, "server sent no certificate"))
        })?;
        if let NameCheck::Mismatch(msg) = names::check(&cert, host) {
            return Err(TlsFailure::Local(files::local(FailureClass::HostnameMismatch, msg)));
        }
    }
    // sslcertmode=require is checked after authentication, as libpq does (AuthenticationOk):
    // a server that refuses the connection first reports its own error.
    Ok(())
}

fn is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

/// Maps a handshake error to a failure, keeping the alert (OpenSSL reason 1000 + alert) and
/// protocol-version reasons as numbers.
fn handshake(verify_code: Option<i32>, e: &openssl::ssl::Error) -> TlsFailure {
    let stack = e.ssl_error();
    let alert = stack.and_then(alert_in_stack);
    let protocol = stack.is_some_and(|st| st.errors().iter().any(|x| PROTOCOL_REASONS.contains(&reason(x))));
    let message = stack
        .and_then(|st| st.errors().first().and_then(|x| x.reason().map(str::to_owned)))
        .or_else(|| e.io_error().map(|io| io.to_string()))
        .unwrap_or_else(|| e.to_string());
    TlsFailure::Handshake { verify_code, alert, protocol, message }
}

/// OpenSSL reasons that mean "no protocol version in common": SSL_R_UNSUPPORTED_PROTOCOL
/// (258), SSL_R_NO_PROTOCOLS_AVAILABLE (191), SSL_R_WRONG_VERSION_NUMBER (267),
/// SSL_R_TLSV1_ALERT_PROTOCOL_VERSION (1070).
const PROTOCOL_REASONS: &[i32] = &[258, 191, 267, 1070];

fn reason(e: &openssl::error::Error) -> i32 {
    (e.code() & 0x7F_FFFF) as i32
}

/// The TLS alert carried by an OpenSSL error stack, if any (SSL_AD_REASON_OFFSET = 1000).
pub fn alert_in_stack(stack: &openssl::error::ErrorStack) -> Option<u8> {
    stack.errors().iter().map(reason).find(|r| (1000..1256).contains(r)).map(|r| (r - 1000) as u8)
}

fn requested_index() -> Index<Ssl, Arc<AtomicBool>> {
    static INDEX: std::sync::OnceLock<Index<Ssl, Arc<AtomicBool>>> = std::sync::OnceLock::new();
    *INDEX.get_or_init(|| Ssl::new_ex_index().expect("failed to allocate an SSL ex_data index"))
}

/// `SSL_CTX_set_cert_cb` runs only when the server requests a certificate; libpq uses it to
/// implement `sslcertmode=require`. The openssl crate does not wrap it.
fn set_cert_requested_callback(b: &mut openssl::ssl::SslContextBuilder) {
    unsafe extern "C" fn cert_cb(ssl: *mut openssl_sys::SSL, _arg: *mut libc::c_void) -> libc::c_int {
        use foreign_types::ForeignTypeRef;
        // SAFETY: OpenSSL passes a live SSL for the duration of the callback.
        let ssl = unsafe { SslRef::from_ptr(ssl) };
        if let Some(flag) = ssl.ex_data(requested_index()) {
            flag.store(true, Ordering::SeqCst);
        }
        1
    }
    unsafe extern "C" {
        fn SSL_CTX_set_cert_cb(
            ctx: *mut openssl_sys::SSL_CTX,
            cb: Option<unsafe extern "C" fn(*mut openssl_sys::SSL, *mut libc::c_void) -> libc::c_int>,
            arg: *mut libc::c_void,
        );
    }
    // SAFETY: the context is valid; the callback has the signature OpenSSL expects and uses
    // no argument.
    unsafe { SSL_CTX_set_cert_cb(b.as_ptr(), Some(cert_cb), std::ptr::null_mut()) };
}

fn set_keylog(b: &mut openssl::ssl::SslContextBuilder, path: &std::path::Path) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // libpq 18 warns and carries on when the file cannot be opened.
    let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path) else { return };
    let file = Mutex::new(file);
    b.set_keylog_callback(move |_, line| {
        let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(f, "{line}");
    });
}

/// The TLS stream handed to tokio-postgres.
pub struct LibpqTlsStream<S> {
    inner: SslStream<S>,
}

/// A TLS alert that arrived on an established stream.
#[derive(Debug, thiserror::Error)]
#[error("SSL error: {message}")]
pub struct AlertReceived {
    pub alert: u8,
    pub message: String,
}

fn as_alert(e: io::Error) -> io::Error {
    let alert = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<openssl::ssl::Error>())
        .and_then(|se| se.ssl_error().and_then(|st| alert_in_stack(st).map(|a| (a, st.to_string()))));
    match alert {
        Some((alert, message)) => io::Error::new(io::ErrorKind::ConnectionAborted, AlertReceived { alert, message }),
        None => e,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for LibpqTlsStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf).map_err(as_alert)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for LibpqTlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Err(e)) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe) => {
                Poll::Ready(Err(self.alert_instead_of(e, cx)))
            }
            other => other.map_err(as_alert),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Err(e)) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe) => {
                Poll::Ready(Err(self.alert_instead_of(e, cx)))
            }
            other => other.map_err(as_alert),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> LibpqTlsStream<S> {
    /// After a reset on write, the server's alert may already sit in the receive buffer:
    /// read it and report the alert rather than the reset.
    fn alert_instead_of(&mut self, reset: io::Error, cx: &mut Context<'_>) -> io::Error {
        let mut scratch = [0u8; 512];
        let mut buf = ReadBuf::new(&mut scratch);
        match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
            Poll::Ready(Err(e)) => {
                let e = as_alert(e);
                if e.get_ref().is_some_and(|i| i.is::<AlertReceived>()) { e } else { reset }
            }
            _ => reset,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for LibpqTlsStream<S> {
    /// tls-server-end-point (RFC 5929): the server certificate hashed with its signature's
    /// digest, SHA-256 for MD5/SHA-1; none for signatures without a digest (Ed25519).
    fn channel_binding(&self) -> ChannelBinding {
        let Some(cert) = self.inner.ssl().peer_certificate() else { return ChannelBinding::none() };
        let digest = signature_digest(&cert).and_then(openssl::hash::MessageDigest::from_nid).map(|md| {
            if md == openssl::hash::MessageDigest::md5() || md == openssl::hash::MessageDigest::sha1() {
                openssl::hash::MessageDigest::sha256()
            } else {
                md
            }
        });
        match digest.and_then(|md| cert.digest(md).ok()) {
            Some(d) => ChannelBinding::tls_server_end_point(d.to_vec()),
            None => ChannelBinding::none(),
        }
    }
}

/// The digest of a certificate's signature, as libpq finds it with `X509_get_signature_info`
/// (PG 16+): it also reads RSASSA-PSS parameters, whose signature NID names no digest.
fn signature_digest(cert: &openssl::x509::X509Ref) -> Option<openssl::nid::Nid> {
    use foreign_types::ForeignTypeRef;
    unsafe extern "C" {
        fn X509_get_signature_info(
            x: *mut openssl_sys::X509,
            mdnid: *mut libc::c_int,
            pknid: *mut libc::c_int,
            secbits: *mut libc::c_int,
            flags: *mut u32,
        ) -> libc::c_int;
    }
    let (mut md, mut pk, mut bits, mut flags) = (0, 0, 0, 0u32);
    // SAFETY: `cert` is a live X509 for the duration of the call; the out-pointers are valid.
    let ok = unsafe { X509_get_signature_info(cert.as_ptr(), &mut md, &mut pk, &mut bits, &mut flags) };
    (ok == 1 && md != 0).then(|| openssl::nid::Nid::from_raw(md))
}

/// Protocol versions as libpq spells them; `Err` carries libpq's message.
pub fn protocol_version(keyword: &str, value: &str) -> Result<Option<SslVersion>, String> {
    match value {
        "" => Ok(None),
        "TLSv1" => Ok(Some(SslVersion::TLS1)),
        "TLSv1.1" => Ok(Some(SslVersion::TLS1_1)),
        "TLSv1.2" => Ok(Some(SslVersion::TLS1_2)),
        "TLSv1.3" => Ok(Some(SslVersion::TLS1_3)),
        other => Err(format!("invalid \"{keyword}\" value: \"{other}\"")),
    }
}
