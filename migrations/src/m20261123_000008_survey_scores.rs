//! Survey scores computed by a programme's survey-scorer plugin: one row per survey, marked stale when a response
//! arrives or the scorer changes (the generation counts the markings), then computed off the request path. A failed
//! computation keeps its error; the responses are stored apart and never depend on it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000008_survey_scores"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum SurveyScores {
    Table,
    SurveyId,
    OrganisationId,
    ProgrammeId,
    State,
    Generation,
    Scorer,
    Scores,
    Responses,
    Error,
    ComputedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use SurveyScores as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(ColumnDef::new(S::SurveyId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(S::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(S::ProgrammeId).uuid().not_null())
                    .col(ColumnDef::new(S::State).string().not_null())
                    .col(ColumnDef::new(S::Generation).integer().not_null())
                    .col(ColumnDef::new(S::Scorer).string().null())
                    .col(ColumnDef::new(S::Scores).json().null())
                    .col(ColumnDef::new(S::Responses).big_integer().not_null())
                    .col(ColumnDef::new(S::Error).text().null())
                    .col(ColumnDef::new(S::ComputedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(S::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("survey_scores_due")
                    .table(S::Table)
                    .col(S::State)
                    .col(S::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SurveyScores::Table).to_owned())
            .await
    }
}
