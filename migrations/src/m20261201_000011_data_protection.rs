//! Data protection: the erasure marker and the sealed special-category attributes on participants; the suppression
//! list that stops an HRIS sync from recreating an erased person; server-wide sealed values (the key behind the
//! suppression digests); each organisation's retention policy; and the append-only, hash-chained audit trail with
//! one chain head per organisation (the row a writer locks to append).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000011_data_protection"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Participants {
    Table,
    ErasedAt,
    LeftAt,
    SensitiveAttributes,
}

#[derive(DeriveIden, Clone, Copy)]
enum ErasureSuppressions {
    Table,
    OrganisationId,
    Digest,
    Kind,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ServerSecrets {
    Table,
    Name,
    Sealed,
}

#[derive(DeriveIden, Clone, Copy)]
enum DataRetention {
    Table,
    OrganisationId,
    Doc,
    Version,
    UpdatedAt,
    AppliedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    Id,
    OrganisationId,
    Seq,
    At,
    Doc,
    ActorId,
    SubjectId,
    ResourceId,
    PrevHash,
    Hash,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditHeads {
    Table,
    OrganisationId,
    Seq,
    Hash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Participants as P;
        // SQLite adds one column per statement.
        for column in [
            ColumnDef::new(P::ErasedAt).timestamp_with_time_zone().null().to_owned(),
            ColumnDef::new(P::LeftAt).timestamp_with_time_zone().null().to_owned(),
            ColumnDef::new(P::SensitiveAttributes).text().null().to_owned(),
        ] {
            manager
                .alter_table(Table::alter().table(P::Table).add_column(column).to_owned())
                .await?;
        }
        use ErasureSuppressions as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(ColumnDef::new(E::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(E::Digest).string().not_null())
                    .col(ColumnDef::new(E::Kind).string().not_null())
                    .col(ColumnDef::new(E::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(E::OrganisationId).col(E::Digest))
                    .to_owned(),
            )
            .await?;
        use ServerSecrets as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(ColumnDef::new(S::Name).string().not_null().primary_key())
                    .col(ColumnDef::new(S::Sealed).text().not_null())
                    .to_owned(),
            )
            .await?;
        use DataRetention as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(ColumnDef::new(R::OrganisationId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(R::Doc).json().not_null())
                    .col(ColumnDef::new(R::Version).integer().not_null())
                    .col(ColumnDef::new(R::UpdatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(R::AppliedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        use AuditLog as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(ColumnDef::new(A::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(A::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(A::Seq).big_integer().not_null())
                    .col(ColumnDef::new(A::At).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(A::Doc).json().not_null())
                    .col(ColumnDef::new(A::ActorId).string().not_null())
                    .col(ColumnDef::new(A::SubjectId).uuid().null())
                    .col(ColumnDef::new(A::ResourceId).uuid().null())
                    .col(ColumnDef::new(A::PrevHash).string().not_null())
                    .col(ColumnDef::new(A::Hash).string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_log_chain")
                    .table(A::Table)
                    .col(A::OrganisationId)
                    .col(A::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        use AuditHeads as H;
        manager
            .create_table(
                Table::create()
                    .table(H::Table)
                    .col(ColumnDef::new(H::OrganisationId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(H::Seq).big_integer().not_null())
                    .col(ColumnDef::new(H::Hash).string().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditHeads::Table.into_iden(),
            AuditLog::Table.into_iden(),
            DataRetention::Table.into_iden(),
            ServerSecrets::Table.into_iden(),
            ErasureSuppressions::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        for column in [P::SensitiveAttributes, P::LeftAt, P::ErasedAt] {
            manager
                .alter_table(Table::alter().table(P::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

use Participants as P;
