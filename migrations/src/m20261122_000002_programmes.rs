//! The programme lifecycle schema: programmes and their managers, enrolments, pairs, sessions, notes, learnings,
//! surveys, survey requests and answers. Each row keeps its full document in `doc` (JSON) next to the columns that
//! queries filter, sort, lock or aggregate on; the columns are written from the same value as the document, in the
//! same statement, so they cannot disagree.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000002_programmes"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Organisations {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Programmes {
    Table,
    Id,
    OrganisationId,
    State,
    Name,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProgrammeManagers {
    Table,
    OrganisationId,
    ProgrammeId,
    ParticipantId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Enrolments {
    Table,
    Id,
    OrganisationId,
    ProgrammeId,
    ParticipantId,
    Role,
    State,
    Capacity,
}

#[derive(DeriveIden, Clone, Copy)]
enum Pairs {
    Table,
    Id,
    OrganisationId,
    ProgrammeId,
    MentorId,
    MenteeId,
    State,
    SessionsHeld,
    LateCancellations,
    MenteeCancelStreak,
    LastActivityAt,
    NextSessionAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
    OrganisationId,
    ProgrammeId,
    PairId,
    State,
    StartsAt,
    CancelledBy,
    Late,
}

#[derive(DeriveIden, Clone, Copy)]
enum Notes {
    Table,
    Id,
    OrganisationId,
    PairId,
    AuthorId,
    Shared,
}

#[derive(DeriveIden, Clone, Copy)]
enum Learnings {
    Table,
    Id,
    OrganisationId,
    ProgrammeId,
    PairId,
    AuthorId,
    PublishedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Surveys {
    Table,
    Id,
    OrganisationId,
    ProgrammeId,
    Milestone,
    Active,
}

#[derive(DeriveIden, Clone, Copy)]
enum SurveyRequests {
    Table,
    Id,
    OrganisationId,
    ProgrammeId,
    SurveyId,
    ParticipantId,
    PairId,
    Trigger,
    State,
    AnsweredAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SurveyAnswers {
    Table,
    Id,
    OrganisationId,
    ProgrammeId,
    SurveyId,
    RequestId,
    QuestionId,
    Kind,
    Value,
    Choice,
    Answer,
}

#[derive(DeriveIden, Clone, Copy)]
enum Common {
    Doc,
    Version,
    CreatedAt,
    UpdatedAt,
}

/// The columns every document table shares: id, organisation, document, version, timestamps.
fn document_table<T: IntoIden + Copy + 'static>(table: T, id: T, organisation_id: T) -> TableCreateStatement {
    Table::create()
        .table(table)
        .col(ColumnDef::new(id).uuid().not_null().primary_key())
        .col(ColumnDef::new(organisation_id).uuid().not_null())
        .col(ColumnDef::new(Common::Doc).json().not_null())
        .col(ColumnDef::new(Common::Version).integer().not_null())
        .col(ColumnDef::new(Common::CreatedAt).timestamp_with_time_zone().not_null())
        .col(ColumnDef::new(Common::UpdatedAt).timestamp_with_time_zone().not_null())
        .foreign_key(
            ForeignKey::create()
                .from(table, organisation_id)
                .to(Organisations::Table, Organisations::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

async fn index<T: IntoIden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: &[T],
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(*col);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Programmes as P;
        manager
            .create_table(
                document_table(P::Table, P::Id, P::OrganisationId)
                    .col(ColumnDef::new(P::State).string().not_null())
                    .col(ColumnDef::new(P::Name).string().not_null())
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "programmes_org_id",
            P::Table,
            &[P::OrganisationId, P::Id],
            false,
        )
        .await?;

        use ProgrammeManagers as PM;
        manager
            .create_table(
                Table::create()
                    .table(PM::Table)
                    .col(ColumnDef::new(PM::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(PM::ProgrammeId).uuid().not_null())
                    .col(ColumnDef::new(PM::ParticipantId).uuid().not_null())
                    .primary_key(Index::create().col(PM::ProgrammeId).col(PM::ParticipantId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PM::Table, PM::ProgrammeId)
                            .to(P::Table, P::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "programme_managers_participant",
            PM::Table,
            &[PM::ParticipantId],
            false,
        )
        .await?;

        use Enrolments as E;
        manager
            .create_table(
                document_table(E::Table, E::Id, E::OrganisationId)
                    .col(ColumnDef::new(E::ProgrammeId).uuid().not_null())
                    .col(ColumnDef::new(E::ParticipantId).uuid().not_null())
                    .col(ColumnDef::new(E::Role).string().not_null())
                    .col(ColumnDef::new(E::State).string().not_null())
                    .col(ColumnDef::new(E::Capacity).integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(E::Table, E::ProgrammeId)
                            .to(P::Table, P::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One enrolment per participant per programme.
        index(
            manager,
            "enrolments_programme_participant",
            E::Table,
            &[E::ProgrammeId, E::ParticipantId],
            true,
        )
        .await?;
        index(manager, "enrolments_participant", E::Table, &[E::ParticipantId], false).await?;

        use Pairs as Pr;
        manager
            .create_table(
                document_table(Pr::Table, Pr::Id, Pr::OrganisationId)
                    .col(ColumnDef::new(Pr::ProgrammeId).uuid().not_null())
                    .col(ColumnDef::new(Pr::MentorId).uuid().not_null())
                    .col(ColumnDef::new(Pr::MenteeId).uuid().not_null())
                    .col(ColumnDef::new(Pr::State).string().not_null())
                    .col(ColumnDef::new(Pr::SessionsHeld).integer().not_null())
                    .col(ColumnDef::new(Pr::LateCancellations).integer().not_null())
                    .col(ColumnDef::new(Pr::MenteeCancelStreak).integer().not_null())
                    .col(ColumnDef::new(Pr::LastActivityAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Pr::NextSessionAt).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Pr::Table, Pr::ProgrammeId)
                            .to(P::Table, P::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "pairs_programme_id",
            Pr::Table,
            &[Pr::ProgrammeId, Pr::Id],
            false,
        )
        .await?;
        index(
            manager,
            "pairs_programme_state",
            Pr::Table,
            &[Pr::ProgrammeId, Pr::State],
            false,
        )
        .await?;
        index(manager, "pairs_mentor", Pr::Table, &[Pr::MentorId], false).await?;
        index(manager, "pairs_mentee", Pr::Table, &[Pr::MenteeId], false).await?;

        use Sessions as S;
        manager
            .create_table(
                document_table(S::Table, S::Id, S::OrganisationId)
                    .col(ColumnDef::new(S::ProgrammeId).uuid().not_null())
                    .col(ColumnDef::new(S::PairId).uuid().not_null())
                    .col(ColumnDef::new(S::State).string().not_null())
                    .col(ColumnDef::new(S::StartsAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(S::CancelledBy).string().null())
                    .col(ColumnDef::new(S::Late).boolean().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(S::Table, S::PairId)
                            .to(Pr::Table, Pr::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "sessions_pair_starts_at",
            S::Table,
            &[S::PairId, S::StartsAt],
            false,
        )
        .await?;
        index(
            manager,
            "sessions_programme_state",
            S::Table,
            &[S::ProgrammeId, S::State],
            false,
        )
        .await?;

        use Notes as N;
        manager
            .create_table(
                document_table(N::Table, N::Id, N::OrganisationId)
                    .col(ColumnDef::new(N::PairId).uuid().not_null())
                    .col(ColumnDef::new(N::AuthorId).uuid().not_null())
                    .col(ColumnDef::new(N::Shared).boolean().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(N::Table, N::PairId)
                            .to(Pr::Table, Pr::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, "notes_pair_id", N::Table, &[N::PairId, N::Id], false).await?;

        use Learnings as L;
        manager
            .create_table(
                document_table(L::Table, L::Id, L::OrganisationId)
                    .col(ColumnDef::new(L::ProgrammeId).uuid().not_null())
                    .col(ColumnDef::new(L::PairId).uuid().not_null())
                    .col(ColumnDef::new(L::AuthorId).uuid().not_null())
                    .col(ColumnDef::new(L::PublishedAt).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(L::Table, L::PairId)
                            .to(Pr::Table, Pr::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, "learnings_pair_id", L::Table, &[L::PairId, L::Id], false).await?;
        index(
            manager,
            "learnings_programme_published",
            L::Table,
            &[L::ProgrammeId, L::PublishedAt],
            false,
        )
        .await?;

        use Surveys as Sv;
        manager
            .create_table(
                document_table(Sv::Table, Sv::Id, Sv::OrganisationId)
                    .col(ColumnDef::new(Sv::ProgrammeId).uuid().not_null())
                    .col(ColumnDef::new(Sv::Milestone).string().not_null())
                    .col(ColumnDef::new(Sv::Active).boolean().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sv::Table, Sv::ProgrammeId)
                            .to(P::Table, P::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "surveys_programme",
            Sv::Table,
            &[Sv::ProgrammeId, Sv::Milestone],
            false,
        )
        .await?;

        use SurveyRequests as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(ColumnDef::new(R::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(R::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(R::ProgrammeId).uuid().not_null())
                    .col(ColumnDef::new(R::SurveyId).uuid().not_null())
                    .col(ColumnDef::new(R::ParticipantId).uuid().not_null())
                    .col(ColumnDef::new(R::PairId).uuid().not_null())
                    .col(ColumnDef::new(R::Trigger).string().not_null())
                    .col(ColumnDef::new(R::State).string().not_null())
                    .col(ColumnDef::new(R::AnsweredAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(R::CreatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(R::Table, R::SurveyId)
                            .to(Sv::Table, Sv::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A milestone asks each participant once: the same trigger never makes a second request.
        index(
            manager,
            "survey_requests_once",
            R::Table,
            &[R::SurveyId, R::ParticipantId, R::Trigger],
            true,
        )
        .await?;
        index(
            manager,
            "survey_requests_participant",
            R::Table,
            &[R::ParticipantId, R::Id],
            false,
        )
        .await?;
        index(
            manager,
            "survey_requests_programme_state",
            R::Table,
            &[R::ProgrammeId, R::State],
            false,
        )
        .await?;

        use SurveyAnswers as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(ColumnDef::new(A::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(A::OrganisationId).uuid().not_null())
                    .col(ColumnDef::new(A::ProgrammeId).uuid().not_null())
                    .col(ColumnDef::new(A::SurveyId).uuid().not_null())
                    .col(ColumnDef::new(A::RequestId).uuid().not_null())
                    .col(ColumnDef::new(A::QuestionId).string().not_null())
                    .col(ColumnDef::new(A::Kind).string().not_null())
                    .col(ColumnDef::new(A::Value).integer().null())
                    .col(ColumnDef::new(A::Choice).string().null())
                    .col(ColumnDef::new(A::Answer).text().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(A::Table, A::RequestId)
                            .to(R::Table, R::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One answer per question per request.
        index(
            manager,
            "survey_answers_request_question",
            A::Table,
            &[A::RequestId, A::QuestionId],
            true,
        )
        .await?;
        index(
            manager,
            "survey_answers_programme_kind",
            A::Table,
            &[A::ProgrammeId, A::Kind],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SurveyAnswers::Table.into_iden(),
            SurveyRequests::Table.into_iden(),
            Surveys::Table.into_iden(),
            Learnings::Table.into_iden(),
            Notes::Table.into_iden(),
            Sessions::Table.into_iden(),
            Pairs::Table.into_iden(),
            Enrolments::Table.into_iden(),
            ProgrammeManagers::Table.into_iden(),
            Programmes::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
