//! The store's share of data protection: finding every row that mentions a person (a case-insensitive search of the
//! row's text, so a new column cannot hide a copy from it), rewriting or deleting those rows, the erased person's
//! stub, the suppression list, and settling an erasure so that the bytes leave the database files.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, Func, LikeExpr, Query, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Statement,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::{
    erasure_suppression, learning, note, pair, participant, programme_manager, server_secret, survey_answer,
    survey_request,
};
use super::{Backend, Db, Scope, StoreError, StoreResult};
use crate::domain::participants::Participant;

/// A row found mentioning the person: its id, its document, and (for events) its type.
pub struct Mention {
    pub id: Uuid,
    pub doc: Value,
    pub kind: Option<String>,
}

/// `LOWER(CAST(column AS TEXT)) LIKE '%needle%'` for any of the needles.
fn mentions(column: &str, needles: &[String]) -> Condition {
    let mut any = Condition::any();
    for needle in needles {
        let text: SimpleExpr = Func::lower(Func::cast_as(Expr::col(Alias::new(column)), Alias::new("TEXT"))).into();
        any = any.add(Expr::expr(text).like(LikeExpr::new(super::participants::like_pattern(needle)).escape('\\')));
    }
    any
}

impl<C: ConnectionTrait> Scope<'_, C> {
    /// The tenant's rows of `table` whose `doc` (`data` for events) mentions any of the needles.
    pub async fn documents_mentioning(&self, table: &str, needles: &[String]) -> StoreResult<Vec<Mention>> {
        let (column, kind) = if table == "events" {
            ("data", Some("type"))
        } else {
            ("doc", None)
        };
        let mut select = Query::select();
        select
            .from(Alias::new(table))
            .column(Alias::new("id"))
            .expr_as(Expr::col(Alias::new(column)), Alias::new("doc"))
            .and_where(Expr::col(Alias::new("organisation_id")).eq(self.organisation_id))
            .cond_where(mentions(column, needles));
        if let Some(kind) = kind {
            select.expr_as(Expr::col(Alias::new(kind)), Alias::new("kind"));
        }
        let backend = self.conn.get_database_backend();
        let rows = self.conn.query_all(backend.build(&select)).await?;
        rows.into_iter()
            .map(|row| {
                Ok(Mention {
                    id: row.try_get("", "id")?,
                    doc: row.try_get("", "doc")?,
                    kind: if kind.is_some() { row.try_get("", "kind")? } else { None },
                })
            })
            .collect::<Result<Vec<_>, sea_orm::DbErr>>()
            .map_err(StoreError::from)
    }

    pub async fn rewrite_document(&self, table: &str, id: Uuid, doc: &Value) -> StoreResult<()> {
        let column = if table == "events" { "data" } else { "doc" };
        let mut update = Query::update();
        update
            .table(Alias::new(table))
            .value(Alias::new(column), doc.clone())
            .and_where(Expr::col(Alias::new("organisation_id")).eq(self.organisation_id))
            .and_where(Expr::col(Alias::new("id")).eq(id));
        let backend = self.conn.get_database_backend();
        self.conn.execute(backend.build(&update)).await?;
        Ok(())
    }

    /// Deletes the tenant's rows of `table` whose `column` mentions any of the needles; how many.
    pub async fn delete_mentioning(&self, table: &str, column: &str, needles: &[String]) -> StoreResult<u64> {
        let mut delete = Query::delete();
        delete
            .from_table(Alias::new(table))
            .and_where(Expr::col(Alias::new("organisation_id")).eq(self.organisation_id))
            .cond_where(mentions(column, needles));
        let backend = self.conn.get_database_backend();
        Ok(self.conn.execute(backend.build(&delete)).await?.rows_affected())
    }

    /// Forgets webhook receivers' response bodies that echo the person.
    pub async fn clear_responses_mentioning(&self, needles: &[String]) -> StoreResult<u64> {
        let mut update = Query::update();
        update
            .table(Alias::new("webhook_attempts"))
            .value(Alias::new("response_body"), Option::<String>::None)
            .and_where(Expr::col(Alias::new("organisation_id")).eq(self.organisation_id))
            .cond_where(mentions("response_body", needles));
        let backend = self.conn.get_database_backend();
        Ok(self.conn.execute(backend.build(&update)).await?.rows_affected())
    }

    /// Every pair the participant is or was in.
    pub async fn pair_ids_of(&self, participant_id: Uuid) -> StoreResult<Vec<Uuid>> {
        Ok(pair::Entity::find()
            .select_only()
            .column(pair::Column::Id)
            .filter(pair::Column::OrganisationId.eq(self.organisation_id))
            .filter(
                Condition::any()
                    .add(pair::Column::MentorId.eq(participant_id))
                    .add(pair::Column::MenteeId.eq(participant_id)),
            )
            .into_tuple()
            .all(self.conn)
            .await?)
    }

    /// Overwrites the participant's row with its stub and marks it erased (it leaves the directory).
    pub async fn tombstone_participant(&self, stub: &Participant, now: DateTime<Utc>) -> StoreResult<()> {
        participant::Entity::update_many()
            .set(participant::ActiveModel {
                external_id: Set(None),
                email: Set(stub.email.clone()),
                display_name: Set(stub.display_name.clone()),
                department: Set(None),
                job_title: Set(None),
                manager_id: Set(None),
                location: Set(None),
                timezone: Set(None),
                languages: Set(Value::Array(Vec::new())),
                attributes: Set(Value::Object(Default::default())),
                active: Set(false),
                sensitive_attributes: Set(None),
                erased_at: Set(Some(now)),
                updated_at: Set(now),
                ..Default::default()
            })
            .filter(participant::Column::OrganisationId.eq(self.organisation_id))
            .filter(participant::Column::Id.eq(stub.id))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    /// Deletes the notes and learnings the person wrote; (notes, learnings).
    pub async fn delete_journal_of(&self, author_id: Uuid) -> StoreResult<(u64, u64)> {
        let notes = note::Entity::delete_many()
            .filter(note::Column::OrganisationId.eq(self.organisation_id))
            .filter(note::Column::AuthorId.eq(author_id))
            .exec(self.conn)
            .await?
            .rows_affected;
        let learnings = learning::Entity::delete_many()
            .filter(learning::Column::OrganisationId.eq(self.organisation_id))
            .filter(learning::Column::AuthorId.eq(author_id))
            .exec(self.conn)
            .await?
            .rows_affected;
        Ok((notes, learnings))
    }

    /// Removes the free text of the person's survey answers; numbers and choices stay, so aggregates do not move.
    pub async fn clear_answer_texts_of(&self, participant_id: Uuid) -> StoreResult<u64> {
        let requests: Vec<Uuid> = survey_request::Entity::find()
            .select_only()
            .column(survey_request::Column::Id)
            .filter(survey_request::Column::OrganisationId.eq(self.organisation_id))
            .filter(survey_request::Column::ParticipantId.eq(participant_id))
            .into_tuple()
            .all(self.conn)
            .await?;
        let mut cleared = 0;
        for chunk in requests.chunks(500) {
            cleared += survey_answer::Entity::update_many()
                .col_expr(survey_answer::Column::Answer, Expr::value(Option::<String>::None))
                .filter(survey_answer::Column::OrganisationId.eq(self.organisation_id))
                .filter(survey_answer::Column::RequestId.is_in(chunk.iter().copied()))
                .filter(survey_answer::Column::Answer.is_not_null())
                .exec(self.conn)
                .await?
                .rows_affected;
        }
        Ok(cleared)
    }

    pub async fn drop_manager(&self, participant_id: Uuid) -> StoreResult<u64> {
        Ok(programme_manager::Entity::delete_many()
            .filter(programme_manager::Column::OrganisationId.eq(self.organisation_id))
            .filter(programme_manager::Column::ParticipantId.eq(participant_id))
            .exec(self.conn)
            .await?
            .rows_affected)
    }

    /// Adds digests to the suppression list (already listed ones stay as they are).
    pub async fn suppress(&self, digests: &[(String, &'static str)], now: DateTime<Utc>) -> StoreResult<()> {
        for (digest, kind) in digests {
            let exists = erasure_suppression::Entity::find_by_id((self.organisation_id, digest.clone()))
                .one(self.conn)
                .await?
                .is_some();
            if !exists {
                erasure_suppression::Entity::insert(erasure_suppression::ActiveModel {
                    organisation_id: Set(self.organisation_id),
                    digest: Set(digest.clone()),
                    kind: Set(kind.to_string()),
                    created_at: Set(now),
                })
                .exec_without_returning(self.conn)
                .await?;
            }
        }
        Ok(())
    }

    /// Which of the digests are on the suppression list.
    pub async fn suppressed(&self, digests: &[String]) -> StoreResult<std::collections::HashSet<String>> {
        let mut out = std::collections::HashSet::new();
        for chunk in digests.chunks(500) {
            let found: Vec<String> = erasure_suppression::Entity::find()
                .select_only()
                .column(erasure_suppression::Column::Digest)
                .filter(erasure_suppression::Column::OrganisationId.eq(self.organisation_id))
                .filter(erasure_suppression::Column::Digest.is_in(chunk.iter().cloned()))
                .into_tuple()
                .all(self.conn)
                .await?;
            out.extend(found);
        }
        Ok(out)
    }

    /// Lifts suppression digests; how many were listed.
    pub async fn lift_suppressions(&self, digests: &[String]) -> StoreResult<u64> {
        Ok(erasure_suppression::Entity::delete_many()
            .filter(erasure_suppression::Column::OrganisationId.eq(self.organisation_id))
            .filter(erasure_suppression::Column::Digest.is_in(digests.iter().cloned()))
            .exec(self.conn)
            .await?
            .rows_affected)
    }
}

/// The tables an erasure rewrites or deletes from: what settling compacts.
const TOUCHED: &[&str] = &[
    "participants",
    "enrolments",
    "sessions",
    "notes",
    "learnings",
    "survey_answers",
    "events",
    "webhook_attempts",
    "idempotency_keys",
    "matching_runs",
    "hris_syncs",
    "hris_sync_changes",
    "plugin_invocations",
    "programme_managers",
];

impl Db {
    /// After an erasure commits, makes the old bytes leave the database files. SQLite overwrites deleted content
    /// as it goes (`secure_delete` is on for every connection), so what remains is the write-ahead log: a
    /// checkpoint copies it into the main file and truncates it. PostgreSQL keeps old row versions until vacuum:
    /// the touched tables are vacuumed now (outside any transaction, as VACUUM requires).
    pub async fn settle_erasure(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => {
                // A reader holding an old snapshot makes the truncation wait; readers finish in milliseconds.
                for _ in 0..50 {
                    let row = self
                        .write
                        .query_one(Statement::from_string(
                            sea_orm::DatabaseBackend::Sqlite,
                            "PRAGMA wal_checkpoint(TRUNCATE)",
                        ))
                        .await?;
                    let busy: i32 = row.map(|r| r.try_get_by_index(0)).transpose()?.unwrap_or(0);
                    if busy == 0 {
                        return Ok(());
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(StoreError::Unavailable(
                    "the write-ahead log could not be checkpointed (a reader held it for over a second)".into(),
                ))
            }
            Backend::Postgres => {
                self.write
                    .execute_unprepared(&format!("VACUUM {}", TOUCHED.join(", ")))
                    .await?;
                Ok(())
            }
        }
    }

    /// The suppression list's digester: its key is a random server secret, created sealed on first use.
    pub async fn suppression_digester(
        &self,
        sealer: &crate::secrets::SecretBox,
    ) -> StoreResult<crate::secrets::Digester> {
        const NAME: &str = "erasure-suppression-key";
        let corrupt = |e: crate::secrets::SecretsError| StoreError::Corrupt(format!("{NAME}: {e}"));
        if let Some(row) = server_secret::Entity::find_by_id(NAME).one(&self.read).await? {
            let key = sealer.open_text(&row.sealed).map_err(corrupt)?;
            return Ok(crate::secrets::Digester::new(key.as_bytes()));
        }
        let fresh = crate::secrets::SecretBox::fresh_key();
        let inserted = server_secret::Entity::insert(server_secret::ActiveModel {
            name: Set(NAME.into()),
            sealed: Set(sealer.seal_text(&fresh)),
        })
        .exec_without_returning(&self.write)
        .await;
        match inserted {
            Ok(_) => Ok(crate::secrets::Digester::new(fresh.as_bytes())),
            // Another instance created it first: use theirs.
            Err(_) => {
                let row = server_secret::Entity::find_by_id(NAME)
                    .one(&self.write)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("{NAME} missing")))?;
                let key = sealer.open_text(&row.sealed).map_err(corrupt)?;
                Ok(crate::secrets::Digester::new(key.as_bytes()))
            }
        }
    }
}

/// One survey answer as the person gave it (for their export).
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AnswerRecord {
    pub request_id: Uuid,
    pub survey_id: Uuid,
    pub question_id: String,
    pub kind: String,
    pub value: Option<i32>,
    pub choice: Option<String>,
    pub answer: Option<String>,
}

/// Everything stored about one person, table by table (the export's raw material).
pub struct Holdings {
    pub enrolments: Vec<crate::domain::enrolments::Enrolment>,
    pub pairs: Vec<crate::domain::pairs::Pair>,
    pub sessions: Vec<crate::domain::sessions::Session>,
    pub notes: Vec<crate::domain::journal::Note>,
    pub learnings: Vec<crate::domain::journal::Learning>,
    pub answers: Vec<AnswerRecord>,
    pub events: Vec<crate::events::Event>,
}

impl<C: ConnectionTrait> Scope<'_, C> {
    /// Every row about the participant that a subject access export returns.
    pub async fn holdings_of(&self, participant_id: Uuid) -> StoreResult<Holdings> {
        use super::entities::{enrolment, event, session};
        let org = self.organisation_id;
        let enrolments = enrolment::Entity::find()
            .filter(enrolment::Column::OrganisationId.eq(org))
            .filter(enrolment::Column::ParticipantId.eq(participant_id))
            .all(self.conn)
            .await?
            .into_iter()
            .map(super::programmes::enrolment_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let pair_ids = self.pair_ids_of(participant_id).await?;
        let pairs = pair::Entity::find()
            .filter(pair::Column::OrganisationId.eq(org))
            .filter(pair::Column::Id.is_in(pair_ids.iter().copied()))
            .all(self.conn)
            .await?
            .into_iter()
            .map(super::pairs::pair_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let sessions = session::Entity::find()
            .filter(session::Column::OrganisationId.eq(org))
            .filter(session::Column::PairId.is_in(pair_ids.iter().copied()))
            .all(self.conn)
            .await?
            .into_iter()
            .map(super::pairs::session_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let notes = note::Entity::find()
            .filter(note::Column::OrganisationId.eq(org))
            .filter(note::Column::AuthorId.eq(participant_id))
            .all(self.conn)
            .await?
            .into_iter()
            .map(super::journal::note_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let learnings = learning::Entity::find()
            .filter(learning::Column::OrganisationId.eq(org))
            .filter(learning::Column::AuthorId.eq(participant_id))
            .all(self.conn)
            .await?
            .into_iter()
            .map(super::journal::learning_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let requests: Vec<(Uuid, Uuid)> = survey_request::Entity::find()
            .select_only()
            .column(survey_request::Column::Id)
            .column(survey_request::Column::SurveyId)
            .filter(survey_request::Column::OrganisationId.eq(org))
            .filter(survey_request::Column::ParticipantId.eq(participant_id))
            .into_tuple()
            .all(self.conn)
            .await?;
        let mut answers = Vec::new();
        for chunk in requests.chunks(500) {
            let rows = survey_answer::Entity::find()
                .filter(survey_answer::Column::OrganisationId.eq(org))
                .filter(survey_answer::Column::RequestId.is_in(chunk.iter().map(|(id, _)| *id)))
                .all(self.conn)
                .await?;
            answers.extend(rows.into_iter().map(|a| AnswerRecord {
                request_id: a.request_id,
                survey_id: a.survey_id,
                question_id: a.question_id,
                kind: a.kind,
                value: a.value,
                choice: a.choice,
                answer: a.answer,
            }));
        }
        let events = event::Entity::find()
            .filter(event::Column::OrganisationId.eq(org))
            .filter(mentions("data", &[participant_id.to_string()]))
            .all(self.conn)
            .await?
            .into_iter()
            .map(super::events::event_from)
            .collect();
        Ok(Holdings {
            enrolments,
            pairs,
            sessions,
            notes,
            learnings,
            answers,
            events,
        })
    }
}

/// The columns that hold sealed values: (table, key column, key is a uuid, column, column is a JSON document).
const SEALED_COLUMNS: &[(&str, &str, bool, &str, bool)] = &[
    ("hris_connections", "id", true, "secrets", false),
    ("signing_keys", "kid", false, "private_key", false),
    ("server_secrets", "name", false, "sealed", false),
    ("participants", "id", true, "sensitive_attributes", false),
    ("notes", "id", true, "doc", true),
    ("learnings", "id", true, "doc", true),
    ("events", "id", true, "data", true),
];

impl Db {
    /// Re-seals every sealed value under `to` in one transaction (`upward secrets rotate`); how many, by table.
    /// Values written before sealing existed (a signing key in clear) are sealed on the way.
    pub async fn reseal_all(
        &self,
        from: &crate::secrets::SecretBox,
        to: &crate::secrets::SecretBox,
    ) -> StoreResult<std::collections::BTreeMap<String, u64>> {
        use sea_orm::TransactionTrait;
        let txn = self.write.begin().await?;
        let backend = txn.get_database_backend();
        let mut counts = std::collections::BTreeMap::new();
        let failed = |table: &str, e: crate::secrets::SecretsError| StoreError::Corrupt(format!("{table}: {e}"));
        for &(table, key, key_is_uuid, column, is_json) in SEALED_COLUMNS {
            let mut select = Query::select();
            select
                .from(Alias::new(table))
                .column(Alias::new(key))
                .expr_as(Expr::col(Alias::new(column)), Alias::new("value"))
                .and_where(Expr::col(Alias::new(column)).is_not_null());
            if is_json {
                select.cond_where(mentions(column, &[crate::secrets::SEALED_MEMBER.to_lowercase()]));
            }
            let rows = txn.query_all(backend.build(&select)).await?;
            let mut n = 0;
            for row in rows {
                let key_value: sea_orm::Value = if key_is_uuid {
                    row.try_get::<Uuid>("", key)?.into()
                } else {
                    row.try_get::<String>("", key)?.into()
                };
                let value: sea_orm::Value = if is_json {
                    let mut doc: Value = row.try_get("", "value")?;
                    if !crate::secrets::reseal_fields(from, to, &mut doc).map_err(|e| failed(table, e))? {
                        continue;
                    }
                    doc.into()
                } else {
                    let text: String = row.try_get("", "value")?;
                    from.reseal(&text, to).map_err(|e| failed(table, e))?.into()
                };
                let mut update = Query::update();
                update
                    .table(Alias::new(table))
                    .value(Alias::new(column), value)
                    .and_where(Expr::col(Alias::new(key)).eq(key_value));
                txn.execute(backend.build(&update)).await?;
                n += 1;
            }
            counts.insert(table.to_string(), n);
        }
        txn.commit().await?;
        Ok(counts)
    }
}

impl<C: ConnectionTrait> Scope<'_, C> {
    /// A participant's sealed special-category attributes, if any (none for an erased one).
    pub async fn sensitive_attributes(&self, participant_id: Uuid) -> StoreResult<Option<String>> {
        let sealed: Option<Option<String>> = participant::Entity::find_by_id(participant_id)
            .select_only()
            .column(participant::Column::SensitiveAttributes)
            .filter(participant::Column::OrganisationId.eq(self.organisation_id))
            .filter(participant::Column::ErasedAt.is_null())
            .into_tuple()
            .one(self.conn)
            .await?;
        Ok(sealed.flatten())
    }

    /// The sealed special-category attributes of those of `ids` who recorded any.
    pub async fn sensitive_attributes_of(&self, ids: &[Uuid]) -> StoreResult<Vec<(Uuid, String)>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let rows: Vec<(Uuid, Option<String>)> = participant::Entity::find()
                .select_only()
                .column(participant::Column::Id)
                .column(participant::Column::SensitiveAttributes)
                .filter(participant::Column::OrganisationId.eq(self.organisation_id))
                .filter(participant::Column::Id.is_in(chunk.iter().copied()))
                .filter(participant::Column::ErasedAt.is_null())
                .filter(participant::Column::SensitiveAttributes.is_not_null())
                .into_tuple()
                .all(self.conn)
                .await?;
            out.extend(rows.into_iter().filter_map(|(id, sealed)| Some((id, sealed?))));
        }
        Ok(out)
    }

    /// Those of `ids` who have left the organisation.
    pub async fn leavers_among(&self, ids: &[Uuid]) -> StoreResult<std::collections::HashSet<Uuid>> {
        let mut out = std::collections::HashSet::new();
        for chunk in ids.chunks(500) {
            let rows: Vec<Uuid> = participant::Entity::find()
                .select_only()
                .column(participant::Column::Id)
                .filter(participant::Column::OrganisationId.eq(self.organisation_id))
                .filter(participant::Column::Id.is_in(chunk.iter().copied()))
                .filter(participant::Column::LeftAt.is_not_null())
                .into_tuple()
                .all(self.conn)
                .await?;
            out.extend(rows);
        }
        Ok(out)
    }

    pub async fn set_sensitive_attributes(&self, participant_id: Uuid, sealed: Option<String>) -> StoreResult<()> {
        participant::Entity::update_many()
            .col_expr(participant::Column::SensitiveAttributes, Expr::value(sealed))
            .filter(participant::Column::OrganisationId.eq(self.organisation_id))
            .filter(participant::Column::Id.eq(participant_id))
            .exec(self.conn)
            .await?;
        Ok(())
    }
}
