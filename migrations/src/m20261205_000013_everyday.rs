//! Everyday needs: a column beside the programme's document saying whether it is a template to clone from (so
//! `GET /v1/programmes?template=true` is one filter); calendar feeds — one secret per participant, stored as its
//! SHA-256, found by that hash (the feed's address carries no organisation); and participant imports (the report
//! as a document; the diff goes to `hris_sync_changes` like a sync's).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000013_everyday"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Programmes {
    Table,
    Template,
}

#[derive(DeriveIden, Clone, Copy)]
enum ParticipantImports {
    Table,
    Id,
    OrganisationId,
    State,
    Doc,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CalendarFeeds {
    Table,
    ParticipantId,
    OrganisationId,
    SecretHash,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Programmes::Table)
                    .add_column(ColumnDef::new(Programmes::Template).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CalendarFeeds::Table)
                    .col(
                        ColumnDef::new(CalendarFeeds::ParticipantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CalendarFeeds::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(CalendarFeeds::SecretHash).string().not_null())
                    .col(
                        ColumnDef::new(CalendarFeeds::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("calendar_feeds_secret")
                    .table(CalendarFeeds::Table)
                    .col(CalendarFeeds::SecretHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ParticipantImports::Table)
                    .col(ColumnDef::new(ParticipantImports::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(ParticipantImports::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(ParticipantImports::State).string().not_null())
                    .col(ColumnDef::new(ParticipantImports::Doc).json().not_null())
                    .col(ColumnDef::new(ParticipantImports::Version).integer().not_null())
                    .col(
                        ColumnDef::new(ParticipantImports::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ParticipantImports::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("participant_imports_by_organisation")
                    .table(ParticipantImports::Table)
                    .col(ParticipantImports::OrganisationId)
                    .col(ParticipantImports::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ParticipantImports::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CalendarFeeds::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Programmes::Table)
                    .drop_column(Programmes::Template)
                    .to_owned(),
            )
            .await
    }
}
