//! Bulk import of participants from a spreadsheet — CSV with a header row, or JSON lines — with the fields of the
//! HRIS employee record, through the same planner as HRIS syncs: records matched by `external_id` (or adopted by
//! email), each checked like an API write and reported with its line number when bad, managers linked in any
//! order, reporting cycles refused. A dry run stores and returns the diff; applying writes it in pages of 500, each
//! page one transaction with its `participant.*` events, the import's progress updated after each. Leavers — the
//! participants with an external id the file does not list — are deactivated only when asked (`leavers=true`); a
//! record marked inactive is deactivated like in a sync. Erased people stay erased.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::hris_plan::{self, LeaveReason, OpKind, SyncChange};
use super::hris_syncs::{self, PAGE, SyncCounts};
use super::{DomainError, DomainResult, FieldError};
use crate::events::{self, EventPayload};
use crate::plugins::connector::EmployeeDoc;
use crate::secrets::SecretBox;
use crate::store::{self, Db, Scope, StoreError};

/// The most records one file may hold.
pub const MAX_RECORDS: usize = 200_000;
/// The first record errors an import's report lists (all are in its diff).
const REPORT_ERRORS: usize = 100;
/// The columns (CSV) or keys (JSON lines) of a record: the HRIS employee record's fields.
pub const FIELDS: [&str; 10] = [
    "external_id",
    "email",
    "name",
    "department",
    "title",
    "level",
    "manager_external_id",
    "location",
    "timezone",
    "active",
];
const REQUIRED: [&str; 3] = ["external_id", "email", "name"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// `text/csv`: a header row naming the columns, then one record per row.
    Csv,
    /// `application/x-ndjson` (or `application/jsonl`): one JSON object per line.
    JsonLines,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Pages are being applied (`progress` says how far).
    Running,
    Completed,
    /// Stopped part-way (the instance stopped): the pages applied stay applied; importing the same file again
    /// applies only what is left.
    Interrupted,
}

/// How far an import got: the participants written so far, of all it will write.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportProgress {
    pub applied: u32,
    pub total: u32,
}

/// A participant import: what the file held, what it changed (or would change, in a dry run), and how far it got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-9999-7000-8000-000000000001",
    "format": "csv",
    "dry_run": true,
    "leavers": false,
    "state": "completed",
    "counts": {"pages": 1, "records": 3, "created": 2, "updated": 0, "reactivated": 0, "deactivated": 0,
               "manager_links": 1, "pairs_paused": 0, "unchanged": 0, "skipped": 0, "errors": 1, "changes": 3,
               "suppressed": 0},
    "progress": {"applied": 0, "total": 2},
    "errors": [{"kind": "error", "external_id": "E-3", "email": "x@acme.test", "skipped": true, "line": 4,
                "errors": [{"field": "level", "code": "invalid", "message": "must be a whole number"}]}],
    "errors_truncated": false,
    "created_at": "2026-12-04T09:30:00Z",
    "finished_at": "2026-12-04T09:30:01Z",
    "duration_ms": 412.5
}))]
pub struct ParticipantImport {
    pub id: Uuid,
    pub format: ImportFormat,
    /// A dry run computes the diff and applies nothing.
    pub dry_run: bool,
    /// Whether participants the file does not list (by external id) are deactivated as leavers.
    pub leavers: bool,
    pub state: ImportState,
    pub counts: SyncCounts,
    pub progress: ImportProgress,
    /// The first record errors, each with its `line` (all are in the diff, `kind=error`).
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<SyncChange>,
    pub errors_truncated: bool,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<f64>,
    #[serde(skip)]
    pub version: i32,
}

impl ParticipantImport {
    pub fn etag(&self) -> String {
        super::etag(self.id, self.version)
    }

    /// A running import nobody has advanced for a while was stopped with its instance.
    pub fn derive(mut self, now: DateTime<Utc>, updated_at: DateTime<Utc>) -> ParticipantImport {
        if self.state == ImportState::Running && now - updated_at > chrono::Duration::minutes(10) {
            self.state = ImportState::Interrupted;
        }
        self
    }
}

