//! The audit trail: who read or changed what, when, from where, with what outcome. Written beside the request (never
//! through the event outbox, so it cannot reach a webhook), one hash chain per organisation: each entry's hash
//! covers its content and the previous entry's hash, so an edited, removed or reordered entry breaks the chain that
//! `upward audit verify` walks. Entries are queued by the HTTP middleware and appended in batches by one writer
//! task per instance; the chain head row serialises writers across instances.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::Db;

/// The hash a chain starts from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditActor {
    /// `org_admin`, `programme_manager` or `participant`.
    pub role: String,
    /// The token's subject: the API client's id, the participant's id, or the identity provider's subject.
    pub subject: String,
    /// The participant the token acts for, if any.
    pub participant_id: Option<Uuid>,
}

/// One entry of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-aaaa-7000-8000-000000000001", "seq": 42, "at": "2026-12-01T09:30:00Z",
    "actor": {"role": "org_admin", "subject": "acme-7f3a", "participant_id": null},
    "operation": "GET /v1/participants/{id}", "resource_id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b",
    "subject_id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b", "address": "203.0.113.7",
    "request_id": "4b1f0c2e-3d5a-4f6b-8c7d-9e0f1a2b3c4d", "outcome": 200,
    "prev_hash": "5f1e…", "hash": "9a0c…"
}))]
pub struct AuditEntry {
    pub id: Uuid,
    /// The entry's place in the organisation's chain (1, 2, …; gaps only where retention removed the oldest).
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    /// The method and route template, e.g. `PATCH /v1/participants/{id}`.
    pub operation: String,
    /// The first id in the path: the resource acted on.
    pub resource_id: Option<Uuid>,
    /// The participant whose data it is, when the route names one.
    pub subject_id: Option<Uuid>,
    /// The caller's network address.
    pub address: Option<String>,
    /// The request's `X-Request-Id`.
    pub request_id: String,
    /// The HTTP status of the answer.
    pub outcome: u16,
    /// Why special-category data was (or may now be) read, where the operation is such a use: a programme's opt-in
    /// to matching on sensitive attributes, or a matching run that reads them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The previous entry's hash (`GENESIS` for the first).
    pub prev_hash: String,
    /// SHA-256 over the organisation, the sequence number, `prev_hash` and the entry's content.
    pub hash: String,
}

/// An entry before it has a place in the chain.
#[derive(Clone, Debug)]
pub struct AuditRecord {
    pub organisation_id: Uuid,
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    pub operation: String,
    pub resource_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub address: Option<String>,
    pub request_id: String,
    pub outcome: u16,
    pub purpose: Option<String>,
}

/// Set by a handler on its request (`HttpRequest::extensions_mut`) when the operation uses special-category data:
/// the audit entry of the request then states the purpose.
#[derive(Clone, Debug)]
pub struct AuditPurpose(pub String);

/// The hashed content of an entry: everything but its chain fields, in a fixed form.
#[derive(Serialize)]
struct Content<'a> {
    id: Uuid,
    at: &'a DateTime<Utc>,
    actor: &'a AuditActor,
    operation: &'a str,
    resource_id: Option<Uuid>,
    subject_id: Option<Uuid>,
    address: Option<&'a str>,
    request_id: &'a str,
    outcome: u16,
    // Absent from entries without one, so their hashes stay what they were before the field existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    purpose: Option<&'a str>,
}

/// The chain hash of an entry.
pub fn chain_hash(organisation_id: Uuid, seq: i64, prev_hash: &str, entry: &AuditEntry) -> String {
    let content = Content {
        id: entry.id,
        at: &entry.at,
        actor: &entry.actor,
        operation: &entry.operation,
        resource_id: entry.resource_id,
        subject_id: entry.subject_id,
        address: entry.address.as_deref(),
        request_id: &entry.request_id,
        outcome: entry.outcome,
        purpose: entry.purpose.as_deref(),
    };
    let content = serde_json::to_string(&content).unwrap_or_default();
    let digest = Sha256::new()
        .chain_update(organisation_id.as_bytes())
        .chain_update(seq.to_be_bytes())
        .chain_update(prev_hash.as_bytes())
        .chain_update(content.as_bytes())
        .finalize();
    hex::encode(digest)
}

