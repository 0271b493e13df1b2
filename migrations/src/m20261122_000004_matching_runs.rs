//! Matching runs: one row per run of the matching engine over a programme, its result kept whole in `doc`.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000004_matching_runs"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum MatchingRuns {
    Table,
    Id,
    OrganisationId,
    ProgrammeId,
    State,
    Doc,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Programmes {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use MatchingRuns as M;
        manager
            .create_table(
                Table::create()
                    .table(M::Table)
                    .col(ColumnDef::new(M::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(M::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(M::ProgrammeId).uuid().not_null())
                    .col(ColumnDef::new(M::State).string().not_null())
                    .col(ColumnDef::new(M::Doc).json().not_null())
                    .col(ColumnDef::new(M::Version).integer().not_null())
                    .col(ColumnDef::new(M::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(M::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(M::Table, M::ProgrammeId)
                            .to(Programmes::Table, Programmes::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("matching_runs_programme")
                    .table(M::Table)
                    .col(M::OrganisationId)
                    .col(M::ProgrammeId)
                    .col(M::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MatchingRuns::Table).to_owned())
            .await
    }
}