/// What to import.
pub struct ImportFile {
    pub format: ImportFormat,
    pub dry_run: bool,
    pub leavers: bool,
    pub body: Vec<u8>,
}

/// Why a record could not be read: its external id and email as far as they were read, and the problems.
type Unreadable = (Option<String>, Option<String>, Vec<FieldError>);
/// One record of the file: its line, and the record or why it could not be read.
type Read = (u64, Result<EmployeeDoc, Unreadable>);

/// Reads the file. A file that cannot be read as a whole (no header, a missing required column, an unknown column,
/// too many records) is refused; a record that cannot be read is reported with its line and left out.
pub fn read(format: ImportFormat, body: &[u8]) -> DomainResult<Vec<Read>> {
    let refuse =
        |code: &'static str, message: String| DomainError::Invalid(vec![FieldError::new("body", code, message)]);
    let text = std::str::from_utf8(body).map_err(|e| refuse("not_utf8", format!("the file is not UTF-8: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text); // a spreadsheet's byte-order mark
    // Refused on both backends alike (PostgreSQL cannot store the character), before anything is planned.
    if let Some(at) = text.find('\0') {
        let line = text[..at].matches('\n').count() + 1;
        return Err(refuse(
            "nul_character",
            format!("line {line} contains the NUL character (U+0000)"),
        ));
    }
    let records = match format {
        ImportFormat::Csv => read_csv(text).map_err(|(code, message)| refuse(code, message))?,
        ImportFormat::JsonLines => read_json_lines(text),
    };
    if records.len() > MAX_RECORDS {
        return Err(refuse(
            "too_many_records",
            format!("a file holds at most {MAX_RECORDS} records"),
        ));
    }
    Ok(records)
}

fn read_csv(text: &str) -> Result<Vec<Read>, (&'static str, String)> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ("malformed_csv", format!("the header row cannot be read: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(("missing_header", "the first row must name the columns".into()));
    }
    let unknown: Vec<&str> = header
        .iter()
        .map(String::as_str)
        .filter(|h| !FIELDS.contains(h))
        .collect();
    if !unknown.is_empty() {
        return Err((
            "unknown_column",
            format!("unknown columns {unknown:?}; the columns are {FIELDS:?}"),
        ));
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|r| !header.iter().any(|h| h == r))
        .collect();
    if !missing.is_empty() {
        return Err(("missing_column", format!("the header lacks the columns {missing:?}")));
    }
    let mut seen = HashSet::new();
    if let Some(twice) = header.iter().find(|h| !seen.insert(h.as_str())) {
        return Err(("duplicate_column", format!("the column {twice:?} appears twice")));
    }
    let mut out = Vec::new();
    for row in reader.records() {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                out.push((
                    line,
                    Err((None, None, vec![FieldError::new("row", "malformed_csv", e.to_string())])),
                ));
                continue;
            }
        };
        let line = row.position().map_or(0, |p| p.line());
        let cell = |name: &str| -> Option<String> {
            let i = header.iter().position(|h| h == name)?;
            row.get(i).map(str::to_string).filter(|v| !v.is_empty())
        };
        if row.len() != header.len() {
            let e = FieldError::new(
                "row",
                "wrong_number_of_cells",
                format!("the row has {} cells; the header names {}", row.len(), header.len()),
            );
            out.push((line, Err((cell("external_id"), cell("email"), vec![e]))));
            continue;
        }
        out.push((line, record(cell)));
    }
    Ok(out)
}

