//! Keys of organisations' own identity providers: each JWKS is fetched, cached, and fetched again when a token names
//! a `kid` the cache does not know (the provider rotated), but not more often than a configured interval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// The most a JWKS document may weigh; real ones are a few KiB.
const JWKS_MAX_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct ProviderKey {
    pub key: Arc<DecodingKey>,
    /// The algorithms this key may verify: exactly its declared `alg`, or those of its key type.
    pub algorithms: Vec<Algorithm>,
}

struct CachedJwks {
    keys: HashMap<Option<String>, ProviderKey>,
    fetched_at: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the identity provider's JWKS could not be fetched: {0}")]
    Fetch(String),
    #[error("the identity provider's JWKS is not valid: {0}")]
    Invalid(String),
}

pub struct JwksCache {
    http: reqwest::Client,
    guard: crate::net::Guard,
    max_age: Duration,
    min_refresh: Duration,
    entries: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<CachedJwks>>>>>,
}

impl JwksCache {
    pub fn new(max_age: Duration, min_refresh: Duration, guard: crate::net::Guard) -> JwksCache {
        // Names resolve through the outbound guard, so a JWKS host that starts resolving inside is refused at the
        // connection; IP literals are checked before each fetch.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(guard.resolver())
            .user_agent(concat!("upward/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a TLS backend is compiled in");
        JwksCache {
            http,
            guard,
            max_age,
            min_refresh,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The key for `kid` from the JWKS at `uri`. A token without `kid` is accepted only when the set holds one key.
    pub async fn key(&self, uri: &str, kid: Option<&str>) -> Result<Option<ProviderKey>, JwksError> {
        let slot = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries.entry(uri.to_string()).or_default().clone()
        };
        // One fetch per provider at a time; other providers are not held up.
        let mut cached = slot.lock().await;
        let stale = cached.as_ref().is_none_or(|c| c.fetched_at.elapsed() >= self.max_age);
        if stale {
            *cached = Some(self.fetch(uri).await?);
        }
        let lookup = |c: &CachedJwks| -> Option<ProviderKey> {
            match kid {
                Some(kid) => c.keys.get(&Some(kid.to_string())).cloned(),
                None if c.keys.len() == 1 => c.keys.values().next().cloned(),
                None => None,
            }
        };
        let entry = cached.as_ref().expect("filled above");
        if let Some(key) = lookup(entry) {
            return Ok(Some(key));
        }
        if entry.fetched_at.elapsed() >= self.min_refresh {
            *cached = Some(self.fetch(uri).await?);
            return Ok(lookup(cached.as_ref().expect("filled above")));
        }
        Ok(None)
    }

    async fn fetch(&self, uri: &str) -> Result<CachedJwks, JwksError> {
        let url = self
            .guard
            .check_form(uri)
            .and_then(|url| self.guard.check_literal(&url).map(|()| url))
            .map_err(|e| JwksError::Fetch(format!("refused: {e}")))?;
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| JwksError::Fetch(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(JwksError::Fetch(format!("HTTP {}", response.status().as_u16())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| JwksError::Fetch(e.without_url().to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > JWKS_MAX_BYTES {
                return Err(JwksError::Invalid("larger than 256 KiB".into()));
            }
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| JwksError::Invalid(e.to_string()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let Some(algorithms) = algorithms_for(jwk) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
            keys.insert(
                jwk.common.key_id.clone(),
                ProviderKey {
                    key: Arc::new(key),
                    algorithms,
                },
            );
        }
        Ok(CachedJwks {
            keys,
            fetched_at: Instant::now(),
        })
    }
}

/// What a key may verify. Symmetric (`oct`) keys never appear: a published HMAC secret would let anyone mint tokens.
fn algorithms_for(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Vec<Algorithm>> {
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(declared) => {
            let declared = key_algorithm(declared)?;
            by_type.contains(&declared).then(|| vec![declared])
        }
    }
}

fn key_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}
