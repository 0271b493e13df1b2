//! HRIS connections: which hris-connector release reads an organisation's directory, with its configuration and
//! schedule (the document) and its secrets, sealed with the server's key, in a column of their own (never in the
//! document, so nothing that shows or emits a connection can carry them).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000009_hris_connections"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum HrisConnections {
    Table,
    Id,
    OrganisationId,
    Secrets,
    Doc,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use HrisConnections as H;
        manager
            .create_table(
                Table::create()
                    .table(H::Table)
                    .col(ColumnDef::new(H::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(H::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(H::Secrets).text().null())
                    .col(ColumnDef::new(H::Doc).json().not_null())
                    .col(ColumnDef::new(H::Version).integer().not_null())
                    .col(ColumnDef::new(H::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(H::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("hris_connections_by_organisation")
                    .table(H::Table)
                    .col(H::OrganisationId)
                    .col(H::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(HrisConnections::Table).to_owned())
            .await
    }
}
