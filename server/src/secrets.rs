//! Secrets at rest: values an organisation gives us to use on its behalf (an HRIS API token) are sealed with
//! AES-256-GCM under the server's key before they reach the database, and opened only to hand them to a plugin's
//! sandbox. The key comes from the configuration (`UPWARD_SECRETS_KEY`, base64 of 32 bytes) or, on the embedded
//! default, from a key file created on first use beside the database (`UPWARD_SECRETS_KEY_FILE`).
//!
//! The same key seals personal data at rest — note bodies, learning texts, sensitive attributes, signing keys — as
//! `{"$sealed": "v1:…"}` objects inside documents ([`seal_fields`]) or as `v1:…` strings in text columns, so that
//! `upward secrets rotate` can find and re-seal every one of them without knowing each table's shape.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The sealed form's prefix: the format's version, so a later key rotation can tell old from new.
const PREFIX: &str = "v1:";

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the secrets key must be base64 of 32 bytes")]
    BadKey,
    #[error("the secrets key file {path}: {message}")]
    KeyFile { path: String, message: String },
    #[error("sealed secrets could not be opened (wrong key, or corrupt)")]
    Unreadable,
}

/// Seals and opens secret maps under one key.
pub struct SecretBox {
    key: LessSafeKey,
    random: SystemRandom,
}

impl SecretBox {
    pub fn new(key: &[u8]) -> Result<SecretBox, SecretsError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| SecretsError::BadKey)?;
        Ok(SecretBox {
            key: LessSafeKey::new(unbound),
            random: SystemRandom::new(),
        })
    }

    /// The key from configuration: `key` (base64) if given, else the key file (created with a fresh random key,
    /// readable by its owner only, when missing).
    pub fn from_config(key: Option<&str>, key_file: &str) -> Result<SecretBox, SecretsError> {
        if let Some(key) = key {
            let bytes = STANDARD.decode(key.trim()).map_err(|_| SecretsError::BadKey)?;
            return SecretBox::new(&bytes);
        }
        let failed = |message: String| SecretsError::KeyFile {
            path: key_file.to_string(),
            message,
        };
        let bytes = match std::fs::read_to_string(key_file) {
            Ok(text) => STANDARD.decode(text.trim()).map_err(|_| SecretsError::BadKey)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut fresh = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut fresh)
                    .map_err(|_| failed("no randomness".into()))?;
                write_private(key_file, &STANDARD.encode(fresh)).map_err(|e| failed(e.to_string()))?;
                fresh.to_vec()
            }
            Err(e) => return Err(failed(e.to_string())),
        };
        SecretBox::new(&bytes)
    }

    pub fn seal(&self, secrets: &BTreeMap<String, String>) -> String {
        self.seal_bytes(serde_json::to_vec(secrets).unwrap_or_default())
    }

    pub fn open(&self, sealed: &str) -> Result<BTreeMap<String, String>, SecretsError> {
        serde_json::from_slice(&self.open_bytes(sealed)?).map_err(|_| SecretsError::Unreadable)
    }

    /// Seals any JSON value (a note body, a learning's texts) into the sealed string form.
    pub fn seal_value(&self, value: &serde_json::Value) -> String {
        self.seal_bytes(serde_json::to_vec(value).unwrap_or_default())
    }

    pub fn open_value(&self, sealed: &str) -> Result<serde_json::Value, SecretsError> {
        serde_json::from_slice(&self.open_bytes(sealed)?).map_err(|_| SecretsError::Unreadable)
    }

    /// Seals a text column's value (a signing key's private key).
    pub fn seal_text(&self, text: &str) -> String {
        self.seal_bytes(text.as_bytes().to_vec())
    }

    /// Opens a sealed text column; a value written before sealing existed (no `v1:` prefix) reads as it is, until
    /// `upward secrets rotate` seals it.
    pub fn open_text(&self, stored: &str) -> Result<String, SecretsError> {
        if !is_sealed(stored) {
            return Ok(stored.to_string());
        }
        String::from_utf8(self.open_bytes(stored)?).map_err(|_| SecretsError::Unreadable)
    }

    /// Opens under this key and seals under `to`: one value's share of a key rotation.
    pub fn reseal(&self, stored: &str, to: &SecretBox) -> Result<String, SecretsError> {
        if !is_sealed(stored) {
            return Ok(to.seal_bytes(stored.as_bytes().to_vec()));
        }
        Ok(to.seal_bytes(self.open_bytes(stored)?))
    }

    fn seal_bytes(&self, mut data: Vec<u8>) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        // The system's randomness failing is not something to carry on from.
        self.random.fill(&mut nonce).expect("system randomness");
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .expect("sealing cannot fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    fn open_bytes(&self, sealed: &str) -> Result<Vec<u8>, SecretsError> {
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .ok_or(SecretsError::Unreadable)?;
        if raw.len() < NONCE_LEN {
            return Err(SecretsError::Unreadable);
        }
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretsError::Unreadable)?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut data)
            .map_err(|_| SecretsError::Unreadable)?;
        Ok(plain.to_vec())
    }

    /// A fresh random 32-byte key, base64 (what `upward secrets rotate` writes for the next key).
    pub fn fresh_key() -> String {
        let mut fresh = [0u8; 32];
        SystemRandom::new().fill(&mut fresh).expect("system randomness");
        STANDARD.encode(fresh)
    }
}