fn read_json_lines(text: &str) -> Vec<Read> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw) {
            Ok(o) => o,
            Err(e) => {
                out.push((
                    line,
                    Err((
                        None,
                        None,
                        vec![FieldError::new("line", "malformed_json", e.to_string())],
                    )),
                ));
                continue;
            }
        };
        let text_of = |key: &str| -> Option<String> {
            match object.get(key)? {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
                other => Some(other.to_string()),
            }
        };
        let unknown: Vec<&String> = object.keys().filter(|k| !FIELDS.contains(&k.as_str())).collect();
        if !unknown.is_empty() {
            let e = FieldError::new(
                "line",
                "unknown_field",
                format!("unknown fields {unknown:?}; the fields are {FIELDS:?}"),
            );
            out.push((line, Err((text_of("external_id"), text_of("email"), vec![e]))));
            continue;
        }
        out.push((line, record(text_of)));
    }
    out
}

/// A record from its fields as text: `level` a whole number, `active` a yes/no (default yes).
fn record(field: impl Fn(&str) -> Option<String>) -> Result<EmployeeDoc, Unreadable> {
    let mut errors = Vec::new();
    // A JSON line can spell the NUL character as an escape; PostgreSQL cannot store it, so it is refused everywhere.
    for name in FIELDS {
        if field(name).is_some_and(|v| v.contains('\0')) {
            errors.push(FieldError::new(
                name,
                "nul_character",
                "contains the NUL character (U+0000)",
            ));
        }
    }
    if !errors.is_empty() {
        return Err((None, None, errors));
    }
    let level = match field("level") {
        None => None,
        Some(v) => match v.parse::<i32>() {
            Ok(l) => Some(l),
            Err(_) => {
                errors.push(FieldError::new("level", "invalid", "must be a whole number"));
                None
            }
        },
    };
    let active = match field("active").map(|v| v.to_ascii_lowercase()) {
        None => true,
        Some(v) => match v.as_str() {
            "true" | "yes" | "y" | "1" => true,
            "false" | "no" | "n" | "0" => false,
            _ => {
                errors.push(FieldError::new(
                    "active",
                    "invalid",
                    "must be true or false (or yes/no, 1/0)",
                ));
                true
            }
        },
    };
    if !errors.is_empty() {
        return Err((field("external_id"), field("email"), errors));
    }
    Ok(EmployeeDoc {
        external_id: field("external_id").unwrap_or_default(),
        email: field("email").unwrap_or_default(),
        name: field("name").unwrap_or_default(),
        department: field("department"),
        title: field("title"),
        level,
        manager_external_id: field("manager_external_id"),
        location: field("location"),
        timezone: field("timezone"),
        active,
    })
}

