//! Webhook delivery and attempt rows. Tenant-scoped reads and writes for the API and the fan-out, and the few
//! cross-tenant operations of the dispatcher ([`Db::claim_deliveries`] and friends), which acts for the organisation
//! each claimed row names and never mixes two organisations' data in one answer.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

use super::entities::{event, webhook_attempt, webhook_delivery, webhook_endpoint};
use super::{Backend, Db, Scope, StoreResult};
use crate::domain::webhook_deliveries::{Attempt, Delivery, DeliveryStatus};
use crate::domain::webhook_endpoints::{Secrets, WebhookEndpoint};
use crate::events::Event;

/// A delivery to create.
pub struct NewDelivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub next_attempt_at: DateTime<Utc>,
    pub one_shot: bool,
}

/// A delivery a dispatcher holds a lease on.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub attempt_count: i32,
    pub one_shot: bool,
    pub lease_id: Uuid,
}

/// An endpoint as the dispatcher needs it.
pub struct Target {
    pub organisation_id: Uuid,
    pub endpoint: WebhookEndpoint,
    pub secrets: Secrets,
    pub failing_since: Option<DateTime<Utc>>,
}

/// An attempt of a claimed delivery and the delivery's next state.
pub struct Outcome<'a> {
    pub claimed: &'a Claimed,
    pub attempt: AttemptRecord,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// What the dispatcher writes after an attempt.
pub struct AttemptRecord {
    pub attempted_at: DateTime<Utc>,
    pub response_status: Option<u16>,
    pub latency_ms: u32,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

fn delivery_from(m: webhook_delivery::Model) -> Delivery {
    Delivery {
        id: m.id,
        endpoint_id: m.endpoint_id,
        event_id: m.event_id,
        event_type: m.event_type,
        status: DeliveryStatus::parse(&m.status),
        attempt_count: m.attempt_count,
        next_attempt_at: m.next_attempt_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
        attempts: Vec::new(),
    }
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn insert_deliveries(&self, deliveries: &[NewDelivery]) -> StoreResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let now = super::now();
        // In statements of at most 1,000 rows: a bulk write (an HRIS sync) fans out to many endpoints at once, and
        // both databases cap the parameters of one statement.
        for chunk in deliveries.chunks(1000) {
            let rows = chunk.iter().map(|d| webhook_delivery::ActiveModel {
                id: Set(d.id),
                organisation_id: Set(self.organisation_id),
                endpoint_id: Set(d.endpoint_id),
                event_id: Set(d.event_id),
                event_type: Set(d.event_type.clone()),
                status: Set(DeliveryStatus::Pending.as_str().into()),
                attempt_count: Set(0),
                next_attempt_at: Set(Some(d.next_attempt_at)),
                leased_until: Set(None),
                lease_id: Set(None),
                one_shot: Set(d.one_shot),
                created_at: Set(now),
                updated_at: Set(now),
            });
            webhook_delivery::Entity::insert_many(rows)
                .exec_without_returning(self.conn)
                .await?;
        }
        Ok(())
    }

