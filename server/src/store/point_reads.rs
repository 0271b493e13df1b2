//! The hottest reads straight from the SQLite file, on the calling thread: a participant by id, and a page of
//! participants (bounded by its limit, in index order).
//!
//! sqlx runs every SQLite connection on a thread of its own: each query is a message to that thread and a wake-up
//! back, two context switches that cost more than the B-tree lookup they carry (the read path's profile in
//! `bench/README.md`: a third of the server's time in the kernel's task switching). A read in WAL mode never waits
//! for a writer, so these are done here, synchronously, on read-only connections kept in a small pool of our own
//! (searches that scan stay on the pool: they would hold the worker thread). Anything unexpected — a busy database,
//! a value stored in a form this decoder does not know, any error — answers `Skipped`, and the caller reads through
//! the pool as before: this path may be skipped, never wrong. PostgreSQL and in-memory databases do not have it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::Value as Bound;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use sea_orm::{DbBackend, QueryTrait, Select};
use uuid::Uuid;

use super::entities::participant;

/// Connections kept between reads; more may be open at once under a burst (each is closed when not kept).
const KEPT: usize = 8;

/// Read-only connections to one SQLite file.
pub struct PointReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// A row was not read here: the caller should read it the ordinary way.
pub struct Skipped;

impl PointReads {
    /// Point reads on the database at `path`, if it is a file that can be opened read-only.
    pub fn open(path: &Path) -> Option<PointReads> {
        let reads = PointReads {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        };
        let first = reads.connect().ok()?;
        reads.give_back(first);
        Some(reads)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait on this thread: a busy database sends the read to the pool instead.
        connection.busy_timeout(std::time::Duration::ZERO)?;
        Ok(connection)
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < KEPT {
            idle.push(connection);
        }
    }

    fn with<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Skipped> {
        let kept = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let result = kept.map_or_else(|| self.connect(), Ok).and_then(|connection| {
            let result = read(&connection);
            self.give_back(connection);
            result
        });
        crate::telemetry::metrics::point_read(result.is_ok());
        result.map_err(|_| Skipped)
    }

    /// The organisation's participant `id`, unless erased (the same rule as `Scope::participant`). Written out rather
    /// than rendered from the store's sea-query statement as a page is: rendering it on every read cost a quarter of
    /// the hot read's throughput (compare-get.sh, 1.21 against 0.89 side by side).
    pub fn participant(&self, organisation_id: Uuid, id: Uuid) -> Result<Option<participant::Model>, Skipped> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT id, organisation_id, external_id, email, display_name, department, job_title, level, \
                 manager_id, location, timezone, languages, attributes, active, version, created_at, updated_at, \
                 erased_at, left_at, sensitive_attributes \
                 FROM participants WHERE id = ?1 AND organisation_id = ?2 AND erased_at IS NULL",
            )?
            .query_row((id.as_bytes(), organisation_id.as_bytes()), participant_from)
            .optional()
        })
    }

    /// The rows of a participant query built by the store (a page: the caller bounds it with a limit), rendered by
    /// sea-query exactly as the pool would run it. Its columns must be the model's, in the model's order.
    pub fn participants(&self, query: &Select<participant::Entity>) -> Result<Vec<participant::Model>, Skipped> {
        let statement = query.build(DbBackend::Sqlite);
        let values = statement.values.map(|v| v.0).unwrap_or_default();
        let bound = values.iter().map(bind).collect::<Option<Vec<_>>>().ok_or(Skipped)?;
        self.with(|c| {
            let mut prepared = c.prepare_cached(&statement.sql)?;
            if prepared.column_names() != PARTICIPANT_COLUMNS {
                return Err(refused(0, "not the participant model's columns"));
            }
            prepared
                .query_map(rusqlite::params_from_iter(bound), participant_from)?
                .collect()
        })
    }
}

const PARTICIPANT_COLUMNS: [&str; 20] = [
    "id",
    "organisation_id",
    "external_id",
    "email",
    "display_name",
    "department",
    "job_title",
    "level",
    "manager_id",
    "location",
    "timezone",
    "languages",
    "attributes",
    "active",
    "version",
    "created_at",
    "updated_at",
    "erased_at",
    "left_at",
    "sensitive_attributes",
];

