//! Webhooks. Endpoints: where an organisation wants its events delivered; the endpoint is a document, its signing
//! secrets live in their own columns, so the document (what the API shows and events carry) never holds them, and
//! `failing_since` tracks its health. Deliveries: one row per (event, endpoint), written in the event's own
//! transaction (the outbox), claimed by dispatchers with a lease. Attempts: each try, with what the receiver said.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000006_webhooks"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookEndpoints {
    Table,
    Id,
    OrganisationId,
    Doc,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    FailingSince,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookDeliveries {
    Table,
    Id,
    OrganisationId,
    EndpointId,
    EventId,
    EventType,
    Status,
    AttemptCount,
    NextAttemptAt,
    LeasedUntil,
    LeaseId,
    OneShot,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookAttempts {
    Table,
    Id,
    DeliveryId,
    OrganisationId,
    EndpointId,
    AttemptedAt,
    ResponseStatus,
    LatencyMs,
    ResponseBody,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use WebhookEndpoints as W;
        manager
            .create_table(
                Table::create()
                    .table(W::Table)
                    .col(ColumnDef::new(W::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(W::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(W::Doc).json().not_null())
                    .col(ColumnDef::new(W::Secret).string().not_null())
                    .col(ColumnDef::new(W::PreviousSecret).string().null())
                    .col(
                        ColumnDef::new(W::PreviousSecretExpiresAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(W::FailingSince).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(W::Version).integer().not_null())
                    .col(ColumnDef::new(W::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(W::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_endpoints_by_organisation")
                    .table(W::Table)
                    .col(W::OrganisationId)
                    .col(W::Id)
                    .to_owned(),
            )
            .await?;
        use WebhookDeliveries as D;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .col(ColumnDef::new(D::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(D::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(D::EndpointId).uuid().not_null())
                    .col(ColumnDef::new(D::EventId).uuid().not_null())
                    .col(ColumnDef::new(D::EventType).string().not_null())
                    .col(ColumnDef::new(D::Status).string().not_null())
                    .col(ColumnDef::new(D::AttemptCount).integer().not_null())
                    .col(ColumnDef::new(D::NextAttemptAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(D::LeasedUntil).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(D::LeaseId).uuid().null())
                    .col(ColumnDef::new(D::OneShot).boolean().not_null())
                    .col(ColumnDef::new(D::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(D::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        // Dispatchers claim due pending deliveries in `next_attempt_at` order.
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_due")
                    .table(D::Table)
                    .col(D::Status)
                    .col(D::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // An endpoint's dispatcher claims its own due deliveries.
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_due_by_endpoint")
                    .table(D::Table)
                    .col(D::EndpointId)
                    .col(D::Status)
                    .col(D::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // The delivery log of one endpoint, newest first.
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_by_endpoint")
                    .table(D::Table)
                    .col(D::EndpointId)
                    .col(D::Id)
                    .to_owned(),
            )
            .await?;
        // Pruning finished deliveries past the retention.
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_by_age")
                    .table(D::Table)
                    .col(D::UpdatedAt)
                    .to_owned(),
            )
            .await?;
        use WebhookAttempts as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(ColumnDef::new(A::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(A::DeliveryId).uuid().not_null())
                    .col(ColumnDef::new(A::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(A::EndpointId).uuid().not_null())
                    .col(ColumnDef::new(A::AttemptedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(A::ResponseStatus).integer().null())
                    .col(ColumnDef::new(A::LatencyMs).integer().not_null())
                    .col(ColumnDef::new(A::ResponseBody).text().null())
                    .col(ColumnDef::new(A::Error).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_attempts_by_delivery")
                    .table(A::Table)
                    .col(A::DeliveryId)
                    .col(A::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookAttempts::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookEndpoints::Table).to_owned())
            .await
    }
}