/// Places a record after `(seq, hash)` in the chain.
pub fn link(record: &AuditRecord, prev_seq: i64, prev_hash: &str) -> AuditEntry {
    let mut entry = AuditEntry {
        id: record.id,
        seq: prev_seq + 1,
        at: record.at,
        actor: record.actor.clone(),
        operation: record.operation.clone(),
        resource_id: record.resource_id,
        subject_id: record.subject_id,
        address: record.address.clone(),
        request_id: record.request_id.clone(),
        outcome: record.outcome,
        purpose: record.purpose.clone(),
        prev_hash: prev_hash.to_string(),
        hash: String::new(),
    };
    entry.hash = chain_hash(record.organisation_id, entry.seq, prev_hash, &entry);
    entry
}

/// Where a chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Break {
    pub organisation_id: Uuid,
    pub seq: i64,
    pub reason: String,
}

/// Checks one organisation's chain, oldest first, ending at the head `(seq, hash)`. The first entry's `prev_hash`
/// is taken as given (retention may have removed what came before), every later one must link to its predecessor,
/// and every hash must be the hash of its entry.
pub fn verify_chain(organisation_id: Uuid, entries: &[AuditEntry], head: (i64, &str)) -> Result<(), Break> {
    let broken = |seq: i64, reason: &str| Break {
        organisation_id,
        seq,
        reason: reason.to_string(),
    };
    let mut previous: Option<&AuditEntry> = None;
    for entry in entries {
        if let Some(p) = previous {
            if entry.seq != p.seq + 1 {
                return Err(broken(entry.seq, "an entry is missing before this one"));
            }
            if entry.prev_hash != p.hash {
                return Err(broken(entry.seq, "does not link to the entry before it"));
            }
        }
        if chain_hash(organisation_id, entry.seq, &entry.prev_hash, entry) != entry.hash {
            return Err(broken(entry.seq, "its content does not match its hash"));
        }
        previous = Some(entry);
    }
    match previous {
        Some(last) if (last.seq, last.hash.as_str()) != head => Err(broken(
            last.seq,
            "the chain does not end at its recorded head (entries removed from the end)",
        )),
        None if head.0 != 0 && head.1 != GENESIS => Err(broken(head.0, "the entries up to the head are missing")),
        _ => Ok(()),
    }
}

/// What `upward audit verify` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub organisations: usize,
    pub entries: usize,
    pub ok: bool,
    pub breaks: Vec<Break>,
}

/// Verifies every organisation's chain.
pub async fn verify(db: &Db) -> crate::store::StoreResult<Verification> {
    let heads = db.audit_heads().await?;
    let mut report = Verification {
        organisations: heads.len(),
        entries: 0,
        ok: true,
        breaks: Vec::new(),
    };
    for (organisation_id, seq, hash) in heads {
        // Entries appended after the head was read are the next verification's.
        let mut entries = db.audit_chain(organisation_id).await?;
        entries.retain(|e| e.seq <= seq);
        report.entries += entries.len();
        if let Err(b) = verify_chain(organisation_id, &entries, (seq, &hash)) {
            report.ok = false;
            report.breaks.push(b);
        }
    }
    Ok(report)
}

/// Route templates whose answers carry people's data: a read of one of them is audited (unless the person reads
/// their own). Writes are audited whatever the route.
const PERSONAL_ROUTES: &[&str] = &[
    "/participants",
    "/enrolments",
    "/pairs",
    "/sessions",
    "/notes",
    "/learnings",
    "/stories",
    "/survey-requests",
    "/events",
    "/changes",
    "/matching-runs",
    "/deliveries",
    "/audit-log",
    // Aggregates, but of special-category data: who looks at them is worth keeping.
    "/metrics/breakdown",
];

/// Whether a request is audited: every authenticated write, and every read of people's data by anyone other than
/// the person it is about. A participant reading through their own token is the person (their pairs, their notes)
/// unless the route names another participant.
pub fn audited(method: &str, template: &str, role: &str, own: Option<Uuid>, named: Option<Uuid>) -> bool {
    if method != "GET" && method != "HEAD" {
        return true;
    }
    if !PERSONAL_ROUTES.iter().any(|r| template.contains(r)) {
        return false;
    }
    match role {
        "participant" => named.is_some_and(|named| Some(named) != own),
        _ => true,
    }
}

enum Message {
    Record(Box<AuditRecord>),
    Flush(oneshot::Sender<()>),
}

/// The instance's audit writer: requests queue their entries here and carry on; a task appends them in batches.
#[derive(Clone)]
pub struct AuditTrail {
    queue: mpsc::Sender<Message>,
}

/// How many entries may wait before requests wait for the writer (backpressure, not loss).
const QUEUE: usize = 10_000;
const BATCH: usize = 500;