/// Whether a stored string is in the sealed form.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The member under which a document keeps its sealed fields.
pub const SEALED_MEMBER: &str = "$sealed";

/// Moves `fields` of a JSON object into one sealed member (`{"$sealed": "v1:…"}`): what a document looks like on
/// disk. Fields that are absent stay absent.
pub fn seal_fields(sealer: &SecretBox, doc: &mut serde_json::Value, fields: &[&str]) {
    let Some(object) = doc.as_object_mut() else { return };
    let mut hidden = serde_json::Map::new();
    for field in fields {
        if let Some(value) = object.remove(*field) {
            hidden.insert(field.to_string(), value);
        }
    }
    if !hidden.is_empty() {
        object.insert(
            SEALED_MEMBER.into(),
            serde_json::Value::String(sealer.seal_value(&serde_json::Value::Object(hidden))),
        );
    }
}

/// The reverse of [`seal_fields`]: the document as the domain knows it.
pub fn open_fields(sealer: &SecretBox, doc: &mut serde_json::Value) -> Result<(), SecretsError> {
    let Some(object) = doc.as_object_mut() else {
        return Ok(());
    };
    let Some(sealed) = object.remove(SEALED_MEMBER) else {
        return Ok(());
    };
    let sealed = sealed.as_str().ok_or(SecretsError::Unreadable)?;
    if let serde_json::Value::Object(fields) = sealer.open_value(sealed)? {
        object.extend(fields);
    }
    Ok(())
}

/// Re-seals a document's sealed member under `to` (a key rotation); whether there was one.
pub fn reseal_fields(from: &SecretBox, to: &SecretBox, doc: &mut serde_json::Value) -> Result<bool, SecretsError> {
    let Some(sealed) = doc.get_mut(SEALED_MEMBER) else {
        return Ok(false);
    };
    let text = sealed.as_str().ok_or(SecretsError::Unreadable)?;
    *sealed = serde_json::Value::String(from.reseal(text, to)?);
    Ok(true)
}

/// Keyed hashes (HMAC-SHA-256) of identifiers that must be recognised without being kept: the erasure suppression
/// list. Its key is a random server secret stored sealed (so a secrets-key rotation does not change the digests).
pub struct Digester {
    key: ring::hmac::Key,
}

impl Digester {
    pub fn new(key: &[u8]) -> Digester {
        Digester {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
        }
    }

    /// The hex digest of `value` as a `kind` (so an email and an external id that happen to be equal differ).
    pub fn digest(&self, kind: &str, value: &str) -> String {
        let mut context = ring::hmac::Context::with_key(&self.key);
        context.update(kind.as_bytes());
        context.update(&[0]);
        context.update(value.as_bytes());
        hex::encode(context.sign().as_ref())
    }

    /// The digest of an email, normalised as the directory stores it (trimmed, lower-case).
    pub fn email(&self, email: &str) -> String {
        self.digest("email", &email.trim().to_lowercase())
    }

    /// The digest of an HRIS external id (trimmed).
    pub fn external_id(&self, external_id: &str) -> String {
        self.digest("external_id", external_id.trim())
    }
}

static INSTALLED: std::sync::RwLock<Option<std::sync::Arc<SecretBox>>> = std::sync::RwLock::new(None);

/// Makes `sealer` the process's key for personal data at rest. The store seals and opens documents far from any
/// request state, so the key it uses is the one process-wide value the server installs at start (one deployment,
/// one key; every test in a process shares the test key).
pub fn install(sealer: std::sync::Arc<SecretBox>) {
    *INSTALLED.write().unwrap_or_else(|e| e.into_inner()) = Some(sealer);
}

/// The installed key; `Unreadable` when none was installed (a programming error surfaced as a store error).
pub fn installed() -> Result<std::sync::Arc<SecretBox>, SecretsError> {
    INSTALLED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or(SecretsError::Unreadable)
}

fn write_private(path: &str, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_the_key_only() {
        let one = SecretBox::new(&[7u8; 32]).unwrap();
        let other = SecretBox::new(&[8u8; 32]).unwrap();
        let secrets = BTreeMap::from([("token".to_string(), "s3cr3t-value".to_string())]);
        let sealed = one.seal(&secrets);
        assert!(sealed.starts_with("v1:") && !sealed.contains("s3cr3t"));
        assert_ne!(sealed, one.seal(&secrets), "a fresh nonce each time");
        assert_eq!(one.open(&sealed).unwrap(), secrets);
        assert!(other.open(&sealed).is_err());
        assert!(one.open("v1:AAAA").is_err());
        assert!(SecretBox::new(&[1u8; 16]).is_err());
    }

    #[test]
    fn a_missing_key_file_is_created_once_and_reused() {
        let path = std::env::temp_dir().join(format!("upward-secrets-{}.key", std::process::id()));
        let path = path.to_str().unwrap();
        let _ = std::fs::remove_file(path);
        let first = SecretBox::from_config(None, path).unwrap();
        let sealed = first.seal(&BTreeMap::from([("a".to_string(), "b".to_string())]));
        let again = SecretBox::from_config(None, path).unwrap();
        assert_eq!(again.open(&sealed).unwrap()["a"], "b");
        let _ = std::fs::remove_file(path);
    }
}
