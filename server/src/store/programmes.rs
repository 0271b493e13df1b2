//! Programme rows and their managers, and enrolment rows, scoped to one organisation.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::documents::{decode, encode};
use super::documents::{find_by_id, guarded_update};
use super::entities::{enrolment, programme, programme_manager};
use super::{Scope, StoreResult};
use crate::domain::Actor;
use crate::domain::enrolments::{Enrolment, EnrolmentFilter, EnrolmentState};
use crate::domain::programmes::{Programme, ProgrammeState};

fn programme_row(organisation_id: Uuid, p: &Programme) -> StoreResult<programme::ActiveModel> {
    Ok(programme::ActiveModel {
        id: Set(p.id),
        organisation_id: Set(organisation_id),
        state: Set(p.state.as_str().to_string()),
        name: Set(p.name.clone()),
        template: Set(p.template),
        doc: Set(encode(p)?),
        version: Set(p.version),
        created_at: Set(p.created_at),
        updated_at: Set(p.updated_at),
    })
}

fn programme_from(m: programme::Model) -> StoreResult<Programme> {
    Ok(decode::<Programme>("programme", m.id, m.doc, m.version)?.derive())
}

fn enrolment_row(organisation_id: Uuid, e: &Enrolment) -> StoreResult<enrolment::ActiveModel> {
    Ok(enrolment::ActiveModel {
        id: Set(e.id),
        organisation_id: Set(organisation_id),
        programme_id: Set(e.programme_id),
        participant_id: Set(e.participant_id),
        role: Set(e.role.as_str().to_string()),
        state: Set(e.state.as_str().to_string()),
        capacity: Set(e.capacity),
        doc: Set(encode(e)?),
        version: Set(e.version),
        created_at: Set(e.created_at),
        updated_at: Set(e.updated_at),
    })
}

