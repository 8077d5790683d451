//! Turning a [`Plan`] into keys, certificates, CRLs and OCSP responses in memory (no file I/O
//! but the key cache).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use openssl::pkey::{PKey, Private};
use openssl::x509::{X509, X509Crl};

use crate::cert::{self, Signer};
use crate::crl::{self, Entry};
use crate::error::{Error, ErrorKind};
use crate::keys::{self, KeyType};
use crate::ocsp;
use crate::plan::{Node, OcspBasic, OcspContent, Plan};

/// Keys, certificates and CRLs, indexed like `plan.nodes`; response files like
/// `plan.responses`.
pub(crate) struct Material {
    pub keys: Vec<PKey<Private>>,
    pub certs: Vec<Option<X509>>,
    pub crls: Vec<Option<X509Crl>>,
    pub responses: Vec<Vec<u8>>,
}

pub(crate) fn materialize(plan: &Plan, cache: Option<&Path>) -> Result<Material, Error> {
    let keys = load_keys(plan, cache)?;
    let certs = issue_all(plan, &keys)?;
    let crls = sign_crls(plan, &keys, &certs)?;
    let responses = sign_responses(plan, &keys, &certs)?;
    Ok(Material { keys, certs, crls, responses })
}

/// One key per owner, shared by every entity that reuses it (never fetched twice, so a cache
/// cleared by another thread meanwhile cannot split a reused key in two).
fn load_keys(plan: &Plan, cache: Option<&Path>) -> Result<Vec<PKey<Private>>, Error> {
    let mut owners: Vec<usize> = plan.nodes.iter().map(|n| n.key_owner).collect();
    owners.sort_unstable();
    owners.dedup();
    let jobs: Vec<(KeyType, &str)> =
        owners.iter().map(|&o| (plan.nodes[o].key_type, plan.nodes[o].name.as_str())).collect();
    let mut by_owner: HashMap<usize, PKey<Private>> = HashMap::new();
    for (owner, key) in owners.iter().zip(obtain_parallel(&jobs, cache)) {
        by_owner.insert(*owner, key?);
    }
    plan.nodes
        .iter()
        .map(|n| by_owner.get(&n.key_owner).cloned().ok_or_else(|| internal(n, "key not loaded")))
        .collect()
}

/// Key generation dominates cold runs (RSA-2048 is ~0.3 s per key on a small VM), so keys not
/// already in memory are fetched by one worker per CPU pulling from a shared queue. Cached
/// keys are taken directly: spawning threads would cost more than the whole cached run.
fn obtain_parallel(jobs: &[(KeyType, &str)], cache: Option<&Path>) -> Vec<Result<PKey<Private>, Error>> {
    let mut results: Vec<Option<Result<PKey<Private>, Error>>> =
        jobs.iter().map(|&(t, owner)| keys::in_memory(t, owner).map(Ok)).collect();
    let misses: Vec<usize> = (0..jobs.len()).filter(|&i| results[i].is_none()).collect();
    let next = AtomicUsize::new(0);
    let fetch = || {
        let mut done = Vec::new();
        while let Some(&i) = misses.get(next.fetch_add(1, Ordering::Relaxed)) {
            let (key_type, owner) = jobs[i];
            done.push((i, keys::obtain(key_type, owner, cache).map_err(|e| e.at_entity(owner))));
        }
        done
    };
    let workers = thread::available_parallelism().map_or(1, |n| n.get()).min(misses.len());
    let done: Vec<(usize, Result<PKey<Private>, Error>)> = if workers <= 1 {
        fetch()
    } else {
        thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|_| s.spawn(fetch)).collect();
            // A worker can only panic inside OpenSSL bindings; its jobs are reported below.
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        })
    };
    for (i, r) in done {
        results[i] = Some(r);
    }
    jobs.iter()
        .zip(results)
        .map(|((_, owner), r)| r.unwrap_or_else(|| Err(internal_for(owner, "key generation thread failed"))))
        .collect()
}

