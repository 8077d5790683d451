//! Key files: encodings, encryption, permissions, key reuse and the key cache.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{openssl, spec};
use openssl::pkey::{Id, PKey};
use openssl::rsa::Rsa;
use pgtls_certs::{FileKind, GenerateOptions};

const LAYOUT: &str = r#"
[pki.ca]
ca = true

[pki.server]
issuer = "ca"
key = "rsa-2048"
key_passphrase = "secret1"
extra_keys = [
  { file = "server-plain" },
  { file = "server-der-encrypted", format = "pkcs8-der", passphrase = "dUmmyP^#+" },
  { file = "server-pkcs1-der", format = "pkcs1-der" },
]

[pki.client]
issuer = "ca"
key = "rsa-2048"
key_format = "pkcs1-pem"

[pki.client-der]
issuer = "ca"
key = "client"
key_format = "pkcs8-der"

[pki.ed]
issuer = "ca"
key = "ed25519"
extra_keys = [{ file = "ed-der", format = "pkcs8-der" }]

[pki.keyonly]
cert = false
key = "ec-p384"

[pki.reuses-keyonly]
issuer = "ca"
key = "keyonly"
"#;

#[test]
fn encrypted_keys_need_the_right_passphrase() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    let pem = std::fs::read(pki.key_path("server").unwrap()).unwrap();
    assert!(pem.starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(PKey::private_key_from_pem_passphrase(&pem, b"secret1").is_ok());
    assert!(PKey::private_key_from_pem_passphrase(&pem, b"wrong").is_err());
    let path = pki.key_path("server").unwrap();
    let cli =
        |pass: &str| openssl(&["pkey", "-noout", "-in", path.to_str().unwrap(), "-passin", &format!("pass:{pass}")]);
    assert!(cli("secret1").ok);
    assert!(!cli("wrong").ok);
    let text = openssl(&["asn1parse", "-in", path.to_str().unwrap()]).out;
    assert!(text.contains("PBES2") && text.contains("aes-256-cbc"), "{text}");

    let der = std::fs::read(pki.extra_key_path("server-der-encrypted").unwrap()).unwrap();
    assert!(PKey::private_key_from_pkcs8_passphrase(&der, b"dUmmyP^#+").is_ok());
    assert!(PKey::private_key_from_pkcs8_passphrase(&der, b"dUmmyP^#-").is_err());
    assert!(PKey::private_key_from_der(&der).is_err(), "DER copy is really encrypted");
}

#[test]
fn plain_encodings_and_copies_hold_the_same_key() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    let read = |p: std::path::PathBuf| std::fs::read(p).unwrap();
    let plain = PKey::private_key_from_pem(&read(pki.extra_key_path("server-plain").unwrap())).unwrap();
    let enc = PKey::private_key_from_pem_passphrase(&read(pki.key_path("server").unwrap()), b"secret1").unwrap();
    let pkcs1 = Rsa::private_key_from_der(&read(pki.extra_key_path("server-pkcs1-der").unwrap())).unwrap();
    assert!(plain.public_eq(&enc));
    assert!(plain.public_eq(&PKey::from_rsa(pkcs1).unwrap()));

    let client_pem = read(pki.key_path("client").unwrap());
    assert!(client_pem.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
    let client = PKey::private_key_from_pem(&client_pem).unwrap();
    let client_der = PKey::private_key_from_pkcs8(&read(pki.key_path("client-der").unwrap())).unwrap();
    assert!(client.public_eq(&client_der), "key = \"client\" reuses the key");
    let cert = common::load_cert(&pki.cert_path("client-der").unwrap());
    assert!(cert.public_key().unwrap().public_eq(&client));
    assert_ne!(pki.serial("client"), pki.serial("client-der"));

    // Key-only entity: a key file, no certificate, and its key is reusable.
    assert!(pki.cert_path("keyonly").is_none());
    let keyonly = PKey::private_key_from_pem(&read(pki.key_path("keyonly").unwrap())).unwrap();
    let reused = common::load_cert(&pki.cert_path("reuses-keyonly").unwrap());
    assert!(reused.public_key().unwrap().public_eq(&keyonly));
    assert_eq!(keyonly.bits(), 384);
}