pub(super) fn enrolment_from(m: enrolment::Model) -> StoreResult<Enrolment> {
    decode("enrolment", m.id, m.doc, m.version)
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn programme(&self, id: Uuid) -> StoreResult<Option<Programme>> {
        find_by_id!(programme, self, id, false).map(programme_from).transpose()
    }

    /// Reads the programme and, on PostgreSQL, locks its row until the transaction ends (SQLite serialises every
    /// write transaction anyway).
    pub async fn lock_programme(&self, id: Uuid) -> StoreResult<Option<Programme>> {
        find_by_id!(programme, self, id, true).map(programme_from).transpose()
    }

    pub async fn list_programmes(
        &self,
        actor: Actor,
        state: Option<ProgrammeState>,
        template: Option<bool>,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<Programme>> {
        let mut query = programme::Entity::find().filter(programme::Column::OrganisationId.eq(self.organisation_id));
        if let Some(state) = state {
            query = query.filter(programme::Column::State.eq(state.as_str()));
        }
        if let Some(template) = template {
            query = query.filter(programme::Column::Template.eq(template));
        }
        match actor {
            Actor::Admin => {}
            Actor::Manager(p) => {
                query = query.filter(
                    programme::Column::Id.in_subquery(
                        Query::select()
                            .column(programme_manager::Column::ProgrammeId)
                            .from(programme_manager::Entity)
                            .and_where(Expr::col(programme_manager::Column::ParticipantId).eq(p))
                            .to_owned(),
                    ),
                );
            }
            Actor::Participant(p) => {
                // Open for enrolment, or enrolled in.
                query = query.filter(
                    sea_orm::Condition::any()
                        .add(programme::Column::State.eq(ProgrammeState::Enrolling.as_str()))
                        .add(
                            programme::Column::Id.in_subquery(
                                Query::select()
                                    .column(enrolment::Column::ProgrammeId)
                                    .from(enrolment::Entity)
                                    .and_where(Expr::col(enrolment::Column::ParticipantId).eq(p))
                                    .to_owned(),
                            ),
                        ),
                );
            }
        }
        if let Some(after) = after {
            query = query.filter(programme::Column::Id.gt(after));
        }
        query
            .order_by_asc(programme::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(programme_from)
            .collect()
    }

    pub async fn insert_programme(&self, p: &Programme) -> StoreResult<()> {
        programme::Entity::insert(programme_row(self.organisation_id, p)?)
            .exec_without_returning(self.conn)
            .await?;
        self.write_managers(p).await
    }

    pub async fn update_programme(&self, p: &Programme, expected_version: i32) -> StoreResult<bool> {
        if !guarded_update!(
            programme,
            self,
            programme_row(self.organisation_id, p)?,
            p.id,
            expected_version
        ) {
            return Ok(false);
        }
        self.write_managers(p).await?;
        Ok(true)
    }

    /// The programmes `manager` manages.
    pub async fn managed_programme_ids(&self, manager: Uuid) -> StoreResult<Vec<Uuid>> {
        Ok(programme_manager::Entity::find()
            .select_only()
            .column(programme_manager::Column::ProgrammeId)
            .filter(programme_manager::Column::OrganisationId.eq(self.organisation_id))
            .filter(programme_manager::Column::ParticipantId.eq(manager))
            .into_tuple()
            .all(self.conn)
            .await?)
    }

    /// Mirrors the programme's managers into their table, which lets a manager's programme list be one query.
    async fn write_managers(&self, p: &Programme) -> StoreResult<()> {
        programme_manager::Entity::delete_many()
            .filter(programme_manager::Column::ProgrammeId.eq(p.id))
            .exec(self.conn)
            .await?;
        if p.managers.is_empty() {
            return Ok(());
        }
        programme_manager::Entity::insert_many(p.managers.iter().map(|m| programme_manager::ActiveModel {
            organisation_id: Set(self.organisation_id),
            programme_id: Set(p.id),
            participant_id: Set(*m),
        }))
        .exec_without_returning(self.conn)
        .await?;
        Ok(())
    }

    // ---- enrolments ----

    pub async fn enrolment(&self, id: Uuid) -> StoreResult<Option<Enrolment>> {
        find_by_id!(enrolment, self, id, false).map(enrolment_from).transpose()
    }

    pub async fn lock_enrolment(&self, id: Uuid) -> StoreResult<Option<Enrolment>> {
        find_by_id!(enrolment, self, id, true).map(enrolment_from).transpose()
    }

    pub async fn enrolment_of(&self, programme_id: Uuid, participant_id: Uuid) -> StoreResult<Option<Enrolment>> {
        self.find_enrolment_of(programme_id, participant_id, false).await
    }

    /// The participant's enrolment in the programme, locked on PostgreSQL: pair creation takes this lock so that
    /// capacity checks of concurrent proposals run one after the other.
    pub async fn lock_enrolment_of(&self, programme_id: Uuid, participant_id: Uuid) -> StoreResult<Option<Enrolment>> {
        self.find_enrolment_of(programme_id, participant_id, true).await
    }

    async fn find_enrolment_of(
        &self,
        programme_id: Uuid,
        participant_id: Uuid,
        lock: bool,
    ) -> StoreResult<Option<Enrolment>> {
        let mut query = enrolment::Entity::find()
            .filter(enrolment::Column::OrganisationId.eq(self.organisation_id))
            .filter(enrolment::Column::ProgrammeId.eq(programme_id))
            .filter(enrolment::Column::ParticipantId.eq(participant_id));
        if lock {
            query = query.lock_exclusive();
        }
        query.one(self.conn).await?.map(enrolment_from).transpose()
    }

    /// One page of a programme's enrolments; with `programme_id` `None`, of every programme.
    pub async fn list_enrolments(
        &self,
        programme_id: Option<Uuid>,
        filter: &EnrolmentFilter,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<Enrolment>> {
        let mut query = enrolment::Entity::find().filter(enrolment::Column::OrganisationId.eq(self.organisation_id));
        if let Some(programme_id) = programme_id {
            query = query.filter(enrolment::Column::ProgrammeId.eq(programme_id));
        }
        if let Some(role) = filter.role {
            query = query.filter(enrolment::Column::Role.eq(role.as_str()));
        }
        if let Some(state) = filter.state {
            query = query.filter(enrolment::Column::State.eq(state.as_str()));
        }
        if let Some(p) = filter.participant_id {
            query = query.filter(enrolment::Column::ParticipantId.eq(p));
        }
        if let Some(after) = after {
            query = query.filter(enrolment::Column::Id.gt(after));
        }
        query
            .order_by_asc(enrolment::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(enrolment_from)
            .collect()
    }

    pub async fn insert_enrolment(&self, e: &Enrolment) -> StoreResult<()> {
        enrolment::Entity::insert(enrolment_row(self.organisation_id, e)?)
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    pub async fn update_enrolment(&self, e: &Enrolment, expected_version: i32) -> StoreResult<bool> {
        Ok(guarded_update!(
            enrolment,
            self,
            enrolment_row(self.organisation_id, e)?,
            e.id,
            expected_version
        ))
    }

    /// (mentors, mentees) actively enrolled in the programme.
    pub async fn count_active_enrolments(&self, programme_id: Uuid) -> StoreResult<(u64, u64)> {
        let count = |role: &'static str| {
            enrolment::Entity::find()
                .filter(enrolment::Column::OrganisationId.eq(self.organisation_id))
                .filter(enrolment::Column::ProgrammeId.eq(programme_id))
                .filter(enrolment::Column::State.eq(EnrolmentState::Active.as_str()))
                .filter(enrolment::Column::Role.eq(role))
                .count(self.conn)
        };
        Ok((count("mentor").await?, count("mentee").await?))
    }
}
