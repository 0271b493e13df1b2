//! Integration tests: the real HTTP API against a fresh database per test, on SQLite and (when configured)
//! PostgreSQL. One binary, one module per capability.

mod auth;
mod calendar;
mod containment;
mod errors;
mod events;
mod every_route;
mod hris;
mod hris_sync;
mod idempotency;
mod identity_provider;
mod imports;
mod learnings;
mod matching;
mod me;
mod metrics;
mod operations;
mod outcomes;
mod partial_updates;
mod participants;
mod plugins;
mod privacy;
mod programmes;
mod python_plugins;
mod special_category;
mod templates;
mod tenancy;
mod timed_events;
mod visibility;
mod webhooks;
