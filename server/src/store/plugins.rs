//! Plugin rows (the release as a document, the component's bytes apart), invocation records and the organisation's
//! plugin limits, scoped to one organisation.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::documents::{decode, encode};
use super::documents::{find_by_id, guarded_update};
use super::entities::{plugin, plugin_component, plugin_invocation, plugin_limits, programme};
use super::{Scope, StoreError, StoreResult};
use crate::domain::plugins::{Plugin, PluginFilter, PluginInvocation, PluginLimits, PluginState};
use crate::domain::programmes::{Programme, ProgrammeState};

impl super::documents::Versioned for Plugin {
    fn set_version(&mut self, version: i32) {
        self.revision = version;
    }
}

fn plugin_row(organisation_id: Uuid, p: &Plugin) -> StoreResult<plugin::ActiveModel> {
    Ok(plugin::ActiveModel {
        id: Set(p.id),
        organisation_id: Set(organisation_id),
        name: Set(p.name.clone()),
        release: Set(p.version.clone()),
        kind: Set(p.kind.as_str().to_string()),
        state: Set(p.state.as_str().to_string()),
        sha256: Set(p.sha256.clone()),
        doc: Set(encode(p)?),
        version: Set(p.revision),
        created_at: Set(p.created_at),
        updated_at: Set(p.updated_at),
    })
}

fn plugin_from(m: plugin::Model) -> StoreResult<Plugin> {
    decode("plugin", m.id, m.doc, m.version)
}

impl super::Db {
    /// Plugins of every organisation still `compiling` and untouched since `before`: their instance stopped before
    /// it finished, so another must compile them.
    pub async fn stalled_plugin_compiles(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<(Uuid, Uuid)>> {
        Ok(plugin::Entity::find()
            .filter(plugin::Column::State.eq(PluginState::Compiling.as_str()))
            .filter(plugin::Column::UpdatedAt.lt(before))
            .all(self.reader())
            .await?
            .into_iter()
            .map(|m| (m.organisation_id, m.id))
            .collect())
    }
}

impl<C: ConnectionTrait> Scope<'_, C> {
    pub async fn plugin(&self, id: Uuid) -> StoreResult<Option<Plugin>> {
        find_by_id!(plugin, self, id, false).map(plugin_from).transpose()
    }

    pub async fn lock_plugin(&self, id: Uuid) -> StoreResult<Option<Plugin>> {
        find_by_id!(plugin, self, id, true).map(plugin_from).transpose()
    }

    async fn find_reference(&self, name: &str, version: &str, lock: bool) -> StoreResult<Option<Plugin>> {
        let mut query = plugin::Entity::find()
            .filter(plugin::Column::OrganisationId.eq(self.organisation_id))
            .filter(plugin::Column::Name.eq(name))
            .filter(plugin::Column::Release.eq(version));
        if lock {
            query = query.lock_exclusive();
        }
        query.one(self.conn).await?.map(plugin_from).transpose()
    }

    pub async fn plugin_by_reference(&self, name: &str, version: &str) -> StoreResult<Option<Plugin>> {
        self.find_reference(name, version, false).await
    }

    pub async fn lock_plugin_by_reference(&self, name: &str, version: &str) -> StoreResult<Option<Plugin>> {
        self.find_reference(name, version, true).await
    }