/// A query parameter as sqlx binds it on SQLite (uuids as their bytes, times as RFC 3339 text); a kind of value not
/// listed here sends the query to the pool.
fn bind(value: &sea_orm::Value) -> Option<Bound> {
    use sea_orm::Value as V;
    let int = |v: Option<i64>| v.map_or(Bound::Null, Bound::Integer);
    Some(match value {
        V::Bool(v) => int(v.map(i64::from)),
        V::TinyInt(v) => int(v.map(i64::from)),
        V::SmallInt(v) => int(v.map(i64::from)),
        V::Int(v) => int(v.map(i64::from)),
        V::BigInt(v) => int(*v),
        V::TinyUnsigned(v) => int(v.map(i64::from)),
        V::SmallUnsigned(v) => int(v.map(i64::from)),
        V::Unsigned(v) => int(v.map(i64::from)),
        V::BigUnsigned(v) => match v {
            Some(n) => Bound::Integer(i64::try_from(*n).ok()?),
            None => Bound::Null,
        },
        V::String(v) => v.as_ref().map_or(Bound::Null, |s| Bound::Text(s.to_string())),
        V::Uuid(v) => v.as_ref().map_or(Bound::Null, |u| Bound::Blob(u.as_bytes().to_vec())),
        V::ChronoDateTimeUtc(v) => v.as_ref().map_or(Bound::Null, |t| {
            Bound::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
        }),
        _ => return None,
    })
}

fn participant_from(row: &Row<'_>) -> rusqlite::Result<participant::Model> {
    Ok(participant::Model {
        id: uuid(row, 0)?,
        organisation_id: uuid(row, 1)?,
        external_id: row.get(2)?,
        email: row.get(3)?,
        display_name: row.get(4)?,
        department: row.get(5)?,
        job_title: row.get(6)?,
        level: row.get(7)?,
        manager_id: optional_uuid(row, 8)?,
        location: row.get(9)?,
        timezone: row.get(10)?,
        languages: json(row, 11)?,
        attributes: json(row, 12)?,
        active: row.get(13)?,
        version: row.get(14)?,
        created_at: time(row, 15)?,
        updated_at: time(row, 16)?,
        erased_at: optional_time(row, 17)?,
        left_at: optional_time(row, 18)?,
        sensitive_attributes: row.get(19)?,
    })
}

fn refused(column: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Null, what.into())
}

/// sqlx stores a `Uuid` as its 16 bytes.
fn uuid(row: &Row<'_>, column: usize) -> rusqlite::Result<Uuid> {
    optional_uuid(row, column)?.ok_or_else(|| refused(column, "a uuid column is NULL"))
}

fn optional_uuid(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<Uuid>> {
    let bytes: Option<Vec<u8>> = row.get(column)?;
    bytes
        .map(|b| Uuid::from_slice(&b).map_err(|_| refused(column, "not a 16-byte uuid")))
        .transpose()
}

/// sqlx stores JSON as text.
fn json(row: &Row<'_>, column: usize) -> rusqlite::Result<serde_json::Value> {
    let text: String = row.get(column)?;
    serde_json::from_str(&text).map_err(|_| refused(column, "not JSON text"))
}

fn time(row: &Row<'_>, column: usize) -> rusqlite::Result<DateTime<Utc>> {
    optional_time(row, column)?.ok_or_else(|| refused(column, "a time column is NULL"))
}

/// sqlx writes RFC 3339 (`2026-12-05T09:30:00.123456+00:00`); it also reads SQLite's own `2026-12-05 09:30:00`, so
/// this does too. Any other form is refused, and the read goes through sqlx, which knows the rest.
fn optional_time(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let text: Option<String> = row.get(column)?;
    let Some(text) = text else { return Ok(None) };
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    NaiveDateTime::parse_from_str(&text, "%F %T%.f")
        .map(|t| Some(t.and_utc()))
        .map_err(|_| refused(column, "not a time this reader knows"))
}
