//! OCSP responses, checked by two independent readers: the `openssl ocsp` CLI (`-respin`, as
//! an OCSP client checks a response it fetched) and the openssl crate's `OcspResponse` API with
//! the acceptance rules of PostgreSQL's stapling patch (the server's certificates, here the leaf
//! alone, as the extra stack, the root file as the store, SHA-1 CertID of the leaf, no clock
//! leeway).

mod common;

use std::path::{Path, PathBuf};

use common::{load_cert, openssl};
use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspFlag, OcspResponse, OcspResponseStatus, OcspRevokedStatus};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use pgtls_certs::{GenerateOptions, OcspResponses, Pki, PkiSpec};

const LAYOUT: &str = r#"
[pki.root]
ca = true
subject = "CN=OCSP test root"
key = "rsa-2048"
[pki.intermediate]
issuer = "root"
ca = true
[pki.other_root]
ca = true
[pki.responder]
issuer = "root"
extended_key_usage = ["OCSPSigning"]
[pki.responder-no-eku]
issuer = "root"
extended_key_usage = ["serverAuth"]
[pki.foreign-responder]
issuer = "other_root"
extended_key_usage = ["OCSPSigning"]
[pki.server]
issuer = "root"
[pki.other]
issuer = "root"
[pki.leaf-int]
issuer = "intermediate"
[pki.ed-ca]
ca = true
key = "ed25519"
[pki.ed-leaf]
issuer = "ed-ca"

[ocsp.good]
for = "server"
[ocsp.good-delegated]
for = "server"
signer = "responder"
[ocsp.revoked]
for = "server"
status = "revoked"
reason = "keyCompromise"
revocation_time = "2024-01-02T03:04:05Z"
[ocsp.revoked-plain]
for = "server"
status = "revoked"
signer = "responder"
[ocsp.unknown]
for = "server"
status = "unknown"
[ocsp.stale]
for = "server"
this_update = "-2d"
next_update = "-1d"
[ocsp.future]
for = "server"
this_update = "+1d"
next_update = "+2d"
[ocsp.no-next]
for = "server"
next_update = "none"
[ocsp.no-eku]
for = "server"
signer = "responder-no-eku"
[ocsp.foreign]
for = "server"
signer = "foreign-responder"
[ocsp.other-cert]
for = "other"
[ocsp.wrong-issuer]
for = "server"
issuer = "intermediate"
[ocsp.not-embedded]
for = "server"
embed_signer = false
[ocsp.by-key]
for = "server"
signer = "responder"
responder_id = "key"
hash = "sha384"
[ocsp.try-later]
for = "server"
response_status = "tryLater"
[ocsp.unauthorized]
for = "server"
response_status = "unauthorized"
[ocsp.no-basic]
for = "server"
response_bytes = false
[ocsp.malformed]
for = "server"
malformed = true
[ocsp.int-good]
for = "leaf-int"
[ocsp.ed]
for = "ed-leaf"
"#;

/// Parses `[pki]` and `[ocsp]` of a scenario-like document into one spec.
pub fn spec_with_ocsp(toml_text: &str) -> PkiSpec {
    let doc: toml::Table = toml::from_str(toml_text).expect("test TOML parses");
    let mut spec: PkiSpec = doc["pki"].clone().try_into().expect("[pki] deserializes");
    let ocsp: OcspResponses = doc["ocsp"].clone().try_into().expect("[ocsp] deserializes");
    spec.add_ocsp_responses(ocsp);
    spec
}

fn generated() -> (tempfile::TempDir, Pki) {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_with_ocsp(LAYOUT);
    let pki = pgtls_certs::generate(&spec, dir.path(), &GenerateOptions::default()).expect("generate");
    (dir, pki)
}

fn path(p: Option<PathBuf>) -> String {
    p.expect("file exists").display().to_string()
}

/// `openssl ocsp -respin` as a client that fetched the response would check it.
fn cli(pki: &Pki, response: &str, cert: &str, issuer: &str, trust: &[&str]) -> String {
    let mut args = vec!["ocsp".to_owned(), "-respin".into(), path(pki.ocsp_path(response))];
    args.extend(["-issuer".into(), path(pki.cert_path(issuer)), "-cert".into(), path(pki.cert_path(cert))]);
    for root in trust {
        args.extend(["-CAfile".into(), path(pki.cert_path(root))]);
    }
    args.push("-resp_text".into());
    openssl(&args).out
}

