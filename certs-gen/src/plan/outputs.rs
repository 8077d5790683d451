//! Checks of the combined outputs (bundles, CRL files, CRL dirs) and of key file names.

use std::collections::HashMap;

use super::{Index, Node};
use crate::error::{Error, ErrorKind};
use crate::hint;
use crate::spec::PkiSpec;

type Lists = (Vec<Vec<usize>>, Vec<Vec<usize>>, Vec<Vec<usize>>);

/// Resolves the member names of `bundles`, `crl_files` and `crl_dirs`.
pub(super) fn resolve(spec: &PkiSpec, index: &Index<'_>, nodes: &[Node]) -> Result<Lists, Error> {
    let bundles = lists(spec.bundles(), "bundles", index, nodes, false)?;
    let crl_files = lists(spec.crl_files(), "crl_files", index, nodes, true)?;
    let crl_dirs = lists(spec.crl_dirs(), "crl_dirs", index, nodes, true)?;
    Ok((bundles, crl_files, crl_dirs))
}

fn lists(
    lists: &[Vec<String>],
    field: &'static str,
    index: &Index<'_>,
    nodes: &[Node],
    cas_only: bool,
) -> Result<Vec<Vec<usize>>, Error> {
    lists
        .iter()
        .map(|members| resolve_members(members, index, nodes, cas_only).map_err(|k| Error::new(k).at_field(field)))
        .collect()
}

fn resolve_members(
    members: &[String],
    index: &Index<'_>,
    nodes: &[Node],
    cas_only: bool,
) -> Result<Vec<usize>, ErrorKind> {
    let entry = members.join("+");
    if members.iter().any(String::is_empty) {
        let reason = "members are entity names joined by `+`, none may be empty".into();
        return Err(ErrorKind::BadMember { member: entry, reason });
    }
    let mut out = Vec::with_capacity(members.len());
    for name in members {
        let member = Some(entry.clone());
        let Some(&i) = index.get(name.as_str()) else {
            let hint = hint::closest(name, index.keys().copied()).map(str::to_owned);
            return Err(ErrorKind::UnknownMember { member, name: name.clone(), hint });
        };
        if cas_only && nodes[i].crl.is_none() {
            return Err(ErrorKind::MemberNotCa { member, name: name.clone() });
        }
        if !nodes[i].cert {
            return Err(ErrorKind::MemberWithoutCert { member, name: name.clone() });
        }
        out.push(i);
    }
    Ok(out)
}

/// Every `<name>.key` (entities and `extra_keys`) must be a distinct file.
pub(super) fn check_key_files(nodes: &[Node]) -> Result<(), Error> {
    let mut owners: HashMap<&str, &str> = nodes.iter().map(|n| (n.name.as_str(), n.name.as_str())).collect();
    for n in nodes {
        for (file, _) in &n.extra_keys {
            if let Some(other) = owners.insert(file.as_str(), n.name.as_str()) {
                let msg = format!("extra key file {file:?}.key is already written for entity {other:?}");
                return Err(Error::new(ErrorKind::conflict(msg)).at_entity(&n.name).at_field("extra_keys"));
            }
        }
    }
    Ok(())
}