/// Imports the file: the diff computed and stored (a dry run stops there), then applied page by page. Answers the
/// import as it ended.
pub async fn import(
    db: &Db,
    sealer: &SecretBox,
    organisation_id: Uuid,
    file: ImportFile,
) -> DomainResult<ParticipantImport> {
    let started = std::time::Instant::now();
    let rows = read(file.format, &file.body)?;
    drop(file.body);
    let now = store::now();
    let mut import = ParticipantImport {
        id: store::new_id(),
        format: file.format,
        dry_run: file.dry_run,
        leavers: file.leavers,
        state: ImportState::Running,
        counts: SyncCounts {
            records: rows.len() as u32,
            ..Default::default()
        },
        progress: ImportProgress::default(),
        errors: Vec::new(),
        errors_truncated: false,
        created_at: now,
        finished_at: None,
        duration_ms: None,
        version: 1,
    };

    // Records that could not be read are errors with their lines; the rest go to the planner.
    let mut unreadable = Vec::new();
    let mut records = Vec::new();
    for (line, row) in rows {
        match row {
            Ok(record) => records.push((Some(line), record)),
            Err((external_id, email, errors)) => unreadable.push(SyncChange::Error {
                external_id,
                email,
                skipped: true,
                errors,
                line: Some(line),
            }),
        }
    }
    let reader = Scope::new(db.reader(), organisation_id);
    import.counts.suppressed = hris_syncs::drop_suppressed(db, sealer, &reader, &mut records, |(_, r)| r).await?;
    let listed = records.len();

    let existing = reader.all_participants().await?;
    let mut plan = hris_plan::plan_lines(existing, records);
    if !file.leavers {
        // Only the file's own inactive records leave; people it does not list are left alone.
        plan.ops.retain(|op| {
            !op.changes.iter().any(|c| {
                matches!(
                    c,
                    SyncChange::Deactivate {
                        reason: LeaveReason::MissingFromDirectory,
                        ..
                    }
                )
            })
        });
    }
    let leavers = plan.ops.iter().filter(|o| o.kind == OpKind::Deactivate).count();
    if file.leavers && listed == 0 && leavers > 0 {
        return Err(DomainError::Invalid(vec![FieldError::new(
            "body",
            "no_records",
            format!("the file lists nobody; refusing to deactivate {leavers} participants"),
        )]));
    }
    hris_syncs::note_pairs_to_pause(&reader, &mut plan).await?;
    let mut errors = unreadable;
    errors.append(&mut plan.errors);
    errors.sort_by_key(|e| match e {
        SyncChange::Error { line, .. } => line.unwrap_or(0),
        _ => 0,
    });
    import.counts.records = import.counts.records.max(plan.records as u32);
    import.counts.unchanged = plan.unchanged as u32;
    import.counts.skipped = plan.skipped as u32;
    import.counts.errors = errors.len() as u32;
    import.progress.total = plan.ops.len() as u32;
    import.errors = errors.iter().take(REPORT_ERRORS).cloned().collect();
    import.errors_truncated = errors.len() > REPORT_ERRORS;

    // The import exists (and its errors are listed) before anything is applied.
    let txn = db.begin().await?;
    let scope = Scope::new(&txn, organisation_id);
    scope.insert_participant_import(&import).await?;
    scope.insert_sync_changes(import.id, 1, &errors).await?;
    import.counts.changes = errors.len() as u32;
    if file.dry_run {
        let entries: Vec<SyncChange> = plan.ops.iter().flat_map(|o| o.changes.iter().cloned()).collect();
        scope
            .insert_sync_changes(import.id, import.counts.changes as i32 + 1, &entries)
            .await?;
        import.counts.changes += entries.len() as u32;
        for op in &plan.ops {
            hris_syncs::tally(
                &mut import.counts,
                op,
                op.changes.iter().map(hris_syncs::pairs_of).sum(),
            );
        }
        import.counts.pages = plan.ops.len().div_ceil(PAGE) as u32;
        finish(&mut import, started);
        save(&scope, &mut import).await?;
        events::append(&scope, EventPayload::ParticipantImportCompleted(import.clone())).await?;
        txn.commit().await.map_err(StoreError::from)?;
        return Ok(import);
    }
    txn.commit().await.map_err(StoreError::from)?;

    for page in plan.ops.chunks(PAGE) {
        let txn = db.begin().await?;
        let scope = Scope::new(&txn, organisation_id);
        let mut counts = import.counts.clone();
        hris_syncs::apply(&scope, page, import.id, &mut counts).await?;
        counts.pages += 1;
        let mut next = ParticipantImport {
            counts,
            progress: ImportProgress {
                applied: import.progress.applied + page.len() as u32,
                total: import.progress.total,
            },
            ..import.clone()
        };
        save(&scope, &mut next).await?;
        txn.commit().await.map_err(StoreError::from)?;
        import = next;
    }
    let txn = db.begin().await?;
    let scope = Scope::new(&txn, organisation_id);
    finish(&mut import, started);
    save(&scope, &mut import).await?;
    events::append(&scope, EventPayload::ParticipantImportCompleted(import.clone())).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(import)
}

fn finish(import: &mut ParticipantImport, started: std::time::Instant) {
    import.state = ImportState::Completed;
    import.finished_at = Some(store::now());
    import.duration_ms = Some(started.elapsed().as_secs_f64() * 1e3);
}

async fn save<C: sea_orm::ConnectionTrait>(scope: &Scope<'_, C>, import: &mut ParticipantImport) -> DomainResult<()> {
    let expected = import.version;
    import.version += 1;
    if !scope.update_participant_import(import, expected).await? {
        return Err(DomainError::PreconditionFailed);
    }
    Ok(())
}

