//! The plugin registry: each organisation's uploaded components (`plugins`, with the bytes apart in
//! `plugin_components` so lists never read them), the record of every invocation, and the organisation's plugin
//! limits.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000005_plugins"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Plugins {
    Table,
    Id,
    OrganisationId,
    Name,
    Release,
    Kind,
    State,
    Sha256,
    Doc,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PluginComponents {
    Table,
    PluginId,
    OrganisationId,
    Bytes,
}

#[derive(DeriveIden, Clone, Copy)]
enum PluginInvocations {
    Table,
    Id,
    OrganisationId,
    PluginId,
    Purpose,
    Outcome,
    Doc,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PluginLimits {
    Table,
    OrganisationId,
    Doc,
    Version,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Plugins as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(ColumnDef::new(P::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(P::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(P::Name).string().not_null())
                    .col(ColumnDef::new(P::Release).string().not_null())
                    .col(ColumnDef::new(P::Kind).string().not_null())
                    .col(ColumnDef::new(P::State).string().not_null())
                    .col(ColumnDef::new(P::Sha256).string().not_null())
                    .col(ColumnDef::new(P::Doc).json().not_null())
                    .col(ColumnDef::new(P::Version).integer().not_null())
                    .col(ColumnDef::new(P::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(P::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        // One release of a name per organisation: `name@version` is how programmes refer to a plugin.
        manager
            .create_index(
                Index::create()
                    .name("plugins_release")
                    .table(P::Table)
                    .col(P::OrganisationId)
                    .col(P::Name)
                    .col(P::Release)
                    .unique()
                    .to_owned(),
            )
            .await?;
        use PluginComponents as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(ColumnDef::new(C::PluginId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(C::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(C::Bytes).blob().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(C::Table, C::PluginId)
                            .to(P::Table, P::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        use PluginInvocations as I;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .col(ColumnDef::new(I::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(I::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(I::PluginId).uuid().not_null())
                    .col(ColumnDef::new(I::Purpose).string().not_null())
                    .col(ColumnDef::new(I::Outcome).string().not_null())
                    .col(ColumnDef::new(I::Doc).json().not_null())
                    .col(ColumnDef::new(I::CreatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(I::Table, I::PluginId)
                            .to(P::Table, P::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("plugin_invocations_plugin")
                    .table(I::Table)
                    .col(I::OrganisationId)
                    .col(I::PluginId)
                    .col(I::Id)
                    .to_owned(),
            )
            .await?;
        use PluginLimits as L;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .col(ColumnDef::new(L::OrganisationId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(L::Doc).json().not_null())
                    .col(ColumnDef::new(L::Version).integer().not_null())
                    .col(ColumnDef::new(L::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PluginLimits::Table.into_iden(),
            PluginInvocations::Table.into_iden(),
            PluginComponents::Table.into_iden(),
            Plugins::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
