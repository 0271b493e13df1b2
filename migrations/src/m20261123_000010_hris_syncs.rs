//! HRIS syncs: one row per run of a connection (its state, lease and report as a document), and the changes a run
//! found — one row each, so a 20,000-person diff pages like any list instead of swelling the report. A scheduled run
//! carries the slot it was started for, unique per connection, so many instances start it once.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000010_hris_syncs"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum HrisSyncs {
    Table,
    Id,
    OrganisationId,
    ConnectionId,
    State,
    ScheduledFor,
    LeaseUntil,
    Doc,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum HrisSyncChanges {
    Table,
    SyncId,
    Seq,
    OrganisationId,
    Kind,
    Doc,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use HrisSyncChanges as C;
        use HrisSyncs as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(ColumnDef::new(S::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(S::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(S::ConnectionId).uuid().not_null())
                    .col(ColumnDef::new(S::State).string().not_null())
                    .col(ColumnDef::new(S::ScheduledFor).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(S::LeaseUntil).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(S::Doc).json().not_null())
                    .col(ColumnDef::new(S::Version).integer().not_null())
                    .col(ColumnDef::new(S::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(S::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("hris_syncs_by_connection")
                    .table(S::Table)
                    .col(S::OrganisationId)
                    .col(S::ConnectionId)
                    .col(S::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("hris_syncs_by_state")
                    .table(S::Table)
                    .col(S::State)
                    .col(S::LeaseUntil)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("hris_syncs_one_per_slot")
                    .table(S::Table)
                    .col(S::ConnectionId)
                    .col(S::ScheduledFor)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(ColumnDef::new(C::SyncId).uuid().not_null())
                    .col(ColumnDef::new(C::Seq).integer().not_null())
                    .col(ColumnDef::new(C::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(C::Kind).string().not_null())
                    .col(ColumnDef::new(C::Doc).json().not_null())
                    .primary_key(Index::create().col(C::SyncId).col(C::Seq))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(HrisSyncChanges::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(HrisSyncs::Table).to_owned())
            .await
    }
}
