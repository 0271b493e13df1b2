//! The foundation schema: organisations and their credentials, the server's signing keys, each organisation's
//! identity provider, participants, the event log (the outbox webhooks read) and idempotency records.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_foundation"
    }
}

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
    Name,
    ClientId,
    ClientSecretHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Algorithm,
    PrivateKey,
    PublicKey,
    CreatedAt,
    SignUntil,
    VerifyUntil,
}

#[derive(DeriveIden)]
enum IdentityProviders {
    Table,
    OrganisationId,
    Issuer,
    JwksUri,
    Audience,
    ParticipantAttribute,
    ClaimName,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Participants {
    Table,
    Id,
    OrganisationId,
    ExternalId,
    Email,
    DisplayName,
    Department,
    JobTitle,
    Level,
    ManagerId,
    Location,
    Timezone,
    Languages,
    Attributes,
    Active,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    OrganisationId,
    Type,
    OccurredAt,
    Data,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    OrganisationId,
    Key,
    RequestHash,
    ResponseStatus,
    ResponseBody,
    ResponseHeaders,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organisations::Table)
                    .col(ColumnDef::new(Organisations::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Organisations::Name).string().not_null())
                    .col(ColumnDef::new(Organisations::ClientId).string().not_null().unique_key())
                    .col(ColumnDef::new(Organisations::ClientSecretHash).string().not_null())
                    .col(
                        ColumnDef::new(Organisations::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Organisations::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(ColumnDef::new(SigningKeys::Kid).string().not_null().primary_key())
                    .col(ColumnDef::new(SigningKeys::Algorithm).string().not_null())
                    .col(ColumnDef::new(SigningKeys::PrivateKey).string().not_null())
                    .col(ColumnDef::new(SigningKeys::PublicKey).string().not_null())
                    .col(
                        ColumnDef::new(SigningKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SigningKeys::SignUntil)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SigningKeys::VerifyUntil)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdentityProviders::Table)
                    .col(
                        ColumnDef::new(IdentityProviders::OrganisationId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(IdentityProviders::Issuer).string().not_null())
                    .col(ColumnDef::new(IdentityProviders::JwksUri).string().not_null())
                    .col(ColumnDef::new(IdentityProviders::Audience).string().not_null())
                    .col(
                        ColumnDef::new(IdentityProviders::ParticipantAttribute)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(IdentityProviders::ClaimName).string().not_null())
                    .col(ColumnDef::new(IdentityProviders::Version).integer().not_null())
                    .col(
                        ColumnDef::new(IdentityProviders::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdentityProviders::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(IdentityProviders::Table, IdentityProviders::OrganisationId)
                            .to(Organisations::Table, Organisations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A token names its issuer and audience; together they must lead to exactly one organisation.
        manager
            .create_index(
                Index::create()
                    .name("identity_providers_issuer_audience")
                    .table(IdentityProviders::Table)
                    .col(IdentityProviders::Issuer)
                    .col(IdentityProviders::Audience)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Participants::Table)
                    .col(ColumnDef::new(Participants::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Participants::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(Participants::ExternalId).string().null())
                    .col(ColumnDef::new(Participants::Email).string().not_null())
                    .col(ColumnDef::new(Participants::DisplayName).string().not_null())
                    .col(ColumnDef::new(Participants::Department).string().null())
                    .col(ColumnDef::new(Participants::JobTitle).string().null())
                    .col(ColumnDef::new(Participants::Level).integer().not_null())
                    .col(ColumnDef::new(Participants::ManagerId).uuid().null())
                    .col(ColumnDef::new(Participants::Location).string().null())
                    .col(ColumnDef::new(Participants::Timezone).string().null())
                    .col(ColumnDef::new(Participants::Languages).json().not_null())
                    .col(ColumnDef::new(Participants::Attributes).json().not_null())
                    .col(ColumnDef::new(Participants::Active).boolean().not_null())
                    .col(ColumnDef::new(Participants::Version).integer().not_null())
                    .col(
                        ColumnDef::new(Participants::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Participants::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Participants::Table, Participants::OrganisationId)
                            .to(Organisations::Table, Organisations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Participants::Table, Participants::ManagerId)
                            .to(Participants::Table, Participants::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "participants_org_email",
                vec![Participants::OrganisationId, Participants::Email],
            ),
            (
                "participants_org_external_id",
                vec![Participants::OrganisationId, Participants::ExternalId],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Participants::Table).unique();
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("participants_org_id")
                    .table(Participants::Table)
                    .col(Participants::OrganisationId)
                    .col(Participants::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("participants_manager")
                    .table(Participants::Table)
                    .col(Participants::ManagerId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(ColumnDef::new(Events::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Events::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(Events::Type).string().not_null())
                    .col(ColumnDef::new(Events::OccurredAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Events::Data).json().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Events::Table, Events::OrganisationId)
                            .to(Organisations::Table, Organisations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("events_org_id")
                    .table(Events::Table)
                    .col(Events::OrganisationId)
                    .col(Events::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(ColumnDef::new(IdempotencyKeys::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(IdempotencyKeys::Key).string().not_null())
                    .col(ColumnDef::new(IdempotencyKeys::RequestHash).string().not_null())
                    .col(
                        ColumnDef::new(IdempotencyKeys::ResponseStatus)
                            .small_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(IdempotencyKeys::ResponseBody).text().not_null())
                    .col(ColumnDef::new(IdempotencyKeys::ResponseHeaders).json().not_null())
                    .col(
                        ColumnDef::new(IdempotencyKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::OrganisationId)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(IdempotencyKeys::Table, IdempotencyKeys::OrganisationId)
                            .to(Organisations::Table, Organisations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idempotency_keys_created_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Events::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Participants::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(IdentityProviders::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Organisations::Table).to_owned())
            .await?;
        Ok(())
    }
}
