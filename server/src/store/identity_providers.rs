//! Each organisation's identity provider. Read by tenant scope for management, and by issuer for token verification
//! (a foreign token names only its issuer and audience; they lead to at most one organisation).

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::entities::identity_provider;
use super::{Db, Scope, StoreResult};
use crate::domain::identity_providers::{IdentityProvider, ParticipantAttribute};

fn from_row(m: identity_provider::Model) -> IdentityProvider {
    IdentityProvider {
        organisation_id: m.organisation_id,
        issuer: m.issuer,
        jwks_uri: m.jwks_uri,
        audience: m.audience,
        participant_attribute: if m.participant_attribute == "external_id" {
            ParticipantAttribute::ExternalId
        } else {
            ParticipantAttribute::Email
        },
        claim: m.claim_name,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn identity_provider(&self) -> StoreResult<Option<IdentityProvider>> {
        Ok(identity_provider::Entity::find_by_id(self.organisation_id)
            .one(self.conn)
            .await?
            .map(from_row))
    }

    pub async fn upsert_identity_provider(&self, idp: &IdentityProvider, exists: bool) -> StoreResult<()> {
        let row = identity_provider::ActiveModel {
            organisation_id: Set(self.organisation_id),
            issuer: Set(idp.issuer.clone()),
            jwks_uri: Set(idp.jwks_uri.clone()),
            audience: Set(idp.audience.clone()),
            participant_attribute: Set(idp.participant_attribute.as_str().to_string()),
            claim_name: Set(idp.claim.clone()),
            version: Set(idp.version),
            created_at: Set(idp.created_at),
            updated_at: Set(idp.updated_at),
        };
        if exists {
            identity_provider::Entity::update(row).exec(self.conn).await?;
        } else {
            identity_provider::Entity::insert(row)
                .exec_without_returning(self.conn)
                .await?;
        }
        Ok(())
    }

    pub async fn delete_identity_provider(&self) -> StoreResult<bool> {
        let result = identity_provider::Entity::delete_by_id(self.organisation_id)
            .exec(self.conn)
            .await?;
        Ok(result.rows_affected > 0)
    }
}

impl Db {
    pub async fn identity_providers_by_issuer(&self, issuer: &str) -> StoreResult<Vec<IdentityProvider>> {
        Ok(identity_provider::Entity::find()
            .filter(identity_provider::Column::Issuer.eq(issuer))
            .all(self.reader())
            .await?
            .into_iter()
            .map(from_row)
            .collect())
    }
}
