//! Participant rows, scoped to one organisation.

use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::documents::guarded_update;
use super::entities::participant;
use super::{Scope, StoreError, StoreResult};
use crate::domain::participants::{Participant, ParticipantFilter};

pub(super) fn from_row(m: participant::Model) -> StoreResult<Participant> {
    let languages = serde_json::from_value(m.languages)
        .map_err(|e| StoreError::Corrupt(format!("participant {} languages: {e}", m.id)))?;
    let attributes = match m.attributes {
        Value::Object(map) => map,
        other => return Err(StoreError::Corrupt(format!("participant {} attributes: {other}", m.id))),
    };
    Ok(Participant {
        id: m.id,
        external_id: m.external_id,
        email: m.email,
        display_name: m.display_name,
        department: m.department,
        job_title: m.job_title,
        level: m.level,
        manager_id: m.manager_id,
        location: m.location,
        timezone: m.timezone,
        languages,
        attributes,
        active: m.active,
        left_at: m.left_at,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn to_row(organisation_id: Uuid, p: &Participant) -> participant::ActiveModel {
    participant::ActiveModel {
        id: Set(p.id),
        organisation_id: Set(organisation_id),
        external_id: Set(p.external_id.clone()),
        email: Set(p.email.clone()),
        display_name: Set(p.display_name.clone()),
        department: Set(p.department.clone()),
        job_title: Set(p.job_title.clone()),
        level: Set(p.level),
        manager_id: Set(p.manager_id),
        location: Set(p.location.clone()),
        timezone: Set(p.timezone.clone()),
        languages: Set(Value::from(p.languages.clone())),
        attributes: Set(Value::Object(p.attributes.clone())),
        active: Set(p.active),
        left_at: Set(p.left_at),
        version: Set(p.version),
        created_at: Set(p.created_at),
        updated_at: Set(p.updated_at),
        ..Default::default()
    }
}

/// Escapes `%`, `_` and `\` so user input matches literally inside a LIKE pattern.
pub(super) fn like_pattern(q: &str) -> String {
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn participant(&self, id: Uuid) -> StoreResult<Option<Participant>> {
        if let Some(point) = self.point
            && let Ok(found) = point.participant(self.organisation_id, id)
        {
            return found.map(from_row).transpose();
        }
        participant::Entity::find_by_id(id)
            .filter(participant::Column::OrganisationId.eq(self.organisation_id))
            .filter(participant::Column::ErasedAt.is_null())
            .one(self.conn)
            .await?
            .map(from_row)
            .transpose()
    }

    pub async fn participant_by_email(&self, email: &str) -> StoreResult<Option<Participant>> {
        participant::Entity::find()
            .filter(participant::Column::OrganisationId.eq(self.organisation_id))
            .filter(participant::Column::ErasedAt.is_null())
            .filter(participant::Column::Email.eq(email.trim().to_lowercase()))
            .one(self.conn)
            .await?
            .map(from_row)
            .transpose()
    }

    pub async fn participant_by_external_id(&self, external_id: &str) -> StoreResult<Option<Participant>> {
        participant::Entity::find()
            .filter(participant::Column::OrganisationId.eq(self.organisation_id))
            .filter(participant::Column::ErasedAt.is_null())
            .filter(participant::Column::ExternalId.eq(external_id))
            .one(self.conn)
            .await?
            .map(from_row)
            .transpose()
    }

    pub async fn list_participants(
        &self,
        filter: &ParticipantFilter,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<Participant>> {
        let mut query = participant::Entity::find()
            .filter(participant::Column::OrganisationId.eq(self.organisation_id))
            .filter(participant::Column::ErasedAt.is_null());
        if let Some(department) = &filter.department {
            query = query.filter(participant::Column::Department.eq(department.as_str()));
        }
        if let Some(active) = filter.active {
            query = query.filter(participant::Column::Active.eq(active));
        }
        if let Some(min) = filter.level_min {
            query = query.filter(participant::Column::Level.gte(min));
        }
        if let Some(max) = filter.level_max {
            query = query.filter(participant::Column::Level.lte(max));
        }
        if let Some(manager_id) = filter.manager_id {
            query = query.filter(participant::Column::ManagerId.eq(manager_id));
        }
        if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let pattern = like_pattern(q);
            let lower = |col: participant::Column| Expr::expr(Func::lower(Expr::col(col)));
            query = query.filter(
                Condition::any()
                    .add(
                        lower(participant::Column::DisplayName)
                            .like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\')),
                    )
                    .add(
                        lower(participant::Column::Email)
                            .like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\')),
                    ),
            );
        }
        if let Some(after) = after {
            query = query.filter(participant::Column::Id.gt(after));
        }
        let query = query.order_by_asc(participant::Column::Id).limit(limit);
        // A page by the index is read on the request's thread; a text search scans, and stays on the pool.
        if let Some(point) = self.point
            && filter.q.is_none()
            && let Ok(models) = point.participants(&query)
        {
            return models.into_iter().map(from_row).collect();
        }
        query.all(self.conn).await?.into_iter().map(from_row).collect()
    }

    /// Many new participants in few statements.
    pub async fn insert_participants(&self, ps: &[Participant]) -> StoreResult<()> {
        for chunk in ps.chunks(500) {
            if chunk.is_empty() {
                continue;
            }
            participant::Entity::insert_many(chunk.iter().map(|p| to_row(self.organisation_id, p)))
                .exec_without_returning(self.conn)
                .await?;
        }
        Ok(())
    }

    pub async fn insert_participant(&self, p: &Participant) -> StoreResult<()> {
        participant::Entity::insert(to_row(self.organisation_id, p))
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    /// Writes the participant if its stored version is still `expected_version`; `false` when it was not.
    pub async fn update_participant(&self, p: &Participant, expected_version: i32) -> StoreResult<bool> {
        Ok(guarded_update!(
            participant,
            self,
            to_row(self.organisation_id, p),
            p.id,
            expected_version
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(super::like_pattern("Ada_%"), "%ada\\_\\%%");
    }
}
