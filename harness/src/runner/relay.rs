//! A loopback relay in front of the server for cases with a cancel action.
//!
//! A cancel request travels on a connection of its own, which neither the client's API nor the
//! server's log describe: libpq's `PQcancelBlocking` returns only whether the request was sent,
//! and the server logs nothing of how a cancel connection was negotiated. The relay passes every
//! byte through unchanged and reads how each connection opens, from the protocol itself: an
//! SSLRequest and the server's one-byte answer (`S` or `N`), a direct TLS ClientHello (first
//! byte 22, a TLS handshake record), a plaintext CancelRequest, a GSSENCRequest or a startup
//! packet. The connections of an attempt arrive in order, the cancel requests last, so a
//! client that reports sending `n` cancel requests sent them on the relay's last `n`
//! connections.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::error::{RunnerError, RunnerErrorKind as Kind};

/// How a connection through the relay opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// An SSLRequest, and whether the server accepted it (`S`).
    SslRequest {
        accepted: bool,
    },
    /// A TLS ClientHello straight away (`sslnegotiation=direct`).
    DirectTls,
    /// A CancelRequest in plaintext.
    CancelRequest,
    GssEncRequest,
    Startup,
    /// The client closed the connection, or sent something else, before a whole first packet.
    Other,
}

impl Opening {
    /// Whether the rest of the connection is TLS.
    pub fn tls(self) -> bool {
        matches!(self, Opening::SslRequest { accepted: true } | Opening::DirectTls)
    }

    /// The name reports and `cancel_opening` expectations use
    /// ([`crate::outcome::CANCEL_OPENINGS`]).
    pub fn token(self) -> &'static str {
        match self {
            Opening::SslRequest { accepted: true } => "ssl-request",
            Opening::SslRequest { accepted: false } => "ssl-request-refused",
            Opening::DirectTls => "direct-tls",
            Opening::CancelRequest => "plaintext",
            Opening::GssEncRequest => "gssenc-request",
            Opening::Startup => "startup",
            Opening::Other => "incomplete",
        }
    }
}

const SSL_REQUEST: u32 = 80877103;
const CANCEL_REQUEST: u32 = 80877102;
const GSSENC_REQUEST: u32 = 80877104;
/// A TLS record of type handshake: a direct ClientHello's first byte.
const TLS_HANDSHAKE: u8 = 22;

