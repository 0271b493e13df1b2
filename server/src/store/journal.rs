//! Note and learning rows, scoped to one organisation. What the pair wrote — a note's body, a learning's text,
//! actions and story title — is sealed with the secrets key before it reaches the database.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::documents::{decode, encode};
use super::documents::{find_by_id, guarded_update};
use super::entities::{learning, note};
use super::{Scope, StoreResult};
use crate::domain::journal::{Learning, Note};

fn note_row(organisation_id: Uuid, n: &Note) -> StoreResult<note::ActiveModel> {
    Ok(note::ActiveModel {
        id: Set(n.id),
        organisation_id: Set(organisation_id),
        pair_id: Set(n.pair_id),
        author_id: Set(n.author_id),
        shared: Set(n.shared),
        doc: Set(sealed(encode(n)?, NOTE_SEALED)?),
        version: Set(n.version),
        created_at: Set(n.created_at),
        updated_at: Set(n.updated_at),
    })
}

/// The fields of a note and of a learning kept sealed at rest.
pub const NOTE_SEALED: &[&str] = &["body"];
pub const LEARNING_SEALED: &[&str] = &["text", "actions", "story_title"];

fn sealed(mut doc: serde_json::Value, fields: &[&str]) -> StoreResult<serde_json::Value> {
    let sealer = crate::secrets::installed().map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
    crate::secrets::seal_fields(&sealer, &mut doc, fields);
    Ok(doc)
}

fn opened(what: &str, id: Uuid, mut doc: serde_json::Value) -> StoreResult<serde_json::Value> {
    let sealer = crate::secrets::installed().map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
    crate::secrets::open_fields(&sealer, &mut doc)
        .map_err(|e| super::StoreError::Corrupt(format!("{what} {id}: {e}")))?;
    Ok(doc)
}

pub(super) fn note_from(m: note::Model) -> StoreResult<Note> {
    decode("note", m.id, opened("note", m.id, m.doc)?, m.version)
}

fn learning_row(organisation_id: Uuid, l: &Learning) -> StoreResult<learning::ActiveModel> {
    Ok(learning::ActiveModel {
        id: Set(l.id),
        organisation_id: Set(organisation_id),
        programme_id: Set(l.programme_id),
        pair_id: Set(l.pair_id),
        author_id: Set(l.author_id),
        published_at: Set(l.published_at),
        doc: Set(sealed(encode(l)?, LEARNING_SEALED)?),
        version: Set(l.version),
        created_at: Set(l.created_at),
        updated_at: Set(l.updated_at),
    })
}

pub(super) fn learning_from(m: learning::Model) -> StoreResult<Learning> {
    decode("learning", m.id, opened("learning", m.id, m.doc)?, m.version)
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn note(&self, id: Uuid) -> StoreResult<Option<Note>> {
        find_by_id!(note, self, id, false).map(note_from).transpose()
    }

    /// Notes of a pair; with a `reader`, only theirs and those shared with them.
    pub async fn list_notes(
        &self,
        pair_id: Uuid,
        reader: Option<Uuid>,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<Note>> {
        let mut query = note::Entity::find()
            .filter(note::Column::OrganisationId.eq(self.organisation_id))
            .filter(note::Column::PairId.eq(pair_id));
        if let Some(reader) = reader {
            query = query.filter(
                Condition::any()
                    .add(note::Column::AuthorId.eq(reader))
                    .add(note::Column::Shared.eq(true)),
            );
        }
        if let Some(after) = after {
            query = query.filter(note::Column::Id.gt(after));
        }
        query
            .order_by_asc(note::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(note_from)
            .collect()
    }

    pub async fn insert_note(&self, n: &Note) -> StoreResult<()> {
        note::Entity::insert(note_row(self.organisation_id, n)?)
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    pub async fn update_note(&self, n: &Note, expected_version: i32) -> StoreResult<bool> {
        Ok(guarded_update!(
            note,
            self,
            note_row(self.organisation_id, n)?,
            n.id,
            expected_version
        ))
    }

    pub async fn delete_note(&self, id: Uuid) -> StoreResult<()> {
        note::Entity::delete_many()
            .filter(note::Column::Id.eq(id))
            .filter(note::Column::OrganisationId.eq(self.organisation_id))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    // ---- learnings ----

    pub async fn learning(&self, id: Uuid) -> StoreResult<Option<Learning>> {
        find_by_id!(learning, self, id, false).map(learning_from).transpose()
    }

    pub async fn lock_learning(&self, id: Uuid) -> StoreResult<Option<Learning>> {
        find_by_id!(learning, self, id, true).map(learning_from).transpose()
    }

    pub async fn list_learnings(&self, pair_id: Uuid, after: Option<Uuid>, limit: u64) -> StoreResult<Vec<Learning>> {
        let mut query = learning::Entity::find()
            .filter(learning::Column::OrganisationId.eq(self.organisation_id))
            .filter(learning::Column::PairId.eq(pair_id));
        if let Some(after) = after {
            query = query.filter(learning::Column::Id.gt(after));
        }
        query
            .order_by_asc(learning::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(learning_from)
            .collect()
    }

    pub async fn published_learnings(
        &self,
        programme_id: Uuid,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<Learning>> {
        let mut query = learning::Entity::find()
            .filter(learning::Column::OrganisationId.eq(self.organisation_id))
            .filter(learning::Column::ProgrammeId.eq(programme_id))
            .filter(learning::Column::PublishedAt.is_not_null());
        if let Some(after) = after {
            query = query.filter(learning::Column::Id.gt(after));
        }
        query
            .order_by_asc(learning::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(learning_from)
            .collect()
    }

    pub async fn insert_learning(&self, l: &Learning) -> StoreResult<()> {
        learning::Entity::insert(learning_row(self.organisation_id, l)?)
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    pub async fn update_learning(&self, l: &Learning, expected_version: i32) -> StoreResult<bool> {
        Ok(guarded_update!(
            learning,
            self,
            learning_row(self.organisation_id, l)?,
            l.id,
            expected_version
        ))
    }
}
