//! Database migrations for Upward. Written once with the sea-query builder so the same code creates the same schema
//! on SQLite (the embedded default) and PostgreSQL (production).

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_foundation;
mod m20261122_000002_programmes;
mod m20261122_000003_metrics_indexes;
mod m20261122_000004_matching_runs;
mod m20261122_000005_plugins;
mod m20261122_000006_webhooks;
mod m20261122_000007_timed_notices;
mod m20261123_000008_survey_scores;
mod m20261123_000009_hris_connections;
mod m20261123_000010_hris_syncs;
mod m20261201_000011_data_protection;
mod m20261204_000012_outcomes;
mod m20261205_000013_everyday;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_programmes::Migration),
            Box::new(m20261122_000003_metrics_indexes::Migration),
            Box::new(m20261122_000004_matching_runs::Migration),
            Box::new(m20261122_000005_plugins::Migration),
            Box::new(m20261122_000006_webhooks::Migration),
            Box::new(m20261122_000007_timed_notices::Migration),
            Box::new(m20261123_000008_survey_scores::Migration),
            Box::new(m20261123_000009_hris_connections::Migration),
            Box::new(m20261123_000010_hris_syncs::Migration),
            Box::new(m20261201_000011_data_protection::Migration),
            Box::new(m20261204_000012_outcomes::Migration),
            Box::new(m20261205_000013_everyday::Migration),
        ]
    }
}
