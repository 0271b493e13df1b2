//! Persistence. The database handle ([`Db`]) and the tenant [`Scope`]: every query on tenant-owned data is a method of
//! a scope, and a scope always carries the organisation id, so forgetting tenancy is not possible from outside this
//! module. Entities stay private here; callers see domain types only.

pub mod audit;
pub mod backup;
pub mod calendar;
mod documents;
mod entities;
pub mod events;
pub mod hris_connections;
pub mod hris_syncs;
pub mod idempotency;
pub mod identity_providers;
pub mod journal;
pub mod keys;
pub mod matching_runs;
pub mod organisations;
pub mod outcomes;
pub mod pairs;
pub mod participant_imports;
pub mod participants;
pub mod plugins;
mod point_reads;
pub mod privacy;
pub mod programmes;
pub mod retention;
pub mod survey_scores;
pub mod surveys;
pub mod timed_notices;
pub mod webhook_deliveries;
pub mod webhook_endpoints;

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr, SqlErr,
    SqlxSqliteConnector, TransactionTrait,
};
use upward_migrations::{Migrator, MigratorTrait};
use uuid::Uuid;

/// Errors of the persistence layer, classified so the layers above can react without parsing driver messages.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the string names the constraint or the columns.
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    /// The database could not be reached or timed out.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(#[from] DbErrWrapper),
    /// A row held data this version of Upward cannot read (should never happen; points at a bug or manual edits).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Wraps `DbErr` so that `StoreError::from(DbErr)` can classify instead of blindly wrapping.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DbErrWrapper(DbErr);

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(message)) = err.sql_err() {
            return StoreError::UniqueViolation(message);
        }
        // SQLite's "database is locked" (SQLITE_BUSY): another process's write got in first; a retry will do.
        if err.to_string().contains("database is locked") {
            return StoreError::Unavailable(err.to_string());
        }
        match &err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StoreError::Unavailable(err.to_string()),
            _ if lost_connection(&err) => StoreError::Unavailable(err.to_string()),
            _ => StoreError::Other(DbErrWrapper(err)),
        }
    }
}

