//! The server's signing keys: Ed25519, persisted in the database so tokens survive restarts and verify on every
//! instance sharing it; each carries a `kid`; rotated after a configured number of days, the old key verifying until
//! every token it signed has expired; published as a JWKS.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::store::keys::StoredKey;
use crate::store::{Db, StoreError, StoreResult};

pub struct SigningKey {
    pub kid: String,
    pub key: EncodingKey,
    pub sign_until: DateTime<Utc>,
}

struct Keys {
    signing: Option<Arc<SigningKey>>,
    verifying: HashMap<String, Arc<DecodingKey>>,
    jwks: Arc<Value>,
    loaded_at: Instant,
}

pub struct KeyRing {
    db: Db,
    rotation: chrono::Duration,
    /// How long after it stops signing a key must still verify: the longest token lifetime, plus a margin.
    verify_grace: chrono::Duration,
    keys: RwLock<Arc<Keys>>,
    refresh: tokio::sync::Mutex<()>,
}

impl KeyRing {
    pub async fn load(db: Db, rotation_days: u64, longest_token_ttl_seconds: u64) -> StoreResult<KeyRing> {
        let ring = KeyRing {
            db,
            rotation: chrono::Duration::days(rotation_days as i64),
            verify_grace: chrono::Duration::seconds(longest_token_ttl_seconds as i64 + 300),
            keys: RwLock::new(Arc::new(Keys {
                signing: None,
                verifying: HashMap::new(),
                jwks: Arc::new(json!({"keys": []})),
                loaded_at: Instant::now(),
            })),
            refresh: tokio::sync::Mutex::new(()),
        };
        ring.ensure_signing_key().await?;
        Ok(ring)
    }

    fn snapshot(&self) -> Arc<Keys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The key to sign with now, creating one when none may sign any longer.
    pub async fn signing_key(&self) -> StoreResult<Arc<SigningKey>> {
        if let Some(key) = &self.snapshot().signing
            && key.sign_until > Utc::now()
        {
            return Ok(key.clone());
        }
        self.ensure_signing_key().await?;
        self.snapshot()
            .signing
            .clone()
            .ok_or_else(|| StoreError::Corrupt("no signing key after rotation".into()))
    }

    /// The key a token's `kid` names. An unknown `kid` reloads from the database (another instance may have rotated),
    /// at most once a second so junk tokens cannot hammer it.
    pub async fn verifying_key(&self, kid: &str) -> StoreResult<Option<Arc<DecodingKey>>> {
        let keys = self.snapshot();
        if let Some(key) = keys.verifying.get(kid) {
            return Ok(Some(key.clone()));
        }
        if keys.loaded_at.elapsed() < Duration::from_secs(1) {
            return Ok(None);
        }
        self.reload().await?;
        Ok(self.snapshot().verifying.get(kid).cloned())
    }

    pub fn jwks(&self) -> Arc<Value> {
        self.snapshot().jwks.clone()
    }

    /// Ends signing with the current key at once and starts a new one (the old one keeps verifying).
    pub async fn rotate(&self) -> StoreResult<String> {
        let _guard = self.refresh.lock().await;
        self.db.retire_signing_keys(Utc::now()).await?;
        let kid = self.create_key().await?;
        self.reload_locked().await?;
        Ok(kid)
    }

    /// Creates a key if no stored key may sign now, then loads the key set. Safe on many instances at once: at worst
    /// two fresh keys appear, both valid.
    pub async fn ensure_signing_key(&self) -> StoreResult<()> {
        let _guard = self.refresh.lock().await;
        let now = Utc::now();
        let stored = self.db.live_signing_keys(now).await?;
        if !stored.iter().any(|k| k.sign_until > now) {
            self.create_key().await?;
        }
        self.db.prune_signing_keys(now).await?;
        self.reload_locked().await
    }

    async fn reload(&self) -> StoreResult<()> {
        let _guard = self.refresh.lock().await;
        self.reload_locked().await
    }

    async fn reload_locked(&self) -> StoreResult<()> {
        let now = Utc::now();
        let stored = self.db.live_signing_keys(now).await?;
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        let mut signing = None;
        for k in &stored {
            let public = URL_SAFE_NO_PAD
                .decode(&k.public_key)
                .map_err(|e| StoreError::Corrupt(format!("signing key {}: {e}", k.kid)))?;
            verifying.insert(k.kid.clone(), Arc::new(DecodingKey::from_ed_der(&public)));
            jwks.push(
                json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.kid, "x": k.public_key}),
            );
            // Newest first: the first key that may still sign is the one to sign with.
            if signing.is_none() && k.sign_until > now {
                let der = STANDARD
                    .decode(&k.private_key)
                    .map_err(|e| StoreError::Corrupt(format!("signing key {}: {e}", k.kid)))?;
                signing = Some(Arc::new(SigningKey {
                    kid: k.kid.clone(),
                    key: EncodingKey::from_ed_der(&der),
                    sign_until: k.sign_until,
                }));
            }
        }
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Keys {
            signing,
            verifying,
            jwks: Arc::new(json!({ "keys": jwks })),
            loaded_at: Instant::now(),
        });
        Ok(())
    }

    async fn create_key(&self) -> StoreResult<String> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| StoreError::Corrupt("key generation".into()))?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| StoreError::Corrupt("key parse".into()))?;
        let public = pair.public_key().as_ref();
        let kid: String = hex::encode(&Sha256::digest(public)[..12]);
        let now = crate::store::now();
        let sign_until = now + self.rotation;
        self.db
            .insert_signing_key(&StoredKey {
                kid: kid.clone(),
                algorithm: "EdDSA".into(),
                private_key: STANDARD.encode(pkcs8.as_ref()),
                public_key: URL_SAFE_NO_PAD.encode(public),
                created_at: now,
                sign_until,
                verify_until: sign_until + self.verify_grace,
            })
            .await?;
        tracing::info!(kid, "created a new token signing key");
        Ok(kid)
    }
}
