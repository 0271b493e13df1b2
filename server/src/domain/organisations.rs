//! Organisations (tenants) and their API credentials. The client secret is shown once, at creation, and stored only
//! as a SHA-256 hash: it is 256 random bits, so a slow password hash would add cost without adding safety.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{DomainError, DomainResult, Violations};
use crate::store::{self, Db};

#[derive(Clone, Debug)]
pub struct Organisation {
    pub id: Uuid,
    pub name: String,
    pub client_id: String,
    pub client_secret_hash: String,
    pub created_at: DateTime<Utc>,
}

/// What `upward org create` prints: the only time the secret is ever visible.
#[derive(Debug, Serialize)]
pub struct CreatedOrganisation {
    pub id: Uuid,
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    pub created_at: DateTime<Utc>,
}

pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random source failed");
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub async fn create(db: &Db, name: &str) -> DomainResult<CreatedOrganisation> {
    let name = name.trim();
    let mut v = Violations::default();
    if name.is_empty() || name.chars().count() > 200 {
        v.add("name", "invalid_length", "must be 1 to 200 characters");
    }
    v.into_result()?;
    let client_id = format!("upw_client_{}", random_token(12));
    let client_secret = format!("upw_secret_{}", random_token(32));
    let organisation = Organisation {
        id: store::new_id(),
        name: name.to_string(),
        client_id: client_id.clone(),
        client_secret_hash: hash_secret(&client_secret),
        created_at: store::now(),
    };
    db.insert_organisation(&organisation).await.map_err(DomainError::from)?;
    Ok(CreatedOrganisation {
        id: organisation.id,
        name: organisation.name,
        client_id,
        client_secret,
        created_at: organisation.created_at,
    })
}

/// The organisation whose credentials these are, if they are right.
pub async fn authenticate(db: &Db, client_id: &str, client_secret: &str) -> DomainResult<Option<Organisation>> {
    let Some(organisation) = db.organisation_by_client_id(client_id).await? else {
        return Ok(None);
    };
    // Comparing digests, not secrets: timing reveals at most a prefix of a hash, which helps no attacker.
    let matches = hash_secret(client_secret) == organisation.client_secret_hash;
    Ok(matches.then_some(organisation))
}
