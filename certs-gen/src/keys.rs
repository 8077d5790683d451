//! Key types, key generation with a two-level cache, and the on-disk key encodings.
//!
//! RSA key generation costs tens to hundreds of milliseconds per key, which would dominate
//! every scenario run, so keys are cached per (key type, entity name): in memory for the life
//! of the process and, when asked, in a directory that survives runs. Certificates are still
//! signed afresh on every run, so validity windows always follow the run's clock.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Rsa;
use openssl::symm::Cipher;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// The kinds of key an entity can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcP256,
    EcP384,
    Ed25519,
    /// An RSASSA-PSS key (2048 bit, `EVP_PKEY_RSA_PSS`): it can only make PSS signatures.
    RsaPss,
}

impl KeyType {
    const ALL: [KeyType; 7] = [
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::EcP256,
        KeyType::EcP384,
        KeyType::Ed25519,
        KeyType::RsaPss,
    ];

    /// The spelling used in specs, e.g. `ec-p256`.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
            KeyType::EcP256 => "ec-p256",
            KeyType::EcP384 => "ec-p384",
            KeyType::Ed25519 => "ed25519",
            KeyType::RsaPss => "rsa-pss",
        }
    }

    /// All spellings, for messages.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|t| t.name()).collect()
    }

    /// Parses a spelling such as `rsa-2048`.
    pub fn from_name(s: &str) -> Option<KeyType> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Whether the traditional PKCS#1 `RSAPrivateKey` encodings apply (plain RSA only: a
    /// PKCS#1 file cannot say that an RSA-PSS key is restricted to PSS).
    pub fn has_pkcs1(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    /// Whether signatures take a separate hash (Ed25519 signs the message itself).
    pub fn takes_hash(self) -> bool {
        self != KeyType::Ed25519
    }

    fn generate(self) -> Result<PKey<Private>, ErrorStack> {
        match self {
            KeyType::Rsa2048 => PKey::from_rsa(Rsa::generate(2048)?),
            KeyType::Rsa3072 => PKey::from_rsa(Rsa::generate(3072)?),
            KeyType::Rsa4096 => PKey::from_rsa(Rsa::generate(4096)?),
            KeyType::EcP256 => ec_key(Nid::X9_62_PRIME256V1),
            KeyType::EcP384 => ec_key(Nid::SECP384R1),
            KeyType::Ed25519 => PKey::generate_ed25519(),
            KeyType::RsaPss => {
                let mut ctx = PkeyCtx::new_id(Id::RSA_PSS)?;
                ctx.keygen_init()?;
                ctx.set_rsa_keygen_bits(2048)?;
                ctx.keygen()
            }
        }
    }

    /// Whether a key loaded from the disk cache really is of this type.
    fn matches(self, key: &PKey<Private>) -> bool {
        let (id, bits) = match self {
            KeyType::Rsa2048 => (Id::RSA, 2048),
            KeyType::Rsa3072 => (Id::RSA, 3072),
            KeyType::Rsa4096 => (Id::RSA, 4096),
            KeyType::EcP256 => (Id::EC, 256),
            KeyType::EcP384 => (Id::EC, 384),
            KeyType::Ed25519 => (Id::ED25519, 256),
            KeyType::RsaPss => (Id::RSA_PSS, 2048),
        };
        key.id() == id && key.bits() == bits
    }
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn ec_key(curve: Nid) -> Result<PKey<Private>, ErrorStack> {
    let group = EcGroup::from_curve_name(curve)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

/// How a key file is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyFormat {
    /// `BEGIN PRIVATE KEY` (or `BEGIN ENCRYPTED PRIVATE KEY` with a passphrase).
    #[default]
    Pkcs8Pem,
    /// PKCS#8 DER, encrypted when a passphrase is given.
    Pkcs8Der,
    /// `BEGIN RSA PRIVATE KEY`, unencrypted; plain RSA keys only.
    Pkcs1Pem,
    /// PKCS#1 `RSAPrivateKey` DER, unencrypted; plain RSA keys only.
    Pkcs1Der,
}

impl KeyFormat {
    /// The spelling used in specs.
    pub fn name(self) -> &'static str {
        match self {
            KeyFormat::Pkcs8Pem => "pkcs8-pem",
            KeyFormat::Pkcs8Der => "pkcs8-der",
            KeyFormat::Pkcs1Pem => "pkcs1-pem",
            KeyFormat::Pkcs1Der => "pkcs1-der",
        }
    }

    /// Whether this is a PKCS#1 (traditional RSA) encoding.
    pub fn is_pkcs1(self) -> bool {
        matches!(self, KeyFormat::Pkcs1Pem | KeyFormat::Pkcs1Der)
    }
}

/// Encodes a private key. PKCS#8 passphrases use PBES2 with AES-256-CBC, like `pkey -aes256`.
///
/// OpenSSL 3.0 writes PKCS#8 v1 (no embedded public key), which is what OpenSSL 3.0 itself and
/// therefore PostgreSQL/libpq built on it can read back; v2 Ed25519 keys are rejected there.
///
/// PBKDF2 makes an encrypted encoding cost 1–2 ms, a third of a whole cached run, so encrypted
/// bytes are reused within the process for the same key, format and passphrase (a fresh salt
/// per run buys a test fixture nothing). The cache is keyed by the public key itself, so a
/// regenerated key can never be paired with stale ciphertext.
pub(crate) fn encode(key: &PKey<Private>, format: KeyFormat, passphrase: Option<&str>) -> Result<Vec<u8>, ErrorStack> {
    let Some(pass) = passphrase else {
        return encode_uncached(key, format, None);
    };
    let id = (openssl::sha::sha256(&key.public_key_to_der()?), format, pass.to_owned());
    if let Some(bytes) = lock(encrypted_cache()).get(&id) {
        return Ok(bytes.clone());
    }
    let bytes = encode_uncached(key, format, Some(pass))?;
    lock(encrypted_cache()).insert(id, bytes.clone());
    Ok(bytes)
}

