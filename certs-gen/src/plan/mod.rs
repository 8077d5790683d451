//! The validated model: a [`PkiSpec`] with every name resolved and every value parsed.
//!
//! Building a `Plan` is all of [`validate`](crate::validate): no key is generated and nothing
//! is written, so the harness can check a scenario file before it starts any work. Generation
//! then only reads the plan and cannot meet a spec mistake half-way through writing files.

mod graph;
mod node;
mod ocsp;
mod outputs;

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::dn::Dn;
use crate::error::{Error, ErrorKind};
use crate::keys::{KeyFormat, KeyType};
use crate::san::San;
use crate::serial::Serial;
use crate::spec::{ExtendedKeyUsage, HashAlg, KeyUsage, PkiSpec, RevocationReason};

pub(crate) use self::ocsp::{Basic as OcspBasic, Content as OcspContent, PlannedResponse, Status as OcspStatus};

/// Resolved spec: entities in declaration order plus the signing order and extra outputs.
#[derive(Debug)]
pub(crate) struct Plan {
    pub nodes: Vec<Node>,
    /// Entity indices with every issuer before the certificates it signs.
    pub order: Vec<usize>,
    pub bundles: Vec<Vec<usize>>,
    pub crl_files: Vec<Vec<usize>>,
    pub crl_dirs: Vec<Vec<usize>>,
    /// OCSP responses in declaration order.
    pub responses: Vec<PlannedResponse>,
}

/// One resolved entity.
#[derive(Debug)]
pub(crate) struct Node {
    pub name: String,
    pub subject: Dn,
    /// `None`: self-signed.
    pub issuer: Option<usize>,
    pub ca: bool,
    pub pathlen: Option<u32>,
    pub sans: Vec<San>,
    /// The entity whose key this is (itself unless the key is reused).
    pub key_owner: usize,
    pub key_type: KeyType,
    pub serial: Serial,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub hash: Option<HashAlg>,
    /// Empty: no keyUsage extension.
    pub key_usage: Vec<KeyUsage>,
    pub eku: Vec<ExtendedKeyUsage>,
    pub revocation: Option<PlannedRevocation>,
    /// CAs whose CRLs list this serial besides the issuer's.
    pub also_revoked_by: Vec<usize>,
    pub key_file: KeyFile,
    pub extra_keys: Vec<(String, KeyFile)>,
    pub der: bool,
    /// Present exactly for CAs.
    pub crl: Option<PlannedCrl>,
    pub cert: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyFile {
    pub format: KeyFormat,
    pub passphrase: Option<String>,
    /// File mode; keys are 0600 unless an extra key asks otherwise.
    pub mode: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct PlannedRevocation {
    pub reason: Option<RevocationReason>,
    pub date: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub(crate) struct PlannedCrl {
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub number: u64,
    pub hash: Option<HashAlg>,
}

/// Entity name → index, built once the names are known to be unique.
pub(crate) type Index<'a> = HashMap<&'a str, usize>;

impl Plan {
    /// Validates `spec` completely, resolving relative times against `now`.
    pub(crate) fn build(spec: &PkiSpec, now: OffsetDateTime) -> Result<Plan, Error> {
        let index = graph::index(spec)?;
        let issuers = graph::issuers(spec, &index)?;
        let order = graph::signing_order(spec, &issuers)?;
        let keys = graph::key_owners(spec, &index)?;
        let ctx = node::Context { spec, index: &index, issuers: &issuers, keys: &keys, now };
        let nodes = (0..spec.entities().len()).map(|i| node::build(&ctx, i)).collect::<Result<Vec<_>, _>>()?;
        check_serials(&nodes)?;
        let (bundles, crl_files, crl_dirs) = outputs::resolve(spec, &index, &nodes)?;
        outputs::check_key_files(&nodes)?;
        let responses = ocsp::resolve(spec, &index, &nodes, now)?;
        Ok(Plan { nodes, order, bundles, crl_files, crl_dirs, responses })
    }

    /// The CAs whose CRL lists `node`'s serial: its issuer plus `also_revoked_by`.
    pub(crate) fn revoking_cas(&self, node: &Node) -> Vec<usize> {
        let mut cas: Vec<usize> = Vec::new();
        if node.revocation.is_some() {
            for ca in node.issuer.into_iter().chain(node.also_revoked_by.iter().copied()) {
                if !cas.contains(&ca) {
                    cas.push(ca);
                }
            }
        }
        cas
    }
}

/// Two certificates from one issuer must not share a serial: a CRL entry would hit both.
fn check_serials(nodes: &[Node]) -> Result<(), Error> {
    let mut seen: HashMap<(usize, &Serial), &str> = HashMap::new();
    for (i, n) in nodes.iter().enumerate().filter(|(_, n)| n.cert) {
        let issuer = n.issuer.unwrap_or(i);
        if let Some(other) = seen.insert((issuer, &n.serial), &n.name) {
            let kind = ErrorKind::DuplicateSerial {
                serial: n.serial.hex().to_owned(),
                other: other.to_owned(),
                issuer: nodes[issuer].name.clone(),
            };
            return Err(Error::new(kind).at_entity(&n.name).at_field("serial"));
        }
    }
    Ok(())
}
