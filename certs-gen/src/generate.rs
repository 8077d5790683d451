//! Turning a [`Plan`] into keys, certificates and CRLs in memory (no file I/O but the key cache).

use std::collections::HashMap;
use std::path::Path;

use openssl::pkey::{PKey, Private};
use openssl::x509::{X509, X509Crl};

use crate::cert::{self, Signer};
use crate::crl::{self, Entry};
use crate::error::{Error, ErrorKind};
use crate::keys;
use crate::plan::{Node, Plan};

/// Keys, certificates and CRLs, indexed like `plan.nodes`.
pub(crate) struct Material {
    pub keys: Vec<PKey<Private>>,
    pub certs: Vec<Option<X509>>,
    pub crls: Vec<Option<X509Crl>>,
}

pub(crate) fn materialize(plan: &Plan, cache: Option<&Path>) -> Result<Material, Error> {
    let keys = load_keys(plan, cache)?;
    let certs = issue_all(plan, &keys)?;
    let crls = sign_crls(plan, &keys, &certs)?;
    Ok(Material { keys, certs, crls })
}

/// One key per owner, shared by every entity that reuses it (never fetched twice, so a cache
/// cleared by another thread meanwhile cannot split a reused key in two).
fn load_keys(plan: &Plan, cache: Option<&Path>) -> Result<Vec<PKey<Private>>, Error> {
    let mut by_owner: HashMap<usize, PKey<Private>> = HashMap::new();
    let mut out = Vec::with_capacity(plan.nodes.len());
    for node in &plan.nodes {
        let key = match by_owner.get(&node.key_owner) {
            Some(k) => k.clone(),
            None => {
                let owner = &plan.nodes[node.key_owner].name;
                let k = keys::obtain(node.key_type, owner, cache).map_err(|e| e.at_entity(owner))?;
                by_owner.insert(node.key_owner, k.clone());
                k
            }
        };
        out.push(key);
    }
    Ok(out)
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
    Error::new(ErrorKind::conflict(format!("internal error: {what}"))).at_entity(&node.name)
}