    /// One endpoint's deliveries, newest first, before the cursor `before`.
    pub async fn deliveries(
        &self,
        endpoint_id: Uuid,
        status: Option<DeliveryStatus>,
        event_type: Option<&str>,
        before: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<Delivery>> {
        let mut query = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::OrganisationId.eq(self.organisation_id))
            .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id));
        if let Some(status) = status {
            query = query.filter(webhook_delivery::Column::Status.eq(status.as_str()));
        }
        if let Some(t) = event_type {
            query = query.filter(webhook_delivery::Column::EventType.eq(t));
        }
        if let Some(before) = before {
            query = query.filter(webhook_delivery::Column::Id.lt(before));
        }
        let rows = query
            .order_by_desc(webhook_delivery::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?;
        let mut deliveries: Vec<Delivery> = rows.into_iter().map(delivery_from).collect();
        self.fill_attempts(&mut deliveries).await?;
        Ok(deliveries)
    }

    pub async fn delivery(&self, endpoint_id: Uuid, id: Uuid) -> StoreResult<Option<Delivery>> {
        let Some(row) = webhook_delivery::Entity::find_by_id(id)
            .filter(webhook_delivery::Column::OrganisationId.eq(self.organisation_id))
            .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
            .one(self.conn)
            .await?
        else {
            return Ok(None);
        };
        let mut deliveries = vec![delivery_from(row)];
        self.fill_attempts(&mut deliveries).await?;
        Ok(deliveries.pop())
    }

    async fn fill_attempts(&self, deliveries: &mut [Delivery]) -> StoreResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
        let attempts = webhook_attempt::Entity::find()
            .filter(webhook_attempt::Column::OrganisationId.eq(self.organisation_id))
            .filter(webhook_attempt::Column::DeliveryId.is_in(ids))
            .order_by_asc(webhook_attempt::Column::Id)
            .all(self.conn)
            .await?;
        for a in attempts {
            if let Some(d) = deliveries.iter_mut().find(|d| d.id == a.delivery_id) {
                d.attempts.push(Attempt {
                    id: a.id,
                    attempted_at: a.attempted_at,
                    response_status: a.response_status.map(|s| s as u16),
                    latency_ms: a.latency_ms.max(0) as u32,
                    response_body: a.response_body,
                    error: a.error,
                });
            }
        }
        Ok(())
    }

    /// Makes a delivery due now; `one_shot` when it had finished (a manual re-send gets one attempt).
    pub async fn redeliver(&self, id: Uuid, one_shot: bool) -> StoreResult<()> {
        let now = super::now();
        webhook_delivery::Entity::update_many()
            .col_expr(
                webhook_delivery::Column::Status,
                Expr::value(DeliveryStatus::Pending.as_str()),
            )
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
            .col_expr(webhook_delivery::Column::OneShot, Expr::value(one_shot))
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_delivery::Column::OrganisationId.eq(self.organisation_id))
            .filter(webhook_delivery::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    /// Events of a window, oldest first, after the cursor `after` (for replays).
    pub async fn events_between(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<Event>> {
        let mut query = event::Entity::find()
            .filter(event::Column::OrganisationId.eq(self.organisation_id))
            .filter(event::Column::OccurredAt.gte(since))
            .filter(event::Column::OccurredAt.lt(until));
        if let Some(after) = after {
            query = query.filter(event::Column::Id.gt(after));
        }
        Ok(query
            .order_by_asc(event::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(super::events::event_from)
            .collect())
    }

    /// Removes an endpoint's deliveries and their attempts (the endpoint is being deleted).
    pub async fn delete_deliveries_of(&self, endpoint_id: Uuid) -> StoreResult<()> {
        webhook_attempt::Entity::delete_many()
            .filter(webhook_attempt::Column::OrganisationId.eq(self.organisation_id))
            .filter(webhook_attempt::Column::EndpointId.eq(endpoint_id))
            .exec(self.conn)
            .await?;
        webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::OrganisationId.eq(self.organisation_id))
            .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    /// Records a batch's attempts and moves each delivery on — if the lease is still ours (a lease that expired and
    /// was claimed again belongs to the other dispatcher; the attempt is still logged). One insert for the attempts and
    /// one update per distinct next state (all the successes of a batch share one).
    pub async fn record_attempts(&self, outcomes: &[Outcome<'_>]) -> StoreResult<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let rows = outcomes.iter().map(|o| webhook_attempt::ActiveModel {
            id: Set(super::new_id()),
            delivery_id: Set(o.claimed.id),
            organisation_id: Set(self.organisation_id),
            endpoint_id: Set(o.claimed.endpoint_id),
            attempted_at: Set(o.attempt.attempted_at),
            response_status: Set(o.attempt.response_status.map(i32::from)),
            latency_ms: Set(o.attempt.latency_ms.min(i32::MAX as u32) as i32),
            response_body: Set(o.attempt.response_body.clone()),
            error: Set(o.attempt.error.clone()),
        });
        webhook_attempt::Entity::insert_many(rows)
            .exec_without_returning(self.conn)
            .await?;
        let now = super::now();
        // (next state, when due, lease) → the deliveries that move to it.
        type Group = (DeliveryStatus, Option<DateTime<Utc>>, Uuid, Vec<Uuid>);
        let mut groups: Vec<Group> = Vec::new();
        for o in outcomes {
            match groups
                .iter_mut()
                .find(|g| g.0 == o.status && g.1 == o.next_attempt_at && g.2 == o.claimed.lease_id)
            {
                Some(group) => group.3.push(o.claimed.id),
                None => groups.push((o.status, o.next_attempt_at, o.claimed.lease_id, vec![o.claimed.id])),
            }
        }
        for (status, next_attempt_at, lease_id, ids) in groups {
            webhook_delivery::Entity::update_many()
                .col_expr(webhook_delivery::Column::Status, Expr::value(status.as_str()))
                .col_expr(
                    webhook_delivery::Column::AttemptCount,
                    Expr::col(webhook_delivery::Column::AttemptCount).add(1),
                )
                .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(next_attempt_at))
                .col_expr(
                    webhook_delivery::Column::LeasedUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(webhook_delivery::Column::LeaseId, Expr::value(Option::<Uuid>::None))
                .col_expr(webhook_delivery::Column::OneShot, Expr::value(false))
                .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
                .filter(webhook_delivery::Column::OrganisationId.eq(self.organisation_id))
                .filter(webhook_delivery::Column::Id.is_in(ids))
                .filter(webhook_delivery::Column::LeaseId.eq(lease_id))
                .exec(self.conn)
                .await?;
        }
        Ok(())
    }

    /// Marks the endpoint failing since `at` (if it was not already), or healthy again.
    pub async fn set_endpoint_failing(&self, endpoint_id: Uuid, at: Option<DateTime<Utc>>) -> StoreResult<()> {
        let mut update = webhook_endpoint::Entity::update_many()
            .col_expr(webhook_endpoint::Column::FailingSince, Expr::value(at))
            .filter(webhook_endpoint::Column::OrganisationId.eq(self.organisation_id))
            .filter(webhook_endpoint::Column::Id.eq(endpoint_id));
        update = match at {
            Some(_) => update.filter(webhook_endpoint::Column::FailingSince.is_null()),
            None => update.filter(webhook_endpoint::Column::FailingSince.is_not_null()),
        };
        update.exec(self.conn).await?;
        Ok(())
    }
}

impl Db {
    /// Endpoints with due, unleased deliveries: the dispatcher runs one worker for each.
    pub async fn endpoints_with_due_deliveries(&self, limit: u64) -> StoreResult<Vec<Uuid>> {
        let now = super::now();
        Ok(webhook_delivery::Entity::find()
            .select_only()
            .column(webhook_delivery::Column::EndpointId)
            .distinct()
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
            .filter(
                Condition::any()
                    .add(webhook_delivery::Column::LeasedUntil.is_null())
                    .add(webhook_delivery::Column::LeasedUntil.lt(now)),
            )
            .limit(limit)
            .into_tuple()
            .all(&self.read)
            .await?)
    }

    /// How many deliveries are due (now or overdue) across every organisation, and since when the oldest is due.
    pub async fn webhook_backlog(&self, now: DateTime<Utc>) -> StoreResult<(u64, Option<DateTime<Utc>>)> {
        use sea_orm::sea_query::Func;
        let row: Option<(i64, Option<DateTime<Utc>>)> = webhook_delivery::Entity::find()
            .select_only()
            .expr(Func::count(Expr::col(webhook_delivery::Column::Id)))
            .expr(Func::min(Expr::col(webhook_delivery::Column::NextAttemptAt)))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
            .into_tuple()
            .one(&self.read)
            .await?;
        Ok(row.map_or((0, None), |(n, oldest)| (n.max(0) as u64, oldest)))
    }

    /// Leases up to `limit` of one endpoint's due deliveries until `lease_until`, oldest due first. On PostgreSQL
    /// concurrent dispatchers skip each other's rows (`FOR UPDATE SKIP LOCKED`); SQLite serialises the claim as a
    /// write transaction. A lease that runs out (its dispatcher died) makes the delivery claimable again.
    pub async fn claim_deliveries(
        &self,
        endpoint_id: Uuid,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<Vec<Claimed>> {
        let now = super::now();
        let lease_id = super::new_id();
        let txn = self.write.begin().await?;
        let mut query = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
            .filter(
                Condition::any()
                    .add(webhook_delivery::Column::LeasedUntil.is_null())
                    .add(webhook_delivery::Column::LeasedUntil.lt(now)),
            )
            .order_by_asc(webhook_delivery::Column::NextAttemptAt)
            .limit(limit);
        if self.backend == Backend::Postgres {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = query.all(&txn).await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(Vec::new());
        }
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::LeasedUntil, Expr::value(lease_until))
            .col_expr(webhook_delivery::Column::LeaseId, Expr::value(lease_id))
            .filter(webhook_delivery::Column::Id.is_in(rows.iter().map(|r| r.id)))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| Claimed {
                id: r.id,
                organisation_id: r.organisation_id,
                endpoint_id: r.endpoint_id,
                event_id: r.event_id,
                attempt_count: r.attempt_count,
                one_shot: r.one_shot,
                lease_id,
            })
            .collect())
    }

    /// An endpoint as its dispatcher worker needs it: with its secrets and health.
    pub async fn delivery_target(&self, id: Uuid) -> StoreResult<Option<Target>> {
        let Some(m) = webhook_endpoint::Entity::find_by_id(id).one(&self.read).await? else {
            return Ok(None);
        };
        let organisation_id = m.organisation_id;
        let failing_since = m.failing_since;
        let (endpoint, secrets) = super::webhook_endpoints::from_row(m)?;
        Ok(Some(Target {
            organisation_id,
            endpoint,
            secrets,
            failing_since,
        }))
    }

    /// The events of claimed deliveries (event rows never change, so the reader is good enough).
    pub async fn delivery_events(&self, ids: &[Uuid]) -> StoreResult<Vec<Event>> {
        Ok(event::Entity::find()
            .filter(event::Column::Id.is_in(ids.iter().copied()))
            .all(&self.read)
            .await?
            .into_iter()
            .map(super::events::event_from)
            .collect())
    }

    /// Deletes finished deliveries (and their attempts) last touched before `before`.
    pub async fn prune_webhook_deliveries(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let txn = self.write.begin().await?;
        let old: Vec<Uuid> = webhook_delivery::Entity::find()
            .select_only()
            .column(webhook_delivery::Column::Id)
            .filter(webhook_delivery::Column::UpdatedAt.lt(before))
            .filter(webhook_delivery::Column::Status.ne(DeliveryStatus::Pending.as_str()))
            .limit(10_000)
            .into_tuple()
            .all(&txn)
            .await?;
        if old.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        webhook_attempt::Entity::delete_many()
            .filter(webhook_attempt::Column::DeliveryId.is_in(old.iter().copied()))
            .exec(&txn)
            .await?;
        let deleted = webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::Id.is_in(old))
            .exec(&txn)
            .await?
            .rows_affected;
        txn.commit().await?;
        Ok(deleted)
    }
}
