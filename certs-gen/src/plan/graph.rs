//! Name-level checks: entity names, the issuer graph (unknown, non-CA, cycles) and key reuse.

use super::Index;
use crate::error::{Error, ErrorKind};
use crate::hint;
use crate::keys::KeyType;
use crate::spec::{KeySource, PkiSpec, RESERVED_KEYS};

/// Checks every entity name and maps names to indices.
pub(super) fn index(spec: &PkiSpec) -> Result<Index<'_>, Error> {
    let mut index = Index::new();
    for (i, (name, _)) in spec.entities().iter().enumerate() {
        check_name(name)?;
        if index.insert(name.as_str(), i).is_some() {
            return Err(Error::new(ErrorKind::DuplicateEntity { name: name.clone() }).at_entity(name));
        }
    }
    Ok(index)
}

fn check_name(name: &str) -> Result<(), Error> {
    let reserved = |reason| Error::new(ErrorKind::ReservedEntityName { name: name.to_owned(), reason });
    if RESERVED_KEYS.contains(&name) {
        return Err(reserved("a top-level [pki] list").at_entity(name));
    }
    if KeyType::from_name(name).is_some() {
        return Err(reserved("a key type, so `key = \"...\"` would be ambiguous").at_entity(name));
    }
    check_file_stem(name)
        .map_err(|reason| Error::new(ErrorKind::InvalidEntityName { name: name.to_owned(), reason }).at_entity(name))
}

/// Entity names and extra key names become file names; `+` is kept for combined outputs.
pub(super) fn check_file_stem(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.starts_with(['.', '-']) {
        return Err("it must not start with `.` or `-`".into());
    }
    match name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        Some('+') => Err("`+` joins the members of bundles and CRL files".into()),
        Some(c) => Err(format!("{c:?} is not allowed (use letters, digits, `-`, `_`, `.`)")),
        None => Ok(()),
    }
}

/// Resolves each `issuer`; `None` means self-signed (also for `issuer = "<own name>"`).
pub(super) fn issuers(spec: &PkiSpec, index: &Index<'_>) -> Result<Vec<Option<usize>>, Error> {
    let entities = spec.entities();
    let mut out = Vec::with_capacity(entities.len());
    for (i, (name, e)) in entities.iter().enumerate() {
        let Some(issuer) = e.issuer.as_deref() else {
            out.push(None);
            continue;
        };
        let at = |kind| Error::new(kind).at_entity(name).at_field("issuer");
        let Some(&j) = index.get(issuer) else {
            let hint = hint::closest(issuer, index.keys().copied().filter(|n| n != name)).map(str::to_owned);
            return Err(at(ErrorKind::UnknownIssuer { name: issuer.to_owned(), hint }));
        };
        if j == i {
            out.push(None);
            continue;
        }
        let issuer_spec = &entities[j].1;
        if !issuer_spec.ca {
            return Err(at(ErrorKind::IssuerNotCa { issuer: issuer.to_owned() }));
        }
        if !issuer_spec.cert {
            return Err(at(ErrorKind::IssuerWithoutCert { issuer: issuer.to_owned() }));
        }
        out.push(Some(j));
    }
    Ok(out)
}

/// Orders entities so that every issuer comes before what it signs; reports cycles.
pub(super) fn signing_order(spec: &PkiSpec, issuers: &[Option<usize>]) -> Result<Vec<usize>, Error> {
    let mut depth = Vec::with_capacity(issuers.len());
    for start in 0..issuers.len() {
        let mut path = vec![start];
        let mut cur = start;
        while let Some(next) = issuers[cur] {
            if let Some(pos) = path.iter().position(|&p| p == next) {
                return Err(cycle_error(spec, &path[pos..]));
            }
            path.push(next);
            cur = next;
        }
        depth.push(path.len());
    }
    let mut order: Vec<usize> = (0..issuers.len()).collect();
    order.sort_by_key(|&i| depth[i]);
    Ok(order)
}

/// Names the cycle starting at its first-declared member, e.g. `a -> b -> a`.
fn cycle_error(spec: &PkiSpec, cycle: &[usize]) -> Error {
    let start = cycle.iter().position(|i| Some(i) == cycle.iter().min()).unwrap_or(0);
    let mut names: Vec<String> =
        cycle[start..].iter().chain(&cycle[..start]).map(|&i| spec.entities()[i].0.clone()).collect();
    let first = names[0].clone();
    names.push(first.clone());
    Error::new(ErrorKind::IssuerCycle { cycle: names }).at_entity(&first).at_field("issuer")
}

/// For each entity, the entity whose key it uses and that key's type.
pub(super) fn key_owners(spec: &PkiSpec, index: &Index<'_>) -> Result<Vec<(usize, KeyType)>, Error> {
    (0..spec.entities().len()).map(|i| key_owner(spec, index, i)).collect()
}

fn key_owner(spec: &PkiSpec, index: &Index<'_>, start: usize) -> Result<(usize, KeyType), Error> {
    let entities = spec.entities();
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let (name, e) = &entities[cur];
        let reused = match &e.key {
            None => return Ok((cur, KeyType::EcP256)),
            Some(KeySource::Generate(t)) => return Ok((cur, *t)),
            Some(KeySource::Reuse(other)) => other,
        };
        let at = |kind| Error::new(kind).at_entity(name).at_field("key");
        let Some(&next) = index.get(reused.as_str()) else {
            let candidates = index.keys().copied().chain(KeyType::names());
            let hint = hint::closest(reused, candidates).map(str::to_owned);
            return Err(at(ErrorKind::UnknownKey { name: reused.clone(), hint }));
        };
        if path.contains(&next) {
            let mut cycle: Vec<String> = path.iter().map(|&i| entities[i].0.clone()).collect();
            cycle.push(entities[next].0.clone());
            return Err(at(ErrorKind::KeyCycle { cycle }));
        }
        path.push(next);
        cur = next;
    }
}
