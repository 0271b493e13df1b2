//! Secrets at rest: values an organisation gives us to use on its behalf (an HRIS API token) are sealed with
//! AES-256-GCM under the server's key before they reach the database, and opened only to hand them to a plugin's
//! sandbox. The key comes from the configuration (`UPWARD_SECRETS_KEY`, base64 of 32 bytes) or, on the embedded
//! default, from a key file created on first use beside the database (`UPWARD_SECRETS_KEY_FILE`).

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
        let mut nonce = [0u8; NONCE_LEN];
        // The system's randomness failing is not something to carry on from.
        self.random.fill(&mut nonce).expect("system randomness");
        let mut data = serde_json::to_vec(secrets).unwrap_or_default();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .expect("sealing cannot fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<BTreeMap<String, String>, SecretsError> {
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
        serde_json::from_slice(plain).map_err(|_| SecretsError::Unreadable)
    }
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