/// A running relay; it stops when dropped.
pub struct Relay {
    addr: SocketAddr,
    openings: Arc<Mutex<Vec<Opening>>>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Listens on `ip` (an address of this machine, the server's as the client sees it) and
    /// forwards each connection to `server`.
    pub async fn start(ip: IpAddr, server: SocketAddr) -> Result<Relay, RunnerError> {
        let listener = TcpListener::bind((ip, 0))
            .await
            .map_err(|e| RunnerError::with(Kind::Io, format!("failed to listen on {ip} for the cancel relay"), e))?;
        let addr = listener.local_addr().map_err(|e| RunnerError::with(Kind::Io, "", e))?;
        let openings = Arc::new(Mutex::new(Vec::new()));
        let seen = openings.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let slot = {
                    let mut v = seen.lock().unwrap_or_else(|p| p.into_inner());
                    v.push(Opening::Other);
                    v.len() - 1
                };
                let seen = seen.clone();
                conns.spawn(async move {
                    if let Ok(upstream) = TcpStream::connect(server).await {
                        relay(client, upstream, |o| seen.lock().unwrap_or_else(|p| p.into_inner())[slot] = o).await;
                    }
                });
            }
        });
        Ok(Relay { addr, openings, task })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How the last `n` connections opened, oldest first (fewer when fewer arrived).
    pub fn last(&self, n: usize) -> Vec<Opening> {
        let v = self.openings.lock().unwrap_or_else(|p| p.into_inner());
        v[v.len().saturating_sub(n)..].to_vec()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

/// Reads the opening, forwarding what it read, then copies both ways until either side closes.
async fn relay(mut client: TcpStream, mut upstream: TcpStream, note: impl Fn(Opening)) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let mut head = [0u8; 8];
    let opening = match client.read_exact(&mut head[..1]).await {
        Err(_) => Opening::Other,
        Ok(_) if head[0] == TLS_HANDSHAKE => Opening::DirectTls,
        Ok(_) => match client.read_exact(&mut head[1..]).await {
            Err(_) => Opening::Other,
            Ok(_) => match u32::from_be_bytes([head[4], head[5], head[6], head[7]]) {
                SSL_REQUEST => Opening::SslRequest { accepted: false },
                CANCEL_REQUEST => Opening::CancelRequest,
                GSSENC_REQUEST => Opening::GssEncRequest,
                _ => Opening::Startup,
            },
        },
    };
    let got = if opening == Opening::DirectTls { 1 } else { 8 };
    if opening == Opening::Other || upstream.write_all(&head[..got]).await.is_err() {
        note(opening);
        return;
    }
    if let Opening::SslRequest { .. } = opening {
        let mut answer = [0u8; 1];
        if upstream.read_exact(&mut answer).await.is_err() {
            note(opening);
            return;
        }
        // Noted before the client can go on, so whoever it answers sees the opening.
        note(Opening::SslRequest { accepted: answer[0] == b'S' });
        if client.write_all(&answer).await.is_err() {
            return;
        }
    } else {
        note(opening);
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake server answering an SSLRequest with `answer`, then echoing.
    async fn server(answer: u8) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut head = [0u8; 8];
                    if s.read_exact(&mut head).await.is_ok() && head[4..] == SSL_REQUEST.to_be_bytes() {
                        let _ = s.write_all(&[answer]).await;
                    }
                    let mut buf = [0u8; 64];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        let _ = s.write_all(&buf[..n]).await;
                    }
                });
            }
        });
        addr
    }

    async fn open(relay: &Relay, first: &[u8]) -> TcpStream {
        let mut c = TcpStream::connect(("127.0.0.1", relay.port())).await.unwrap();
        c.write_all(first).await.unwrap();
        c
    }

    fn packet(code: u32) -> Vec<u8> {
        let mut p = 8u32.to_be_bytes().to_vec();
        p.extend(code.to_be_bytes());
        p
    }

    #[tokio::test]
    async fn openings_are_read_from_the_protocol_and_bytes_pass_unchanged() {
        let relay = Relay::start("127.0.0.1".parse().unwrap(), server(b'S').await).await.unwrap();
        let mut c = open(&relay, &packet(SSL_REQUEST)).await;
        let mut answer = [0u8; 1];
        c.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer, [b'S']);
        c.write_all(b"hello").await.unwrap();
        let mut echo = [0u8; 5];
        c.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"hello");
        drop(open(&relay, &[TLS_HANDSHAKE, 3, 1]).await);
        drop(open(&relay, &packet(CANCEL_REQUEST)).await);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            relay.last(3),
            vec![Opening::SslRequest { accepted: true }, Opening::DirectTls, Opening::CancelRequest]
        );
        assert_eq!(relay.last(1).iter().map(|o| o.tls()).collect::<Vec<_>>(), vec![false]);
    }

    #[test]
    fn every_token_is_documented() {
        let all = [
            Opening::SslRequest { accepted: true },
            Opening::SslRequest { accepted: false },
            Opening::DirectTls,
            Opening::CancelRequest,
            Opening::GssEncRequest,
            Opening::Startup,
            Opening::Other,
        ];
        let tokens: Vec<&str> = all.iter().map(|o| o.token()).collect();
        let documented: Vec<&str> = crate::outcome::CANCEL_OPENINGS.iter().map(|(t, _)| *t).collect();
        assert_eq!(tokens, documented);
    }

    #[tokio::test]
    async fn a_refused_ssl_request_is_plaintext() {
        let relay = Relay::start("127.0.0.1".parse().unwrap(), server(b'N').await).await.unwrap();
        let mut c = open(&relay, &packet(SSL_REQUEST)).await;
        let mut answer = [0u8; 1];
        c.read_exact(&mut answer).await.unwrap();
        assert_eq!(relay.last(5), vec![Opening::SslRequest { accepted: false }]);
        assert!(!relay.last(1)[0].tls());
    }
}
