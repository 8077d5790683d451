//! How long a typical 10-entity EC layout takes: cold (no key in memory or on disk) vs cached.
//!
//! Targets: ≤ 50 ms cold, ≤ 5 ms with keys cached. Run with
//! `cargo bench -p pgtls-certs --bench generate`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use pgtls_certs::{GenerateOptions, PkiSpec};

const LAYOUT: &str = r#"
[pki.root_ca]
ca = true
[pki.server_ca]
issuer = "root_ca"
ca = true
[pki.client_ca]
issuer = "root_ca"
ca = true
[pki.server]
issuer = "server_ca"
san = ["DNS:db.test", "IP:127.0.0.1"]
[pki.server-revoked]
issuer = "server_ca"
revoked = true
[pki.server-expired]
issuer = "server_ca"
not_after = "-1d"
[pki.client]
issuer = "client_ca"
subject = "CN=alice"
[pki.client-revoked]
issuer = "client_ca"
subject = "CN=alice"
revoked = { reason = "keyCompromise" }
[pki.client-encrypted]
issuer = "client_ca"
subject = "CN=bob"
key_passphrase = "secret"
[pki.self-signed]
san = ["DNS:db.test"]
[pki]
bundles = ["root_ca+server_ca", "root_ca+client_ca"]
crl_files = ["root_ca+client_ca"]
crl_dirs = ["root_ca+client_ca"]
"#;

fn spec() -> PkiSpec {
    let doc: toml::Table = toml::from_str(LAYOUT).expect("bench layout parses");
    doc["pki"].clone().try_into().expect("bench layout is a PkiSpec")
}

fn bench(c: &mut Criterion) {
    let spec = spec();
    let mut group = c.benchmark_group("generate_10_entities_ec");

    group.bench_function("cold", |b| {
        b.iter_batched(
            || {
                pgtls_certs::clear_memory_key_cache();
                (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap())
            },
            |(out, cache)| {
                let opts = GenerateOptions { key_cache: Some(cache.path().to_owned()), ..Default::default() };
                black_box(pgtls_certs::generate(&spec, out.path(), &opts).unwrap());
                (out, cache)
            },
            BatchSize::PerIteration,
        )
    });

    let cache = tempfile::tempdir().unwrap();
    let opts = GenerateOptions { key_cache: Some(cache.path().to_owned()), ..Default::default() };
    let warm = tempfile::tempdir().unwrap();
    pgtls_certs::generate(&spec, warm.path(), &opts).unwrap();
    group.bench_function("cached", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |out| {
                black_box(pgtls_certs::generate(&spec, out.path(), &opts).unwrap());
                out
            },
            BatchSize::PerIteration,
        )
    });

    group.bench_function("validate", |b| b.iter(|| pgtls_certs::validate(black_box(&spec)).unwrap()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