    pub async fn insert_plugin(&self, p: &Plugin, bytes: &[u8]) -> StoreResult<()> {
        plugin::Entity::insert(plugin_row(self.organisation_id, p)?)
            .exec_without_returning(self.conn)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::UniqueViolation(_) => {
                    StoreError::UniqueViolation(format!("{} was already uploaded", p.reference))
                }
                other => other,
            })?;
        plugin_component::Entity::insert(plugin_component::ActiveModel {
            plugin_id: Set(p.id),
            organisation_id: Set(self.organisation_id),
            bytes: Set(bytes.to_vec()),
        })
        .exec_without_returning(self.conn)
        .await?;
        Ok(())
    }

    pub async fn update_plugin(&self, p: &Plugin, expected_version: i32) -> StoreResult<bool> {
        Ok(guarded_update!(
            plugin,
            self,
            plugin_row(self.organisation_id, p)?,
            p.id,
            expected_version
        ))
    }

    pub async fn plugins(&self, filter: &PluginFilter, after: Option<Uuid>, limit: u64) -> StoreResult<Vec<Plugin>> {
        let mut query = plugin::Entity::find().filter(plugin::Column::OrganisationId.eq(self.organisation_id));
        if let Some(kind) = filter.kind {
            query = query.filter(plugin::Column::Kind.eq(kind.as_str()));
        }
        if let Some(name) = &filter.name {
            query = query.filter(plugin::Column::Name.eq(name.as_str()));
        }
        if let Some(state) = filter.state {
            query = query.filter(plugin::Column::State.eq(state.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(plugin::Column::Id.gt(after));
        }
        query
            .order_by_asc(plugin::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(plugin_from)
            .collect()
    }

    pub async fn plugin_component(&self, id: Uuid) -> StoreResult<Option<Vec<u8>>> {
        Ok(plugin_component::Entity::find_by_id(id)
            .filter(plugin_component::Column::OrganisationId.eq(self.organisation_id))
            .one(self.conn)
            .await?
            .map(|m| m.bytes))
    }

    /// Deletes the release with its bytes and invocation records.
    pub async fn delete_plugin(&self, id: Uuid) -> StoreResult<()> {
        // Children first: SQLite enforces the foreign keys only when asked to, PostgreSQL always does.
        plugin_invocation::Entity::delete_many()
            .filter(plugin_invocation::Column::OrganisationId.eq(self.organisation_id))
            .filter(plugin_invocation::Column::PluginId.eq(id))
            .exec(self.conn)
            .await?;
        plugin_component::Entity::delete_many()
            .filter(plugin_component::Column::OrganisationId.eq(self.organisation_id))
            .filter(plugin_component::Column::PluginId.eq(id))
            .exec(self.conn)
            .await?;
        plugin::Entity::delete_many()
            .filter(plugin::Column::OrganisationId.eq(self.organisation_id))
            .filter(plugin::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    /// Programmes (not archived) whose matching policy or survey scorer is `reference`.
    pub async fn programmes_using_plugin(&self, reference: &str) -> StoreResult<Vec<Uuid>> {
        let rows = programme::Entity::find()
            .filter(programme::Column::OrganisationId.eq(self.organisation_id))
            .filter(programme::Column::State.ne(ProgrammeState::Archived.as_str()))
            .order_by_asc(programme::Column::Id)
            .all(self.conn)
            .await?;
        let mut users = Vec::new();
        for row in rows {
            let p: Programme = decode("programme", row.id, row.doc, row.version)?;
            if p.matching.policy == reference || p.survey_scorer == reference {
                users.push(p.id);
            }
        }
        Ok(users)
    }

    pub async fn insert_plugin_invocation(&self, r: &PluginInvocation) -> StoreResult<()> {
        plugin_invocation::Entity::insert(plugin_invocation::ActiveModel {
            id: Set(r.id),
            organisation_id: Set(self.organisation_id),
            plugin_id: Set(r.plugin_id),
            purpose: Set(serde_json::to_value(r.purpose)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()),
            outcome: Set(r.outcome.clone()),
            doc: Set(encode(r)?),
            created_at: Set(r.created_at),
        })
        .exec_without_returning(self.conn)
        .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn plugin_invocations(
        &self,
        plugin_id: Uuid,
        before: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<PluginInvocation>> {
        let mut query = plugin_invocation::Entity::find()
            .filter(plugin_invocation::Column::OrganisationId.eq(self.organisation_id))
            .filter(plugin_invocation::Column::PluginId.eq(plugin_id));
        if let Some(before) = before {
            query = query.filter(plugin_invocation::Column::Id.lt(before));
        }
        query
            .order_by_desc(plugin_invocation::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(|m| {
                serde_json::from_value(m.doc)
                    .map_err(|e| StoreError::Corrupt(format!("plugin invocation {}: {e}", m.id)))
            })
            .collect()
    }

    pub async fn plugin_limits(&self) -> StoreResult<Option<(PluginLimits, i32, chrono::DateTime<chrono::Utc>)>> {
        plugin_limits::Entity::find_by_id(self.organisation_id)
            .one(self.conn)
            .await?
            .map(|m| {
                serde_json::from_value(m.doc)
                    .map(|l| (l, m.version, m.updated_at))
                    .map_err(|e| StoreError::Corrupt(format!("plugin limits: {e}")))
            })
            .transpose()
    }

    pub async fn put_plugin_limits(&self, limits: &PluginLimits, at: chrono::DateTime<chrono::Utc>) -> StoreResult<()> {
        plugin_limits::Entity::insert(plugin_limits::ActiveModel {
            organisation_id: Set(self.organisation_id),
            doc: Set(encode(limits)?),
            version: Set(1),
            updated_at: Set(at),
        })
        .on_conflict(
            OnConflict::column(plugin_limits::Column::OrganisationId)
                .update_columns([plugin_limits::Column::Doc, plugin_limits::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(self.conn)
        .await?;
        Ok(())
    }
}
