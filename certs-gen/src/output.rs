//! Writing the generated material to disk (keys 0600, everything else 0644) and the manifest.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::dn;
use crate::error::{Error, ErrorKind};
use crate::generate::Material;
use crate::keys;
use crate::pki::{EntityFiles, FileKind, Manifest, ManifestEntry, Pki};
use crate::plan::{Node, Plan};

/// Collects files as they are written.
struct Writer<'a> {
    dir: &'a Path,
    files: Vec<ManifestEntry>,
}

/// Facts recorded for a manifest entry besides path, kind and hash.
#[derive(Default)]
struct Facts {
    entity: Option<String>,
    subject: Option<String>,
    issuer: Option<String>,
    serial: Option<String>,
    san: Vec<String>,
}

impl Writer<'_> {
    fn write(&mut self, rel: &str, kind: FileKind, bytes: &[u8], facts: Facts) -> Result<(), Error> {
        let mode = if kind == FileKind::Key { 0o600 } else { 0o644 };
        write_file(&self.dir.join(rel), bytes, mode)?;
        self.files.push(ManifestEntry {
            path: rel.to_owned(),
            kind,
            entity: facts.entity,
            subject: facts.subject,
            issuer: facts.issuer,
            serial: facts.serial,
            san: facts.san,
            sha256: hex::encode(openssl::sha::sha256(bytes)),
        });
        Ok(())
    }
}

/// Sets a written file's mode (an extra key that asked for one).
fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|source| Error::new(ErrorKind::Io { action: "set the mode of", path: path.to_owned(), cause: source }))
}

/// Creates or truncates `path` with `mode`, forcing the mode even if the file existed
/// (a leftover 0644 key would make PostgreSQL refuse to start).
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let io = |source| Error::new(ErrorKind::Io { action: "write", path: path.to_owned(), cause: source });
    let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path).map_err(io)?;
    f.set_permissions(fs::Permissions::from_mode(mode)).map_err(io)?;
    f.write_all(bytes).map_err(io)
}

fn crypto(node: &Node, what: &str, e: openssl::error::ErrorStack) -> Error {
    Error::new(ErrorKind::crypto(what, e)).at_entity(&node.name)
}

pub(crate) fn write(plan: &Plan, m: &Material, out_dir: &Path) -> Result<Pki, Error> {
    fs::create_dir_all(out_dir)
        .map_err(|source| Error::new(ErrorKind::Io { action: "create", path: out_dir.to_owned(), cause: source }))?;
    let mut w = Writer { dir: out_dir, files: Vec::new() };
    let mut pki = Pki {
        dir: out_dir.to_owned(),
        manifest: Manifest { files: Vec::new() },
        entities: Default::default(),
        extra_keys: Default::default(),
        bundles: Default::default(),
        crl_files: Default::default(),
        crl_dirs: Default::default(),
        responses: Default::default(),
    };
    for (i, node) in plan.nodes.iter().enumerate() {
        let files = write_entity(&mut w, plan, m, i, &mut pki)?;
        pki.entities.insert(node.name.clone(), files);
    }
    write_bundles(&mut w, plan, m, &mut pki)?;
    write_crl_files(&mut w, plan, m, &mut pki)?;
    write_crl_dirs(&mut w, plan, m, &mut pki)?;
    write_responses(&mut w, plan, m, &mut pki)?;
    pki.manifest.files = w.files;
    write_manifest(&pki)?;
    Ok(pki)
}

fn subject_of(plan: &Plan, i: usize) -> String {
    dn::render(&plan.nodes[i].subject)
}

fn write_entity(w: &mut Writer<'_>, plan: &Plan, m: &Material, i: usize, pki: &mut Pki) -> Result<EntityFiles, Error> {
    let node = &plan.nodes[i];
    let mut files = EntityFiles { key: format!("{}.key", node.name), ..Default::default() };
    if let Some(cert) = &m.certs[i] {
        write_cert(w, plan, i, cert, &mut files)?;
    }
    let key = keys::encode(&m.keys[i], node.key_file.format, node.key_file.passphrase.as_deref())
        .map_err(|e| crypto(node, "encode the key", e))?;
    w.write(&files.key, FileKind::Key, &key, Facts { entity: Some(node.name.clone()), ..Default::default() })?;
    for (file, kf) in &node.extra_keys {
        let bytes = keys::encode(&m.keys[i], kf.format, kf.passphrase.as_deref())
            .map_err(|e| crypto(node, "encode an extra key", e))?;
        let rel = format!("{file}.key");
        w.write(&rel, FileKind::Key, &bytes, Facts { entity: Some(node.name.clone()), ..Default::default() })?;
        if kf.mode != 0o600 {
            set_mode(&w.dir.join(&rel), kf.mode)?;
        }
        pki.extra_keys.insert(file.clone(), rel);
    }
    if let Some(crl) = &m.crls[i] {
        let rel = format!("{}.crl", node.name);
        let pem = crl.to_pem().map_err(|e| crypto(node, "encode the CRL", e))?;
        w.write(&rel, FileKind::Crl, &pem, crl_facts(plan, i))?;
        files.crl = Some(rel);
    }
    Ok(files)
}

fn cert_facts(plan: &Plan, i: usize) -> Facts {
    let node = &plan.nodes[i];
    Facts {
        entity: Some(node.name.clone()),
        subject: Some(subject_of(plan, i)),
        issuer: Some(subject_of(plan, node.issuer.unwrap_or(i))),
        serial: Some(node.serial.hex().to_owned()),
        san: node.sans.iter().map(|s| s.render()).collect(),
    }
}