/// A statement that failed because the database went away under it — PostgreSQL restarting or shutting down
/// (SQLSTATE class 57P, "terminating connection due to administrator command"), a broken connection (class 08), a
/// socket error, a closed pool — is worth a retry, not an internal error: the fault script saw a 500 for it.
fn lost_connection(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    let (DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))) = err else {
        return false;
    };
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How long a query waits for a pooled connection; also bounds how long start-up waits for an unreachable database.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A pool's connections at one moment.
#[derive(Clone, Copy, Debug)]
pub struct PoolStats {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

impl PoolStats {
    fn of(size: u32, idle: usize, max: u32) -> PoolStats {
        let idle = idle as u32;
        PoolStats {
            in_use: size.saturating_sub(idle),
            idle,
            max,
        }
    }
}

/// The database. On SQLite, writes go through a pool of one connection so that write transactions queue instead of
/// failing with `SQLITE_BUSY`, while reads use a pool of their own (WAL mode lets them run beside the writer). On
/// PostgreSQL both are the same pool.
#[derive(Clone)]
pub struct Db {
    read: DatabaseConnection,
    write: DatabaseConnection,
    backend: Backend,
    /// SQLite files only: primary-key reads of the hottest rows on the calling thread (see `point_reads`).
    point: Option<std::sync::Arc<point_reads::PointReads>>,
}

/// A quick look at the PostgreSQL server's address before the pool starts: a pool only says "timed out" after its
/// acquire timeout, while a refused or unroutable connection can be told in a second or two, with its reason.
async fn reachable(url: &str) -> StoreResult<()> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Ok(()); // Unix sockets and other forms: the pool reports on them.
    };
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Ok(());
    };
    let port = parsed.port().unwrap_or(5432);
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(StoreError::Unavailable(format!(
            "cannot reach PostgreSQL at {host}:{port}: {e}"
        ))),
        Err(_) => Err(StoreError::Unavailable(format!(
            "cannot reach PostgreSQL at {host}:{port}: no answer within 3 s"
        ))),
    }
}

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Db> {
        if url.starts_with("sqlite:") {
            let mut options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?;
            // `sqlite://fresh.db` creates the file, as `?mode=rwc` would; an explicit mode is respected.
            if !url.contains("mode=") {
                options = options.create_if_missing(true);
            }
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // Deleted content is overwritten, not left in free pages: an erasure must remove the bytes.
                .pragma("secure_delete", "on");
            // No `SELECT 1` round trip before each use: a SQLite connection is a file handle in this process, it cannot
            // have gone stale, and each check is a hop to the connection's worker thread and back.
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let read = SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .test_before_acquire(false)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            // In-memory databases are private to their connection: nothing to open beside the pool.
            let file = options.get_filename();
            let point = (!url.contains(":memory:") && !url.contains("mode=memory") && file.is_file())
                .then(|| point_reads::PointReads::open(file))
                .flatten()
                .map(std::sync::Arc::new);
            Ok(Db {
                read: SqlxSqliteConnector::from_sqlx_sqlite_pool(read),
                write: SqlxSqliteConnector::from_sqlx_sqlite_pool(write),
                backend: Backend::Sqlite,
                point,
            })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            reachable(url).await?;
            let mut options = ConnectOptions::new(url);
            options
                .max_connections(max_connections.max(2))
                .min_connections(1)
                .connect_timeout(Duration::from_secs(5))
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .sqlx_logging(false);
            let pool = Database::connect(options)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(Db {
                read: pool.clone(),
                write: pool,
                backend: Backend::Postgres,
                point: None,
            })
        } else {
            Err(StoreError::Unavailable(format!(
                "unsupported database URL (expected sqlite:// or postgres://): {}",
                redact_url(url)
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Each pool's connections: (`write`, `read`) on SQLite, one shared `pool` on PostgreSQL.
    pub fn pool_stats(&self) -> Vec<(&'static str, PoolStats)> {
        let of_sqlite = |c: &DatabaseConnection| {
            let pool = c.get_sqlite_connection_pool();
            PoolStats::of(pool.size(), pool.num_idle(), pool.options().get_max_connections())
        };
        match self.backend {
            Backend::Sqlite => vec![("write", of_sqlite(&self.write)), ("read", of_sqlite(&self.read))],
            Backend::Postgres => {
                let pool = self.write.get_postgres_connection_pool();
                vec![(
                    "pool",
                    PoolStats::of(pool.size(), pool.num_idle(), pool.options().get_max_connections()),
                )]
            }
        }
    }

    /// The connection for reads outside a transaction.
    pub fn reader(&self) -> &DatabaseConnection {
        &self.read
    }

    /// An organisation's rows for reading: the reader pool, and the point reads where this database has them.
    pub(crate) fn read_scope(&self, organisation_id: Uuid) -> Scope<'_, DatabaseConnection> {
        Scope {
            conn: &self.read,
            organisation_id,
            point: self.point.as_deref(),
        }
    }

    /// Starts a write transaction. Every change and the events it causes commit in one of these.
    pub async fn begin(&self) -> StoreResult<DatabaseTransaction> {
        Ok(self.write.begin().await?)
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        Migrator::up(&self.write, None).await?;
        Ok(())
    }

    pub async fn pending_migrations(&self) -> StoreResult<usize> {
        Ok(Migrator::get_pending_migrations(&self.write).await?.len())
    }

    pub async fn ping(&self) -> StoreResult<()> {
        self.read.ping().await?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.read.close().await;
        if self.backend == Backend::Sqlite {
            let _ = self.write.close().await;
        }
    }
}

/// Hides the password of a database URL before it reaches a log line or an error message.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &credentials[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The one door to tenant-owned data: a connection (or transaction) together with the organisation it acts for.
/// Constructed only from an authenticated principal (or the operator's CLI), never from request input.
pub struct Scope<'c, C: ConnectionTrait> {
    conn: &'c C,
    organisation_id: Uuid,
    point: Option<&'c point_reads::PointReads>,
}

impl<'c, C: ConnectionTrait> Scope<'c, C> {
    pub(crate) fn new(conn: &'c C, organisation_id: Uuid) -> Self {
        Scope {
            conn,
            organisation_id,
            point: None,
        }
    }

    pub fn organisation_id(&self) -> Uuid {
        self.organisation_id
    }
}

/// A new time-ordered id (UUIDv7), so that ordering by id is ordering by creation.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// The current time truncated to microseconds, the precision both databases keep, so a value read back equals the
/// value written (and so do ETags and event payloads built from it).
/// Within a request run on a test clock ([`crate::clock`]), the time that clock reads.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    (chrono::Utc::now() + crate::clock::offset()).trunc_subsecs(6)
}