/// The verdict of PostgreSQL's stapling patch, replayed with the openssl crate: parse, status
/// successful, a basic response, `OCSP_basic_verify(basic, <what the server sent: the leaf>,
/// roots, 0)`, the SHA-1 CertID of `leaf` under `issuer`, status good,
/// `OCSP_check_validity(…, 0, -1)`.
fn patch_verdict(pki: &Pki, response: &str, leaf: &str, issuer: &str, root: &str) -> Result<(), String> {
    let der = std::fs::read(pki.ocsp_path(response).unwrap()).unwrap();
    let resp = OcspResponse::from_der(&der).map_err(|_| "unparsable".to_owned())?;
    if resp.status() != OcspResponseStatus::SUCCESSFUL {
        return Err(format!("status {}", resp.status().as_raw()));
    }
    let basic = resp.basic().map_err(|_| "no basic response".to_owned())?;
    let mut store = X509StoreBuilder::new().unwrap();
    store.add_cert(load_cert(&pki.cert_path(root).unwrap())).unwrap();
    let store = store.build();
    let leaf = load_cert(&pki.cert_path(leaf).unwrap());
    let mut sent = Stack::new().unwrap();
    sent.push(leaf.clone()).unwrap();
    basic.verify(&sent, &store, OcspFlag::empty()).map_err(|e| format!("verify: {e}"))?;
    let issuer = load_cert(&pki.cert_path(issuer).unwrap());
    let id = OcspCertId::from_cert(MessageDigest::sha1(), &leaf, &issuer).unwrap();
    let status = basic.find_status(&id).ok_or("no status for the certificate")?;
    if status.status != OcspCertStatus::GOOD {
        return Err(format!("cert status {}", status.status.as_raw()));
    }
    status.check_validity(0, None).map_err(|e| format!("validity: {e}"))
}

fn ok(v: Result<(), String>, what: &str) {
    assert_eq!(v, Ok(()), "{what}");
}

fn err_contains(v: Result<(), String>, needle: &str) {
    match v {
        Err(e) => assert!(e.contains(needle), "expected {needle:?} in {e:?}"),
        Ok(()) => panic!("expected a failure containing {needle:?}"),
    }
}

#[test]
fn good_responses_verify_with_the_cli_and_the_patch_rules() {
    let (_d, pki) = generated();
    for (resp, cert, issuer) in
        [("good", "server", "root"), ("good-delegated", "server", "root"), ("by-key", "server", "root")]
    {
        let out = cli(&pki, resp, cert, issuer, &["root"]);
        assert!(out.contains("Response verify OK"), "{resp}: {out}");
        assert!(out.contains(": good"), "{resp}: {out}");
        ok(patch_verdict(&pki, resp, cert, issuer, "root"), resp);
    }
    let out = cli(&pki, "int-good", "leaf-int", "intermediate", &["root"]);
    assert!(out.contains("Response verify OK") && out.contains(": good"), "{out}");
    ok(patch_verdict(&pki, "int-good", "leaf-int", "intermediate", "root"), "int-good");
    let out = cli(&pki, "ed", "ed-leaf", "ed-ca", &["ed-ca"]);
    assert!(out.contains("Response verify OK") && out.contains(": good"), "{out}");
    ok(patch_verdict(&pki, "ed", "ed-leaf", "ed-ca", "ed-ca"), "ed25519 signer");
}

#[test]
fn response_text_shows_what_the_spec_asked_for() {
    let (_d, pki) = generated();
    let out = cli(&pki, "revoked", "server", "root", &["root"]);
    assert!(out.contains(": revoked") && out.contains("Reason: keyCompromise"), "{out}");
    assert!(out.contains("Revocation Time: Jan  2 03:04:05 2024 GMT"), "{out}");
    let out = cli(&pki, "revoked-plain", "server", "root", &["root"]);
    assert!(out.contains(": revoked") && !out.contains("Reason:"), "{out}");
    let out = cli(&pki, "unknown", "server", "root", &["root"]);
    assert!(out.contains(": unknown"), "{out}");
    let out = cli(&pki, "good-delegated", "server", "root", &["root"]);
    assert!(out.contains("Responder Id: CN = responder") && out.contains("Certificate:"), "{out}");
    let out = cli(&pki, "by-key", "server", "root", &["root"]);
    assert!(!out.contains("Responder Id: CN") && out.contains("ecdsa-with-SHA384"), "{out}");
    let out = cli(&pki, "not-embedded", "server", "root", &["root"]);
    assert!(!out.contains("Certificate:"), "no embedded certificate: {out}");
    let out = cli(&pki, "no-next", "server", "root", &["root"]);
    assert!(out.contains("This Update:") && !out.contains("Next Update:"), "{out}");
}

#[test]
fn revoked_and_unknown_are_status_not_verify_failures() {
    let (_d, pki) = generated();
    err_contains(patch_verdict(&pki, "revoked", "server", "root", "root"), "cert status 1");
    err_contains(patch_verdict(&pki, "revoked-plain", "server", "root", "root"), "cert status 1");
    err_contains(patch_verdict(&pki, "unknown", "server", "root", "root"), "cert status 2");
    let der = std::fs::read(pki.ocsp_path("revoked").unwrap()).unwrap();
    let basic = OcspResponse::from_der(&der).unwrap().basic().unwrap();
    let id = OcspCertId::from_cert(
        MessageDigest::sha1(),
        &load_cert(&pki.cert_path("server").unwrap()),
        &load_cert(&pki.cert_path("root").unwrap()),
    )
    .unwrap();
    assert_eq!(basic.find_status(&id).unwrap().reason, OcspRevokedStatus::KEY_COMPROMISE);
}