fn crl_facts(plan: &Plan, ca: usize) -> Facts {
    Facts { entity: Some(plan.nodes[ca].name.clone()), issuer: Some(subject_of(plan, ca)), ..Default::default() }
}

fn write_cert(
    w: &mut Writer<'_>,
    plan: &Plan,
    i: usize,
    cert: &openssl::x509::X509,
    files: &mut EntityFiles,
) -> Result<(), Error> {
    let node = &plan.nodes[i];
    let rel = format!("{}.crt", node.name);
    let pem = cert.to_pem().map_err(|e| crypto(node, "encode the certificate", e))?;
    w.write(&rel, FileKind::Certificate, &pem, cert_facts(plan, i))?;
    files.cert = Some(rel);
    if node.der {
        let rel = format!("{}.der", node.name);
        let der = cert.to_der().map_err(|e| crypto(node, "encode the certificate", e))?;
        w.write(&rel, FileKind::CertificateDer, &der, cert_facts(plan, i))?;
        files.der = Some(rel);
    }
    files.serial = Some(node.serial.clone());
    files.subject = Some(subject_of(plan, i));
    Ok(())
}

fn joined(plan: &Plan, members: &[usize]) -> String {
    members.iter().map(|&i| plan.nodes[i].name.as_str()).collect::<Vec<_>>().join("+")
}

/// Concatenated PEM; single-member lists are the member's own file, so nothing is written.
fn write_bundles(w: &mut Writer<'_>, plan: &Plan, m: &Material, pki: &mut Pki) -> Result<(), Error> {
    for members in plan.bundles.iter().filter(|l| l.len() > 1) {
        let mut pem = Vec::new();
        for &i in members {
            let cert = m.certs[i].as_ref().map(|c| c.to_pem());
            pem.extend(
                cert.transpose().map_err(|e| crypto(&plan.nodes[i], "encode the certificate", e))?.unwrap_or_default(),
            );
        }
        let name = joined(plan, members);
        let rel = format!("{name}.crt");
        w.write(&rel, FileKind::Bundle, &pem, Facts::default())?;
        pki.bundles.insert(name, rel);
    }
    Ok(())
}

fn crl_pem(plan: &Plan, m: &Material, i: usize) -> Result<Vec<u8>, Error> {
    let crl = m.crls[i].as_ref().map(|c| c.to_pem());
    Ok(crl.transpose().map_err(|e| crypto(&plan.nodes[i], "encode the CRL", e))?.unwrap_or_default())
}

fn write_crl_files(w: &mut Writer<'_>, plan: &Plan, m: &Material, pki: &mut Pki) -> Result<(), Error> {
    for members in plan.crl_files.iter().filter(|l| l.len() > 1) {
        let mut pem = Vec::new();
        for &i in members {
            pem.extend(crl_pem(plan, m, i)?);
        }
        let name = joined(plan, members);
        let rel = format!("{name}.crl");
        w.write(&rel, FileKind::CrlBundle, &pem, Facts::default())?;
        pki.crl_files.insert(name, rel);
    }
    Ok(())
}

/// A fresh directory per run, so no CRL of a previous layout lingers under an old hash.
fn write_crl_dirs(w: &mut Writer<'_>, plan: &Plan, m: &Material, pki: &mut Pki) -> Result<(), Error> {
    for members in &plan.crl_dirs {
        let name = joined(plan, members);
        let rel_dir = format!("{name}.crldir");
        let dir = w.dir.join(&rel_dir);
        let io = |action, source| Error::new(ErrorKind::Io { action, path: dir.clone(), cause: source });
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| io("clear", e))?;
        }
        fs::create_dir_all(&dir).map_err(|e| io("create", e))?;
        let mut used: Vec<String> = Vec::new();
        for &i in members {
            let Some(cert) = &m.certs[i] else { continue };
            let hash = format!("{:08x}", crate::crl::issuer_hash(cert));
            let n = used.iter().filter(|h| **h == hash).count();
            used.push(hash.clone());
            let rel = format!("{rel_dir}/{hash}.r{n}");
            let mut facts = crl_facts(plan, i);
            facts.entity = Some(plan.nodes[i].name.clone());
            w.write(&rel, FileKind::CrlDirEntry, &crl_pem(plan, m, i)?, facts)?;
        }
        pki.crl_dirs.insert(name, rel_dir);
    }
    Ok(())
}

/// `<name>.resp`: DER as `openssl ocsp -respout` writes it (or the malformed bytes).
fn write_responses(w: &mut Writer<'_>, plan: &Plan, m: &Material, pki: &mut Pki) -> Result<(), Error> {
    for (r, bytes) in plan.responses.iter().zip(&m.responses) {
        let rel = format!("{}.resp", r.name);
        let node = &plan.nodes[r.cert];
        let facts = Facts {
            entity: Some(node.name.clone()),
            subject: Some(subject_of(plan, r.cert)),
            serial: Some(node.serial.hex().to_owned()),
            ..Default::default()
        };
        w.write(&rel, FileKind::OcspResponse, bytes, facts)?;
        pki.responses.insert(r.name.clone(), rel);
    }
    Ok(())
}

fn write_manifest(pki: &Pki) -> Result<(), Error> {
    let path = pki.dir.join("manifest.json");
    let json = serde_json::to_vec_pretty(&pki.manifest).map_err(|e| {
        Error::new(ErrorKind::Io { action: "serialize", path: path.clone(), cause: std::io::Error::other(e) })
    })?;
    write_file(&path, &json, 0o644)
}