impl AuditTrail {
    pub fn start(db: Db) -> AuditTrail {
        let (queue, mut inbox) = mpsc::channel::<Message>(QUEUE);
        tokio::spawn(async move {
            while let Some(first) = inbox.recv().await {
                let mut records = Vec::new();
                let mut waiting = Vec::new();
                let mut next = Some(first);
                while let Some(m) = next.take() {
                    match m {
                        Message::Record(r) => records.push(*r),
                        Message::Flush(done) => waiting.push(done),
                    }
                    if records.len() < BATCH {
                        next = inbox.try_recv().ok();
                    }
                }
                if !records.is_empty() {
                    write(&db, records).await;
                }
                for done in waiting {
                    let _ = done.send(());
                }
            }
        });
        AuditTrail { queue }
    }

    /// Queues an entry (waits only when the writer is 10,000 entries behind).
    pub async fn record(&self, record: AuditRecord) {
        let _ = self.queue.send(Message::Record(Box::new(record))).await;
    }

    /// Returns once everything queued before the call is written (before reading the trail).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

async fn write(db: &Db, records: Vec<AuditRecord>) {
    let mut by_organisation: std::collections::BTreeMap<Uuid, Vec<AuditRecord>> = Default::default();
    for r in records {
        by_organisation.entry(r.organisation_id).or_default().push(r);
    }
    for (organisation_id, records) in by_organisation {
        // A failed append is retried once (a lost race for the head, a moment of unavailability), then reported.
        if let Err(e) = db.append_audit(organisation_id, &records).await {
            tracing::warn!(error = %e, "appending to the audit trail failed; retrying");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if let Err(e) = db.append_audit(organisation_id, &records).await {
                tracing::error!(error = %e, %organisation_id, lost = records.len(), "audit entries could not be written");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u128) -> AuditRecord {
        AuditRecord {
            organisation_id: Uuid::from_u128(1),
            id: Uuid::from_u128(n),
            at: DateTime::from_timestamp(1_700_000_000 + n as i64, 0).unwrap(),
            actor: AuditActor {
                role: "org_admin".into(),
                subject: "client".into(),
                participant_id: None,
            },
            operation: "GET /v1/participants/{id}".into(),
            resource_id: Some(Uuid::from_u128(9)),
            subject_id: Some(Uuid::from_u128(9)),
            address: Some("127.0.0.1".into()),
            request_id: format!("r{n}"),
            outcome: 200,
            purpose: None,
        }
    }

    fn chain(n: u128) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 1..=n {
            let (seq, hash) = out.last().map_or((0, GENESIS.to_string()), |e| (e.seq, e.hash.clone()));
            out.push(link(&record(i), seq, &hash));
        }
        out
    }

    #[test]
    fn writes_and_reads_of_others_are_audited_and_reading_oneself_is_not() {
        let me = Uuid::from_u128(5);
        let other = Uuid::from_u128(6);
        let admin = |m, t| audited(m, t, "org_admin", None, None);
        assert!(admin("POST", "/v1/programmes"));
        assert!(admin("GET", "/v1/participants/{id}"));
        assert!(!admin("GET", "/v1/plugins"), "no personal data");
        let person = |t, named| audited("GET", t, "participant", Some(me), named);
        assert!(!person("/v1/participants/{id}", Some(me)));
        assert!(person("/v1/participants/{id}", Some(other)));
        assert!(!person("/v1/pairs/{id}/notes", None));
        assert!(audited("GET", "/v1/pairs/{id}", "programme_manager", Some(me), None));
    }

    #[test]
    fn an_intact_chain_verifies_and_any_edit_breaks_it() {
        let org = Uuid::from_u128(1);
        let entries = chain(4);
        let head = (4, entries[3].hash.as_str());
        assert_eq!(verify_chain(org, &entries, head), Ok(()));

        let mut edited = entries.clone();
        edited[1].outcome = 404;
        assert_eq!(verify_chain(org, &edited, head).unwrap_err().seq, 2);

        let mut stated = entries.clone();
        stated[1].purpose = Some("a purpose added afterwards".into());
        assert_eq!(
            verify_chain(org, &stated, head).unwrap_err().seq,
            2,
            "the purpose is covered"
        );

        let mut removed = entries.clone();
        removed.remove(2);
        assert_eq!(verify_chain(org, &removed, head).unwrap_err().seq, 4);

        let truncated = &entries[..3];
        assert!(
            verify_chain(org, truncated, head).is_err(),
            "a removed tail is seen through the head"
        );
        // Retention removes the oldest: what remains still verifies.
        assert_eq!(verify_chain(org, &entries[2..], head), Ok(()));
    }
}
