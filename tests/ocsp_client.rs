//! The Rust client's OCSP stapling path against a server that really staples: `openssl
//! s_server -status_file`, reached with `sslnegotiation=direct` (TLS from the first byte, so
//! no PostgreSQL is needed to get through the handshake). This checks the client without our
//! patched PostgreSQL; `scenarios/ocsp` checks it against that build.
//!
//! A staple the client accepts lets the handshake finish, after which s_server (no PostgreSQL,
//! stdin closed) closes the connection: that attempt fails too, but over an established TLS
//! session and without an OCSP verdict.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pgtls_certs::{EntitySpec, GenerateOptions, OcspCertStatus, OcspSpec, Pki, PkiSpec};
use pgtls_harness::client::rust::RustClient;
use pgtls_harness::client::{Client, ClientReport, ConnectRequest};
use pgtls_harness::outcome::OcspVerdict;

fn pki(dir: &Path) -> Pki {
    let mut spec = PkiSpec::new();
    spec.add_entity("root", EntitySpec { ca: true, ..EntitySpec::default() });
    let server =
        EntitySpec { issuer: Some("root".into()), san: vec!["DNS:db.ocsp.test".into()], ..EntitySpec::default() };
    spec.add_entity("server", server);
    let about_server = OcspSpec { for_entity: "server".into(), ..OcspSpec::default() };
    spec.add_ocsp_response("good", about_server.clone());
    spec.add_ocsp_response("revoked", OcspSpec { status: Some(OcspCertStatus::Revoked), ..about_server.clone() });
    let stale = OcspSpec { this_update: Some("-2d".into()), next_update: Some("-1d".into()), ..about_server };
    spec.add_ocsp_response("stale", stale);
    pgtls_certs::generate(&spec, dir, &GenerateOptions::default()).unwrap()
}

/// `openssl s_server` on a free port, stapling `staple` when the client asks; killed on drop.
struct Server(Child, u16);

impl Server {
    fn start(pki: &Pki, staple: Option<&str>, protocol: &str) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new("openssl");
        cmd.args(["s_server", "-quiet", "-alpn", "postgresql", protocol]);
        cmd.arg("-accept").arg(format!("127.0.0.1:{port}"));
        cmd.arg("-cert").arg(pki.cert_path("server").unwrap()).arg("-key").arg(pki.key_path("server").unwrap());
        if let Some(name) = staple {
            cmd.arg("-status_file").arg(pki.ocsp_path(name).unwrap());
        }
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        // s_server serves one connection after another, so probing costs it nothing.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s_server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server(child, port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One attempt of the Rust client with stapling required: the OCSP verdict it reported, or
/// `Ok` when the handshake got through (and s_server then closed the connection).
fn verdict(pki: &Pki, scratch: &Path, staple: Option<&str>, protocol: &str) -> Result<(), OcspVerdict> {
    let server = Server::start(pki, staple, protocol);
    let root = pki.cert_path("root").unwrap().display().to_string();
    let params = [
        ("host", "db.ocsp.test"),
        ("hostaddr", "127.0.0.1"),
        ("port", &server.1.to_string()),
        ("user", "postgres"),
        ("sslmode", "verify-full"),
        ("sslrootcert", &root),
        ("sslnegotiation", "direct"),
        ("sslocspstapling", "1"),
    ];
    let req = ConnectRequest {
        params: params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        secrets: Vec::new(),
        timeout: Duration::from_secs(5),
        scratch: scratch.to_owned(),
        query: None,
        env: Vec::new(),
        cancel: false,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    match rt.block_on(RustClient.connect(&req)) {
        ClientReport::Connected(c) => panic!("s_server is no PostgreSQL, yet connected: {c:?}"),
        ClientReport::PsqlFailed(stderr) => panic!("the Rust client reported psql's stderr: {stderr}"),
        ClientReport::Failed(f) => match f.ocsp {
            Some(v) => Err(v),
            None => {
                assert_eq!(f.tls, Some(true), "{staple:?} {protocol}: no OCSP verdict, no TLS session: {}", f.message);
                Ok(())
            }
        },
    }
}

#[test]
fn stapled_responses_get_the_patch_verdicts_in_tls_1_2_and_1_3() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"));
    for protocol in ["-tls1_2", "-tls1_3"] {
        assert_eq!(verdict(&pki, dir.path(), Some("good"), protocol), Ok(()), "good {protocol}");
        assert_eq!(verdict(&pki, dir.path(), Some("revoked"), protocol), Err(OcspVerdict::Revoked), "{protocol}");
        assert_eq!(verdict(&pki, dir.path(), Some("stale"), protocol), Err(OcspVerdict::Expired), "{protocol}");
        assert_eq!(verdict(&pki, dir.path(), None, protocol), Err(OcspVerdict::StapleMissing), "{protocol}");
    }
}
