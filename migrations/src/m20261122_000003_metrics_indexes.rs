//! Covering indexes for programme health. The metrics count sessions by outcome, pairs by state and risk, survey
//! requests by state and answers by value, always within one organisation and programme; with the tenant and the
//! programme leading each index and every filtered or grouped column in it, the database counts from the index alone
//! instead of reading each row (and its document). They replace the narrower indexes they extend.

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
    OrganisationId,
    ProgrammeId,
    State,
    CancelledBy,
    Late,
}

#[derive(DeriveIden, Clone, Copy)]
enum Pairs {
    Table,
    OrganisationId,
    ProgrammeId,
    State,
    SessionsHeld,
    LateCancellations,
    MenteeCancelStreak,
    LastActivityAt,
    NextSessionAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SurveyRequests {
    Table,
    OrganisationId,
    ProgrammeId,
    State,
}

#[derive(DeriveIden, Clone, Copy)]
enum SurveyAnswers {
    Table,
    OrganisationId,
    ProgrammeId,
    Kind,
    SurveyId,
    QuestionId,
    Value,
}

async fn replace<T: IntoIden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    old: &str,
    new: &str,
    cols: &[T],
) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(old).table(table).to_owned())
        .await?;
    let mut index = Index::create();
    index.name(new).table(table);
    for col in cols {
        index.col(*col);
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Pairs as P;
        use Sessions as S;
        use SurveyAnswers as A;
        use SurveyRequests as R;
        replace(
            manager,
            S::Table,
            "sessions_programme_state",
            "sessions_programme_outcome",
            &[S::OrganisationId, S::ProgrammeId, S::State, S::CancelledBy, S::Late],
        )
        .await?;
        replace(
            manager,
            P::Table,
            "pairs_programme_state",
            "pairs_programme_commitment",
            &[
                P::OrganisationId,
                P::ProgrammeId,
                P::State,
                P::SessionsHeld,
                P::LateCancellations,
                P::MenteeCancelStreak,
                P::LastActivityAt,
                P::NextSessionAt,
            ],
        )
        .await?;
        replace(
            manager,
            R::Table,
            "survey_requests_programme_state",
            "survey_requests_programme_outcome",
            &[R::OrganisationId, R::ProgrammeId, R::State],
        )
        .await?;
        replace(
            manager,
            A::Table,
            "survey_answers_programme_kind",
            "survey_answers_programme_values",
            &[
                A::OrganisationId,
                A::ProgrammeId,
                A::Kind,
                A::SurveyId,
                A::QuestionId,
                A::Value,
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Pairs as P;
        use Sessions as S;
        use SurveyAnswers as A;
        use SurveyRequests as R;
        replace(
            manager,
            S::Table,
            "sessions_programme_outcome",
            "sessions_programme_state",
            &[S::ProgrammeId, S::State],
        )
        .await?;
        replace(
            manager,
            P::Table,
            "pairs_programme_commitment",
            "pairs_programme_state",
            &[P::ProgrammeId, P::State],
        )
        .await?;
        replace(
            manager,
            R::Table,
            "survey_requests_programme_outcome",
            "survey_requests_programme_state",
            &[R::ProgrammeId, R::State],
        )
        .await?;
        replace(
            manager,
            A::Table,
            "survey_answers_programme_values",
            "survey_answers_programme_kind",
            &[A::ProgrammeId, A::Kind],
        )
        .await
    }
}
