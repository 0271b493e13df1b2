//! Timed notices: which time-based lifecycle events (`session.upcoming`, `programme.ending_soon`, `pair.at_risk`) were
//! emitted for which subject and occasion. The unique key makes each one happen once, however many instances look.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000007_timed_notices"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum TimedNotices {
    Table,
    Id,
    OrganisationId,
    Kind,
    SubjectId,
    Occasion,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TimedNotices as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(ColumnDef::new(T::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(T::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(T::Kind).string().not_null())
                    .col(ColumnDef::new(T::SubjectId).uuid().not_null())
                    .col(ColumnDef::new(T::Occasion).string().not_null())
                    .col(ColumnDef::new(T::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("timed_notices_once")
                    .table(T::Table)
                    .col(T::Kind)
                    .col(T::SubjectId)
                    .col(T::Occasion)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TimedNotices::Table).to_owned())
            .await
    }
}
