//! Backups and restores. SQLite: `VACUUM INTO` writes a transaction-consistent copy of the live database while it
//! serves (it reads in one snapshot; in WAL mode writers carry on), and the copy is checked with
//! `PRAGMA integrity_check` before it is called good. PostgreSQL: `pg_dump --format=custom` and `pg_restore`, the
//! tools made for it (their snapshot is consistent too). A restore goes only into an empty database, never over data.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde::Serialize;

use super::{Backend, Db, StoreError, StoreResult};

/// What a backup or a restore did.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub backend: &'static str,
    pub file: String,
    pub bytes: u64,
    pub took_ms: u64,
    /// Organisations and events in the copy: a quick look that it holds what it should.
    pub organisations: i64,
    pub events: i64,
}

/// The file a `sqlite:` URL names.
pub fn sqlite_file(url: &str) -> StoreResult<PathBuf> {
    let options =
        SqliteConnectOptions::from_str(url).map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?;
    Ok(options.get_filename().to_path_buf())
}

fn failed(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{what}: {e}"))
}

async fn count(conn: &DatabaseConnection, table: &str) -> StoreResult<i64> {
    let row = conn
        .query_one(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await?
        .ok_or_else(|| failed("counting rows", "no answer"))?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// Whether the database already holds Upward's tables.
async fn holds_data(db: &Db) -> StoreResult<bool> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'organisations'",
        Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_name = 'organisations'"
        }
    };
    let row = db
        .read
        .query_one(Statement::from_string(db.read.get_database_backend(), sql))
        .await?;
    Ok(row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0) > 0)
}

/// Runs one of PostgreSQL's client tools, with the password (if any) passed through the environment, not argv
/// (where any user of the machine could read it).
fn pg_tool(tool: &str, args: &[&str], url: &str) -> StoreResult<()> {
    let mut command = std::process::Command::new(tool);
    command.args(args);
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let password = parsed.password().unwrap_or_default().to_string();
            let _ = parsed.set_password(None);
            command.env("PGPASSWORD", password).arg(format!("--dbname={parsed}"));
        }
        _ => {
            command.arg(format!("--dbname={url}"));
        }
    }
    let output = command.output().map_err(|e| {
        failed(
            &format!("{tool} could not be run (is the PostgreSQL client installed?)"),
            e,
        )
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failed(
            tool,
            String::from_utf8_lossy(&output.stderr)
                .trim()
                .replace(url, &super::redact_url(url)),
        ))
    }
}

/// Opens a SQLite file read-only, as it is (no pragmas that would write), and checks it with `integrity_check`.
async fn open_checked(file: &Path) -> StoreResult<DatabaseConnection> {
    let conn = Database::connect(format!("sqlite://{}?mode=ro", file.display())).await?;
    let check = conn
        .query_one(Statement::from_string(
            conn.get_database_backend(),
            "PRAGMA integrity_check",
        ))
        .await?
        .map(|r| r.try_get_by_index::<String>(0))
        .transpose()?
        .unwrap_or_default();
    if check != "ok" {
        let _ = conn.close().await;
        return Err(failed("the backup does not pass integrity_check", check));
    }
    Ok(conn)
}

impl Db {
    /// Writes a consistent copy of the database to `to` (which must not exist) while it serves.
    pub async fn backup_to(&self, url: &str, to: &Path) -> StoreResult<Report> {
        if to.exists() {
            return Err(failed("backup", format!("{} exists; choose a new file", to.display())));
        }
        let started = Instant::now();
        match self.backend {
            Backend::Sqlite => {
                let target = to.to_string_lossy().replace('\'', "''");
                self.read.execute_unprepared(&format!("VACUUM INTO '{target}'")).await?;
            }
            Backend::Postgres => pg_tool(
                "pg_dump",
                &["--format=custom", "--no-owner", "--file", &to.to_string_lossy()],
                url,
            )?,
        }
        let took_ms = started.elapsed().as_millis() as u64;
        let (organisations, events) = match self.backend {
            Backend::Sqlite => {
                let copy = open_checked(to).await?;
                let counts = (count(&copy, "organisations").await?, count(&copy, "events").await?);
                let _ = copy.close().await;
                counts
            }
            Backend::Postgres => (
                count(&self.read, "organisations").await?,
                count(&self.read, "events").await?,
            ),
        };
        Ok(Report {
            backend: self.backend.as_str(),
            file: to.display().to_string(),
            bytes: std::fs::metadata(to).map(|m| m.len()).unwrap_or(0),
            took_ms,
            organisations,
            events,
        })
    }
}

/// Restores the backup `from` into the database `url` names, which must be empty (or, for SQLite, not exist yet).
pub async fn restore(url: &str, from: &Path) -> StoreResult<Report> {
    if !from.is_file() {
        return Err(failed("restore", format!("{} is not a file", from.display())));
    }
    let started = Instant::now();
    if url.starts_with("sqlite:") {
        let target = sqlite_file(url)?;
        if target.exists() && std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0) > 0 {
            return Err(failed(
                "restore",
                format!(
                    "{} exists; restore into a new file (move the old one aside first)",
                    target.display()
                ),
            ));
        }
        // Checked before it is put in place; copied beside the target, then renamed, so a half-copied file never
        // carries the database's name.
        let _ = open_checked(from).await?.close().await;
        let partial = target.with_extension("restoring");
        std::fs::copy(from, &partial).map_err(|e| failed("copying the backup", e))?;
        std::fs::rename(&partial, &target).map_err(|e| failed("putting the backup in place", e))?;
    } else {
        let db = Db::connect(url, 2).await?;
        if holds_data(&db).await? {
            return Err(failed(
                "restore",
                "the database already holds Upward's tables; restore into an empty database",
            ));
        }
        db.close().await;
        pg_tool(
            "pg_restore",
            &[
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                &from.to_string_lossy(),
            ],
            url,
        )?;
    }
    let db = Db::connect(url, 2).await?;
    let report = Report {
        backend: db.backend.as_str(),
        file: from.display().to_string(),
        bytes: std::fs::metadata(from).map(|m| m.len()).unwrap_or(0),
        took_ms: started.elapsed().as_millis() as u64,
        organisations: count(&db.read, "organisations").await?,
        events: count(&db.read, "events").await?,
    };
    db.close().await;
    Ok(report)
}
