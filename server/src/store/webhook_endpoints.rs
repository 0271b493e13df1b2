//! Webhook endpoint rows: the endpoint as a document, its signing secrets in their own columns (never in the
//! document, so nothing that shows or emits an endpoint can carry them), scoped to one organisation.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::documents::{decode, encode, find_by_id, guarded_update};
use super::entities::webhook_endpoint;
use super::{Scope, StoreResult};
use crate::domain::webhook_endpoints::{Secrets, WebhookEndpoint};

fn row(organisation_id: Uuid, e: &WebhookEndpoint, secrets: &Secrets) -> StoreResult<webhook_endpoint::ActiveModel> {
    Ok(webhook_endpoint::ActiveModel {
        id: Set(e.id),
        organisation_id: Set(organisation_id),
        doc: Set(encode(e)?),
        secret: Set(secrets.current.clone()),
        previous_secret: Set(secrets.previous.as_ref().map(|(s, _)| s.clone())),
        previous_secret_expires_at: Set(secrets.previous.as_ref().map(|(_, until)| *until)),
        // Health belongs to the dispatcher; writes of the endpoint itself leave it alone.
        failing_since: sea_orm::ActiveValue::NotSet,
        version: Set(e.version),
        created_at: Set(e.created_at),
        updated_at: Set(e.updated_at),
    })
}

pub(super) fn from_row(m: webhook_endpoint::Model) -> StoreResult<(WebhookEndpoint, Secrets)> {
    let secrets = Secrets {
        current: m.secret,
        previous: m.previous_secret.zip(m.previous_secret_expires_at),
    };
    Ok((decode("webhook endpoint", m.id, m.doc, m.version)?, secrets))
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn webhook_endpoint(&self, id: Uuid) -> StoreResult<Option<WebhookEndpoint>> {
        Ok(find_by_id!(webhook_endpoint, self, id, false)
            .map(from_row)
            .transpose()?
            .map(|(e, _)| e))
    }

    /// The endpoint with its secrets, locked until the transaction ends.
    pub async fn lock_webhook_endpoint(&self, id: Uuid) -> StoreResult<Option<(WebhookEndpoint, Secrets)>> {
        find_by_id!(webhook_endpoint, self, id, true).map(from_row).transpose()
    }

    pub async fn insert_webhook_endpoint(&self, e: &WebhookEndpoint, secrets: &Secrets) -> StoreResult<()> {
        webhook_endpoint::Entity::insert(row(self.organisation_id, e, secrets)?)
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    /// Writes the endpoint and its secrets if its version is still `expected_version`.
    pub async fn update_webhook_endpoint(
        &self,
        e: &WebhookEndpoint,
        secrets: &Secrets,
        expected_version: i32,
    ) -> StoreResult<bool> {
        Ok(guarded_update!(
            webhook_endpoint,
            self,
            row(self.organisation_id, e, secrets)?,
            e.id,
            expected_version
        ))
    }

    pub async fn webhook_endpoints(&self, after: Option<Uuid>, limit: u64) -> StoreResult<Vec<WebhookEndpoint>> {
        let mut query =
            webhook_endpoint::Entity::find().filter(webhook_endpoint::Column::OrganisationId.eq(self.organisation_id));
        if let Some(after) = after {
            query = query.filter(webhook_endpoint::Column::Id.gt(after));
        }
        query
            .order_by_asc(webhook_endpoint::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(|m| from_row(m).map(|(e, _)| e))
            .collect()
    }

    pub async fn delete_webhook_endpoint(&self, id: Uuid) -> StoreResult<()> {
        webhook_endpoint::Entity::delete_many()
            .filter(webhook_endpoint::Column::OrganisationId.eq(self.organisation_id))
            .filter(webhook_endpoint::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(())
    }
}

/// The secrets that sign at `now`: the current one, and the previous one until its rotation grace period ends.
pub fn signing_secrets(secrets: &Secrets, now: DateTime<Utc>) -> Vec<&str> {
    let mut active = vec![secrets.current.as_str()];
    if let Some((previous, until)) = &secrets.previous
        && *until > now
    {
        active.push(previous.as_str());
    }
    active
}
