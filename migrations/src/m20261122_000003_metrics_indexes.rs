//! Covering indexes for programme health: the metrics group sessions by outcome and count pairs by state and risk;
//! with these the database answers from the index alone instead of reading every row's document.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000003_metrics_indexes"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    ProgrammeId,
    State,
    CancelledBy,
    Late,
}

#[derive(DeriveIden, Clone, Copy)]
enum Pairs {
    Table,
    ProgrammeId,
    State,
    SessionsHeld,
    LateCancellations,
    MenteeCancelStreak,
    LastActivityAt,
    NextSessionAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The new indexes start with the same columns, so these add write cost and nothing else.
        manager
            .drop_index(
                Index::drop()
                    .name("sessions_programme_state")
                    .table(Sessions::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("pairs_programme_state")
                    .table(Pairs::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_programme_outcome")
                    .table(Sessions::Table)
                    .col(Sessions::ProgrammeId)
                    .col(Sessions::State)
                    .col(Sessions::CancelledBy)
                    .col(Sessions::Late)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("pairs_programme_commitment")
                    .table(Pairs::Table)
                    .col(Pairs::ProgrammeId)
                    .col(Pairs::State)
                    .col(Pairs::SessionsHeld)
                    .col(Pairs::LateCancellations)
                    .col(Pairs::MenteeCancelStreak)
                    .col(Pairs::LastActivityAt)
                    .col(Pairs::NextSessionAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("pairs_programme_commitment")
                    .table(Pairs::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("sessions_programme_outcome")
                    .table(Sessions::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_programme_state")
                    .table(Sessions::Table)
                    .col(Sessions::ProgrammeId)
                    .col(Sessions::State)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("pairs_programme_state")
                    .table(Pairs::Table)
                    .col(Pairs::ProgrammeId)
                    .col(Pairs::State)
                    .to_owned(),
            )
            .await
    }
}