fn encode_uncached(key: &PKey<Private>, format: KeyFormat, passphrase: Option<&str>) -> Result<Vec<u8>, ErrorStack> {
    let aes = Cipher::aes_256_cbc();
    match (format, passphrase) {
        (KeyFormat::Pkcs8Pem, None) => key.private_key_to_pem_pkcs8(),
        (KeyFormat::Pkcs8Pem, Some(p)) => key.private_key_to_pem_pkcs8_passphrase(aes, p.as_bytes()),
        (KeyFormat::Pkcs8Der, None) => key.private_key_to_pkcs8(),
        (KeyFormat::Pkcs8Der, Some(p)) => key.private_key_to_pkcs8_passphrase(aes, p.as_bytes()),
        // `plan` rejects passphrases and non-RSA keys for PKCS#1 before we get here.
        (KeyFormat::Pkcs1Pem, _) => key.rsa()?.private_key_to_pem(),
        (KeyFormat::Pkcs1Der, _) => key.rsa()?.private_key_to_der(),
    }
}

type EncryptedCache = Mutex<HashMap<([u8; 32], KeyFormat, String), Vec<u8>>>;

fn encrypted_cache() -> &'static EncryptedCache {
    static CACHE: OnceLock<EncryptedCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// One slot per cache id. Threads that miss on the same id queue on the slot's own lock, so a
/// key is generated once even when parallel tests ask for it at the same moment, while
/// different keys are still generated in parallel.
type Slot = Arc<Mutex<Option<PKey<Private>>>>;
type MemoryCache = Mutex<HashMap<String, Slot>>;

fn memory_cache() -> &'static MemoryCache {
    static CACHE: OnceLock<MemoryCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Forgets all keys cached in this process (benchmarks use it to measure cold generation).
#[doc(hidden)]
pub fn clear_memory_key_cache() {
    lock(memory_cache()).clear();
    lock(encrypted_cache()).clear();
}

/// A poisoned lock only means another thread panicked while holding it; the data is still a
/// valid map or slot, so carry on rather than propagate the panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cache id: hex SHA-256 of `<key type>\0<entity name>`.
fn cache_id(key_type: KeyType, owner: &str) -> String {
    let mut input = Vec::with_capacity(key_type.name().len() + 1 + owner.len());
    input.extend_from_slice(key_type.name().as_bytes());
    input.push(0);
    input.extend_from_slice(owner.as_bytes());
    hex::encode(openssl::sha::sha256(&input))
}

/// The key of `owner` if this process already has it.
pub(crate) fn in_memory(key_type: KeyType, owner: &str) -> Option<PKey<Private>> {
    let slot = lock(memory_cache()).get(&cache_id(key_type, owner))?.clone();
    // `try_lock`: a slot being filled right now counts as a miss (the caller then waits in
    // `obtain`), rather than blocking this fast path.
    slot.try_lock().ok()?.clone()
}

/// Returns the key of `owner`, from memory, from `disk`, or freshly generated.
pub(crate) fn obtain(key_type: KeyType, owner: &str, disk: Option<&Path>) -> Result<PKey<Private>, Error> {
    let id = cache_id(key_type, owner);
    let slot: Slot = lock(memory_cache()).entry(id.clone()).or_default().clone();
    let mut slot = lock(&slot);
    if let Some(key) = slot.as_ref() {
        return Ok(key.clone());
    }
    let key = match disk {
        Some(dir) => obtain_from_disk(key_type, &id, dir)?,
        None => generate(key_type)?,
    };
    *slot = Some(key.clone());
    Ok(key)
}

fn generate(key_type: KeyType) -> Result<PKey<Private>, Error> {
    key_type.generate().map_err(|e| ErrorKind::crypto(format!("generate a {key_type} key"), e).into())
}

fn obtain_from_disk(key_type: KeyType, id: &str, dir: &Path) -> Result<PKey<Private>, Error> {
    let path = dir.join(format!("{id}.pem"));
    // An unreadable, truncated or mismatched cache file is regenerated, never trusted.
    if let Ok(pem) = fs::read(&path)
        && let Ok(key) = PKey::private_key_from_pem(&pem)
        && key_type.matches(&key)
    {
        return Ok(key);
    }
    let key = generate(key_type)?;
    let pem = key.private_key_to_pem_pkcs8().map_err(|e| ErrorKind::crypto("encode a cached key", e))?;
    write_atomically(dir, &path, &pem).map_err(|source| ErrorKind::Io {
        action: "write key cache file",
        path: path.clone(),
        cause: source,
    })?;
    Ok(key)
}

/// Temp file + rename, so that concurrent runs never read a half-written key.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dir)?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp: PathBuf = dir.join(format!(".tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(bytes)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