#[test]
fn stale_and_future_responses_are_flagged() {
    let (_d, pki) = generated();
    let out = cli(&pki, "stale", "server", "root", &["root"]);
    assert!(out.contains("Response verify OK") && out.contains("status expired"), "{out}");
    err_contains(patch_verdict(&pki, "stale", "server", "root", "root"), "status expired");
    let out = cli(&pki, "future", "server", "root", &["root"]);
    assert!(out.contains("status not yet valid"), "{out}");
    err_contains(patch_verdict(&pki, "future", "server", "root", "root"), "status not yet valid");
    ok(patch_verdict(&pki, "no-next", "server", "root", "root"), "no nextUpdate is accepted at any age");
}

#[test]
fn signers_outside_the_rules_are_rejected() {
    let (_d, pki) = generated();
    let out = cli(&pki, "no-eku", "server", "root", &["root"]);
    assert!(out.contains("Response Verify Failure"), "no OCSPSigning EKU: {out}");
    err_contains(patch_verdict(&pki, "no-eku", "server", "root", "root"), "verify");
    // Another CA's responder: untrusted, and still refused when its root is trusted too,
    // because it is not authorised by the certificate's issuer.
    let out = cli(&pki, "foreign", "server", "root", &["root"]);
    assert!(out.contains("Response Verify Failure"), "{out}");
    err_contains(patch_verdict(&pki, "foreign", "server", "root", "root"), "verify");
    err_contains(patch_verdict(&pki, "foreign", "server", "root", "other_root"), "verify");
}

/// OpenSSL 3.0 looks the signer up in the response's own certificates and the extra stack
/// only, never in the store, so a client passing what the server sent (the patch) cannot
/// check a response that leaves the root CA's certificate out; `openssl ocsp` retries with
/// its `-issuer` and accepts it. This is why the signer is embedded by default.
#[test]
fn a_response_without_its_signer_needs_the_signer_from_elsewhere() {
    let (_d, pki) = generated();
    err_contains(patch_verdict(&pki, "not-embedded", "server", "root", "root"), "signer certificate not found");
    let out = cli(&pki, "not-embedded", "server", "root", &["root"]);
    assert!(out.contains("Response verify OK"), "{out}");
}

#[test]
fn responses_about_another_certificate_have_no_status_for_this_one() {
    let (_d, pki) = generated();
    ok(patch_verdict(&pki, "other-cert", "other", "root", "root"), "it is good for its own certificate");
    err_contains(patch_verdict(&pki, "other-cert", "server", "root", "root"), "no status");
    err_contains(patch_verdict(&pki, "wrong-issuer", "server", "root", "root"), "no status");
    let out = cli(&pki, "other-cert", "server", "root", &["root"]);
    assert!(out.contains("No Status found"), "{out}");
}

#[test]
fn unsuccessful_bare_and_malformed_files() {
    let (_d, pki) = generated();
    for (name, code, text) in [("try-later", 3, "tryLater"), ("unauthorized", 6, "unauthorized")] {
        err_contains(patch_verdict(&pki, name, "server", "root", "root"), &format!("status {code}"));
        let out = cli(&pki, name, "server", "root", &["root"]);
        assert!(out.contains(&format!("Responder Error: {}", text.to_lowercase())), "{out}");
    }
    err_contains(patch_verdict(&pki, "no-basic", "server", "root", "root"), "no basic response");
    err_contains(patch_verdict(&pki, "malformed", "server", "root", "root"), "unparsable");
    let out = openssl(&["asn1parse", "-inform", "DER", "-in", &path(pki.ocsp_path("malformed"))]);
    assert!(!out.ok, "not DER: {}", out.out);
}

#[test]
fn files_are_named_after_the_response_and_listed_in_the_manifest() {
    let (d, pki) = generated();
    assert_eq!(pki.ocsp_path("good").unwrap(), d.path().join("good.resp"));
    assert!(pki.ocsp_path("nope").is_none());
    let entry = pki.manifest().files.iter().find(|f| f.path == "revoked.resp").unwrap();
    assert_eq!(entry.kind, pgtls_certs::FileKind::OcspResponse);
    assert_eq!(entry.entity.as_deref(), Some("server"));
    assert_eq!(entry.serial.as_deref(), Some(pki.serial("server").unwrap().hex()));
    assert!(Path::new(&d.path().join("manifest.json")).exists());
}