pub async fn get<C: sea_orm::ConnectionTrait>(scope: &Scope<'_, C>, id: Uuid) -> DomainResult<ParticipantImport> {
    scope
        .participant_import(id)
        .await?
        .ok_or(DomainError::NotFound("participant import"))
}

pub async fn list<C: sea_orm::ConnectionTrait>(
    scope: &Scope<'_, C>,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<ParticipantImport>, bool)> {
    Ok(super::page(
        scope.list_participant_imports(after, limit + 1).await?,
        limit,
    ))
}

/// One page of an import's diff (and errors), in order, optionally of one kind.
pub async fn changes<C: sea_orm::ConnectionTrait>(
    scope: &Scope<'_, C>,
    id: Uuid,
    kind: Option<&str>,
    after: Option<i32>,
    limit: u64,
) -> DomainResult<(Vec<(i32, SyncChange)>, bool)> {
    get(scope, id).await?;
    hris_syncs::check_change_kind(kind)?;
    Ok(super::page(
        scope.sync_changes(id, kind, after, limit + 1).await?,
        limit,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_keep_their_line_numbers_and_bad_cells_are_reported() {
        let file = "external_id,email,name,level,active\n\
                    E-1,ada@acme.test,Ada,3,yes\n\
                    E-2,grace@acme.test,\"Hopper, Grace\",high,\n\
                    E-3,lin@acme.test,Lin,,no\n";
        let rows = read(ImportFormat::Csv, file.as_bytes()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].0, 2);
        assert_eq!(rows[0].1.as_ref().unwrap().level, Some(3));
        let (line, bad) = &rows[1];
        assert_eq!(*line, 3);
        let (external_id, _, errors) = bad.as_ref().unwrap_err();
        assert_eq!(external_id.as_deref(), Some("E-2"));
        assert_eq!(errors[0].field, "level");
        let lin = rows[2].1.as_ref().unwrap();
        assert!(!lin.active);
        assert_eq!(lin.level, None);
    }

    #[test]
    fn a_file_without_the_required_columns_or_with_unknown_ones_is_refused() {
        assert!(read(ImportFormat::Csv, b"email,name\nx@y.z,X\n").is_err());
        assert!(read(ImportFormat::Csv, b"external_id,email,name,salary\nE,x@y.z,X,1\n").is_err());
        assert!(read(ImportFormat::Csv, b"").is_err());
        let nul = read(ImportFormat::Csv, b"external_id,email,name\nE-1,a@b.c,A\0\n").unwrap_err();
        let DomainError::Invalid(errors) = nul else {
            panic!("{nul:?}")
        };
        assert_eq!(errors[0].code, "nul_character");
        assert!(errors[0].message.contains("line 2"));
    }

    #[test]
    fn json_lines_report_bad_lines_by_number() {
        let file = "{\"external_id\": \"E-1\", \"email\": \"a@b.c\", \"name\": \"A\", \"level\": 4}\n\
                    \n\
                    not json\n\
                    {\"external_id\": \"E-2\", \"email\": \"d@b.c\", \"name\": \"D\", \"salary\": 1}\n";
        let rows = read(ImportFormat::JsonLines, file.as_bytes()).unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 3, 4]);
        assert_eq!(rows[0].1.as_ref().unwrap().level, Some(4));
        assert_eq!(rows[1].1.as_ref().unwrap_err().2[0].code, "malformed_json");
        assert_eq!(rows[2].1.as_ref().unwrap_err().2[0].code, "unknown_field");
        let escaped = read(
            ImportFormat::JsonLines,
            br#"{"external_id": "E-1", "email": "a@b.c", "name": "A\u0000"}"#,
        )
        .unwrap();
        assert_eq!(escaped[0].1.as_ref().unwrap_err().2[0].code, "nul_character");
    }
}