#[test]
fn ed25519_keys_are_pkcs8_v1() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    let der = std::fs::read(pki.extra_key_path("ed-der").unwrap()).unwrap();
    // PrivateKeyInfo v1: SEQUENCE { INTEGER 0, AlgorithmIdentifier, OCTET STRING }, 48 bytes,
    // no [1] publicKey (v2 is what OpenSSL 3.0 rejects).
    assert_eq!(&der[..5], &[0x30, 0x2e, 0x02, 0x01, 0x00], "{der:02x?}");
    assert_eq!(der.len(), 48);
    let key = PKey::private_key_from_pem(&std::fs::read(pki.key_path("ed").unwrap()).unwrap()).unwrap();
    assert_eq!(key.id(), Id::ED25519);
    assert!(openssl(&["pkey", "-noout", "-in", pki.key_path("ed").unwrap().to_str().unwrap()]).ok);
}

#[test]
fn keys_are_0600_and_everything_else_0644() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    for f in &pki.manifest().files {
        let mode = std::fs::metadata(pki.dir().join(&f.path)).unwrap().permissions().mode() & 0o777;
        let want = if f.kind == FileKind::Key { 0o600 } else { 0o644 };
        assert_eq!(mode, want, "{}", f.path);
    }
}

#[test]
fn rewriting_a_world_readable_key_tightens_it() {
    let s = spec(LAYOUT);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("client.key");
    std::fs::write(&key, "old").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    pgtls_certs::generate(&s, dir.path(), &GenerateOptions::default()).unwrap();
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn disk_cache_survives_the_memory_cache() {
    let s = spec(
        r#"
[pki.cache-test-ca]
ca = true
key = "rsa-2048"
[pki.cache-test-leaf]
issuer = "cache-test-ca"
key = "ed25519"
"#,
    );
    let _clearing = common::key_caches_cleared();
    let cache = tempfile::tempdir().unwrap();
    let opts = GenerateOptions { key_cache: Some(cache.path().to_owned()), ..Default::default() };
    let pub_of = |pki: &pgtls_certs::Pki, e: &str| common::load_cert(&pki.cert_path(e).unwrap()).public_key().unwrap();

    let d1 = tempfile::tempdir().unwrap();
    let first = pgtls_certs::generate(&s, d1.path(), &opts).unwrap();
    let id = hex::encode(openssl::sha::sha256(b"rsa-2048\0cache-test-ca"));
    let cached = cache.path().join(format!("{id}.pem"));
    assert_eq!(std::fs::metadata(&cached).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 2, "no temp files left");

    pgtls_certs::clear_memory_key_cache();
    let d2 = tempfile::tempdir().unwrap();
    let second = pgtls_certs::generate(&s, d2.path(), &opts).unwrap();
    for e in ["cache-test-ca", "cache-test-leaf"] {
        assert!(pub_of(&first, e).public_eq(&pub_of(&second, e)), "{e} came from the disk cache");
    }

    // A corrupt cache file is replaced, not trusted.
    std::fs::write(&cached, "garbage").unwrap();
    pgtls_certs::clear_memory_key_cache();
    let d3 = tempfile::tempdir().unwrap();
    let third = pgtls_certs::generate(&s, d3.path(), &opts).unwrap();
    assert!(!pub_of(&first, "cache-test-ca").public_eq(&pub_of(&third, "cache-test-ca")));
    assert!(PKey::private_key_from_pem(&std::fs::read(&cached).unwrap()).is_ok());
}

#[test]
fn encrypted_encodings_are_reused_only_for_the_same_key_and_passphrase() {
    let _kept = common::key_caches_kept();
    let layout = |pass: &str| spec(&format!("[pki.enc-reuse]\nkey_passphrase = \"{pass}\""));
    let key_bytes = |s: &pgtls_certs::PkiSpec| {
        let (_d, pki) = common::generate(s);
        std::fs::read(pki.key_path("enc-reuse").unwrap()).unwrap()
    };
    let a = key_bytes(&layout("one"));
    assert_eq!(a, key_bytes(&layout("one")), "same key and passphrase: same bytes");
    let b = key_bytes(&layout("two"));
    assert_ne!(a, b);
    let one = PKey::private_key_from_pem_passphrase(&a, b"one").unwrap();
    let two = PKey::private_key_from_pem_passphrase(&b, b"two").unwrap();
    assert!(one.public_eq(&two), "both encrypt the cached key");
}