fn issue_all(plan: &Plan, keys: &[PKey<Private>]) -> Result<Vec<Option<X509>>, Error> {
    let mut certs: Vec<Option<X509>> = vec![None; plan.nodes.len()];
    for &i in &plan.order {
        let node = &plan.nodes[i];
        if !node.cert {
            continue;
        }
        let signer = match node.issuer {
            None => None,
            Some(j) => Some(Signer {
                cert: certs[j].as_deref().ok_or_else(|| internal(node, "issuer not yet issued"))?,
                key: &keys[j],
                key_type: plan.nodes[j].key_type,
            }),
        };
        let cert = cert::issue(node, &keys[i], signer)
            .map_err(|e| Error::new(ErrorKind::crypto("issue the certificate", e)).at_entity(&node.name))?;
        certs[i] = Some(cert);
    }
    Ok(certs)
}

fn sign_crls(plan: &Plan, keys: &[PKey<Private>], certs: &[Option<X509>]) -> Result<Vec<Option<X509Crl>>, Error> {
    let mut crls = Vec::with_capacity(plan.nodes.len());
    for (i, node) in plan.nodes.iter().enumerate() {
        let (Some(opts), Some(ca_cert)) = (&node.crl, &certs[i]) else {
            crls.push(None);
            continue;
        };
        let md = cert::digest(opts.hash, node.key_type);
        let entries = crl_entries(plan, i);
        let crl = crl::build(ca_cert, &keys[i], md, opts, &entries)
            .map_err(|e| Error::new(ErrorKind::crypto("sign the CRL", e)).at_entity(&node.name).at_field("crl"))?;
        crls.push(Some(crl));
    }
    Ok(crls)
}

fn sign_responses(plan: &Plan, keys: &[PKey<Private>], certs: &[Option<X509>]) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::with_capacity(plan.responses.len());
    for r in &plan.responses {
        let at = |e| Error::new(ErrorKind::crypto("build the OCSP response", e)).at_response(&r.name);
        let bytes = match &r.content {
            OcspContent::Malformed => ocsp::MALFORMED.to_vec(),
            OcspContent::Bare(status) => ocsp::bare(*status).map_err(at)?,
            OcspContent::Basic(b) => {
                let parties = parties(plan, b, keys, certs).map_err(|what| {
                    Error::new(ErrorKind::conflict(format!("internal error: {what}"))).at_response(&r.name)
                })?;
                ocsp::signed(b, &parties).map_err(at)?
            }
        };
        out.push(bytes);
    }
    Ok(out)
}

fn parties<'a>(
    plan: &Plan,
    b: &OcspBasic,
    keys: &'a [PKey<Private>],
    certs: &'a [Option<X509>],
) -> Result<ocsp::Parties<'a>, &'static str> {
    let cert = |i: usize| certs[i].as_deref().ok_or("a response names an entity without a certificate");
    let signer_type = plan.nodes[b.signer].key_type;
    Ok(ocsp::Parties {
        cert: cert(b.cert)?,
        issuer: cert(b.issuer)?,
        signer: cert(b.signer)?,
        signer_key: &keys[b.signer],
        md: signer_type.takes_hash().then(|| cert::digest(b.hash, signer_type)),
    })
}

/// Revoked certificates listed by CA `ca`, one entry per serial.
fn crl_entries(plan: &Plan, ca: usize) -> Vec<Entry<'_>> {
    let mut entries: Vec<Entry<'_>> = Vec::new();
    for node in &plan.nodes {
        let Some(r) = &node.revocation else { continue };
        if !plan.revoking_cas(node).contains(&ca) || entries.iter().any(|e| e.serial == &node.serial) {
            continue;
        }
        entries.push(Entry { serial: &node.serial, date: r.date, reason: r.reason });
    }
    entries
}

fn internal(node: &Node, what: &str) -> Error {
    internal_for(&node.name, what)
}

fn internal_for(entity: &str, what: &str) -> Error {
    Error::new(ErrorKind::conflict(format!("internal error: {what}"))).at_entity(entity)
}
