//! The diff of an HRIS sync, computed in memory from the directory's records and the organisation's participants,
//! without touching the database — so a dry run and the sync that follows it compute the very same changes.
//!
//! Records are matched by `external_id` (or, once, by the email of a participant who has no external id yet);
//! each record is checked like an API write and a bad one is reported and left out, never fatal. Managers are
//! linked by external id whatever order records arrive in; a link to an unknown manager, or one that would close a
//! reporting cycle, is reported and the participant keeps the manager they had. Leavers are records marked inactive
//! and participants with an external id the directory no longer lists.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::participants::{self, Participant, REPORTING_LINE_MAX_DEPTH, TEXT_MAX};
use super::{FieldError, Violations, optional_text, required_text};
use crate::plugins::connector::EmployeeDoc;
use crate::store;

/// Why a participant leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The directory lists them as inactive.
    InactiveInDirectory,
    /// The directory no longer lists their `external_id`.
    MissingFromDirectory,
}

/// One field a sync changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"field": "job_title", "from": "Engineer", "to": "Senior Engineer"}))]
pub struct FieldChange {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// One entry of a sync's diff.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[schema(example = json!({"kind": "update", "external_id": "E-1001", "participant_id": "01936b2e-8f4a-7c3d-9a1b-2c3d4e5f6a7b",
    "changes": [{"field": "job_title", "from": "Engineer", "to": "Senior Engineer"}]}))]
pub enum SyncChange {
    /// A new joiner. `participant_id` is the participant created (absent in a dry run).
    Create {
        external_id: String,
        participant_id: Option<Uuid>,
        /// The participant's fields as created: email, display_name, department, job_title, level, location,
        /// timezone, active.
        #[schema(value_type = Object)]
        fields: serde_json::Map<String, Value>,
        manager_external_id: Option<String>,
    },
    /// A participant whose fields change (a returning employee shows `active` going to `true`).
    Update {
        external_id: String,
        participant_id: Uuid,
        changes: Vec<FieldChange>,
    },
    /// A leaver: deactivated, and their active pairs paused (reason `participant_left`).
    Deactivate {
        external_id: String,
        participant_id: Uuid,
        reason: LeaveReason,
        /// Other fields the directory changed at the same time.
        changes: Vec<FieldChange>,
        pairs_to_pause: Vec<Uuid>,
    },
    /// A participant's manager changes (external ids; `from_manager_id` is the current manager).
    ManagerLink {
        external_id: String,
        participant_id: Uuid,
        from_manager_id: Option<Uuid>,
        from: Option<String>,
        to: Option<String>,
    },
    /// A record in error. `skipped`: the record was left out entirely (otherwise only its manager link was).
    Error {
        external_id: Option<String>,
        email: Option<String>,
        skipped: bool,
        errors: Vec<FieldError>,
        /// The record's line in an imported file (1 is the first line; a CSV's header is line 1). Absent for a
        /// directory read by a connector.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u64>,
    },
}

impl SyncChange {
    pub fn kind(&self) -> &'static str {
        match self {
            SyncChange::Create { .. } => "create",
            SyncChange::Update { .. } => "update",
            SyncChange::Deactivate { .. } => "deactivate",
            SyncChange::ManagerLink { .. } => "manager_link",
            SyncChange::Error { .. } => "error",
        }
    }
}

/// How a participant is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Create,
    Update,
    Reactivate,
    Deactivate,
}

/// One participant's write, with the diff entries that describe it.
#[derive(Clone, Debug)]
pub struct Op {
    pub kind: OpKind,
    pub current: Option<Participant>,
    pub next: Participant,
    pub changes: Vec<SyncChange>,
}

#[derive(Debug, Default)]
pub struct Plan {
    /// New joiners (managers before their reports), then updates, then leavers.
    pub ops: Vec<Op>,
    pub errors: Vec<SyncChange>,
    pub records: usize,
    pub unchanged: usize,
    /// Inactive records of people who were never participants: nothing to do.
    pub skipped: usize,
}

struct Target {
    index: Option<usize>,
    id: Uuid,
    external_id: String,
    email: String,
    display_name: String,
    department: Option<String>,
    job_title: Option<String>,
    level: Option<i32>,
    location: Option<String>,
    timezone: Option<String>,
    active: bool,
    manager_external_id: Option<String>,
    manager_id: Option<Uuid>,
}

fn error(record: &EmployeeDoc, line: Option<u64>, skipped: bool, errors: Vec<FieldError>) -> SyncChange {
    SyncChange::Error {
        external_id: Some(record.external_id.clone()).filter(|e| !e.trim().is_empty()),
        email: Some(record.email.clone()),
        skipped,
        errors,
        line,
    }
}

/// The diff that brings `existing` in line with the directory's `records`.
pub fn plan(existing: Vec<Participant>, records: Vec<EmployeeDoc>) -> Plan {
    plan_lines(existing, records.into_iter().map(|r| (None, r)).collect())
}

/// [`plan`] for records read from a file: each error names its record's line.
pub fn plan_lines(existing: Vec<Participant>, records: Vec<(Option<u64>, EmployeeDoc)>) -> Plan {
    let mut plan = Plan {
        records: records.len(),
        ..Plan::default()
    };
    let by_external: HashMap<&str, usize> = existing
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((p.external_id.as_deref()?, i)))
        .collect();
    let by_email: HashMap<&str, usize> = existing
        .iter()
        .enumerate()
        .map(|(i, p)| (p.email.as_str(), i))
        .collect();

    // Listed: every external id the directory named, even in a bad record (a bad record is no leaver).
    let mut listed: HashSet<String> = HashSet::new();
    let mut emails: HashSet<String> = HashSet::new();
    let mut claimed: HashSet<usize> = HashSet::new();
    let mut targets: Vec<Target> = Vec::new();
    let mut record_of: Vec<(Option<u64>, EmployeeDoc)> = Vec::new();
    for (line, record) in records {
        let external_id = record.external_id.trim().to_string();
        if external_id.is_empty() {
            let e = FieldError::new("external_id", "required", "every record needs an external_id");
            plan.errors.push(error(&record, line, true, vec![e]));
            continue;
        }
        if !listed.insert(external_id.clone()) {
            let e = FieldError::new(
                "external_id",
                "duplicate_external_id",
                "the directory lists this external_id more than once; the first record was used",
            );
            plan.errors.push(error(&record, line, true, vec![e]));
            continue;
        }
        let mut v = Violations::default();
        if external_id.chars().count() > TEXT_MAX {
            v.add(
                "external_id",
                "too_long",
                format!("must be at most {TEXT_MAX} characters"),
            );
        }
        let email = participants::check_email(&mut v, &record.email);
        let display_name = required_text(&mut v, "name", &record.name, TEXT_MAX);
        let department = optional_text(&mut v, "department", record.department.clone(), TEXT_MAX);
        let job_title = optional_text(&mut v, "title", record.title.clone(), TEXT_MAX);
        let location = optional_text(&mut v, "location", record.location.clone(), TEXT_MAX);
        if let Some(level) = record.level {
            participants::check_level(&mut v, level);
        }
        let timezone = participants::check_timezone(&mut v, record.timezone.clone());
        let index = by_external.get(external_id.as_str()).copied().or_else(|| {
            // A participant added by hand before the directory was connected is adopted by email, once.
            by_email
                .get(email.as_str())
                .copied()
                .filter(|&i| existing[i].external_id.is_none() && !claimed.contains(&i))
        });
        if v.is_empty() {
            if !emails.insert(email.clone()) {
                v.add(
                    "email",
                    "duplicate_email",
                    "another record of the directory has this email",
                );
            } else if let Some(&holder) = by_email.get(email.as_str())
                && Some(holder) != index
            {
                v.add(
                    "email",
                    "email_taken",
                    "another participant of this organisation has this email",
                );
            }
        }
        if !v.is_empty() {
            plan.errors.push(error(&record, line, true, v.into_errors()));
            continue;
        }
        if index.is_none() && !record.active {
            plan.skipped += 1;
            continue;
        }
        if let Some(i) = index {
            claimed.insert(i);
        }
        targets.push(Target {
            index,
            id: index.map(|i| existing[i].id).unwrap_or_else(store::new_id),
            external_id,
            email,
            display_name,
            department,
            job_title,
            level: record.level,
            location,
            timezone,
            active: record.active,
            manager_external_id: record.manager_external_id.as_deref().map(str::trim).map(str::to_string),
            manager_id: None,
        });
        record_of.push((line, record));
    }

    // Managers by external id, in any order of arrival: every participant the organisation will have.
    let mut id_of: HashMap<String, Uuid> = existing
        .iter()
        .filter_map(|p| Some((p.external_id.clone()?, p.id)))
        .collect();
    for t in &targets {
        id_of.insert(t.external_id.clone(), t.id);
    }
    let current_manager = |t: &Target| t.index.and_then(|i| existing[i].manager_id);
    let mut link_errors: HashMap<usize, FieldError> = HashMap::new();
    for (k, t) in targets.iter_mut().enumerate() {
        let current = t.index.and_then(|i| existing[i].manager_id);
        t.manager_id = match t.manager_external_id.as_deref().filter(|m| !m.is_empty()) {
            None => None,
            Some(m) if m == t.external_id => {
                link_errors.insert(
                    k,
                    FieldError::new(
                        "manager_external_id",
                        "reporting_cycle",
                        "a participant cannot be their own manager",
                    ),
                );
                current
            }
            Some(m) => match id_of.get(m) {
                Some(&id) => Some(id),
                None => {
                    link_errors.insert(
                        k,
                        FieldError::new(
                            "manager_external_id",
                            "unknown_manager",
                            format!("no participant or record has the external_id {m:?}"),
                        ),
                    );
                    current
                }
            },
        };
    }

    // Cycles: walk up from every changed link; a walk that comes back closes a loop, and every changed link on it
    // goes back to what it was. The current chart has no cycle, so going back always ends.
    let mut manager_of: HashMap<Uuid, Option<Uuid>> = existing.iter().map(|p| (p.id, p.manager_id)).collect();
    let position: HashMap<Uuid, usize> = targets.iter().enumerate().map(|(k, t)| (t.id, k)).collect();
    for t in &targets {
        manager_of.insert(t.id, t.manager_id);
    }
    loop {
        let mut reverted = false;
        for k in 0..targets.len() {
            let start = targets[k].id;
            if targets[k].manager_id == current_manager(&targets[k]) {
                continue;
            }
            let mut path = vec![start];
            let mut cursor = manager_of.get(&start).copied().flatten();
            let mut cycle = false;
            while let Some(up) = cursor {
                if up == start {
                    cycle = true;
                    break;
                }
                if path.len() > REPORTING_LINE_MAX_DEPTH {
                    break;
                }
                path.push(up);
                cursor = manager_of.get(&up).copied().flatten();
            }
            if !cycle {
                continue;
            }
            for id in path {
                let Some(&j) = position.get(&id) else { continue };
                let back = current_manager(&targets[j]);
                if targets[j].manager_id != back {
                    targets[j].manager_id = back;
                    manager_of.insert(id, back);
                    link_errors.insert(
                        j,
                        FieldError::new(
                            "manager_external_id",
                            "reporting_cycle",
                            "this manager link would close a reporting cycle; the participant keeps their manager",
                        ),
                    );
                    reverted = true;
                }
            }
        }
        if !reverted {
            break;
        }
    }
    let mut link_errors: Vec<(usize, FieldError)> = link_errors.into_iter().collect();
    link_errors.sort_by_key(|(k, _)| *k);
    for (k, e) in link_errors {
        let (line, record) = &record_of[k];
        plan.errors.push(error(record, *line, false, vec![e]));
    }

    // The writes.
    let external_of: HashMap<Uuid, String> = existing
        .iter()
        .filter_map(|p| Some((p.id, p.external_id.clone()?)))
        .chain(targets.iter().map(|t| (t.id, t.external_id.clone())))
        .collect();
    let now = store::now();
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    let mut leavers = Vec::new();
    for t in &targets {
        match t.index {
            None => {
                let next = Participant {
                    id: t.id,
                    external_id: Some(t.external_id.clone()),
                    email: t.email.clone(),
                    display_name: t.display_name.clone(),
                    department: t.department.clone(),
                    job_title: t.job_title.clone(),
                    level: t.level.unwrap_or(participants::LEVEL_MIN),
                    manager_id: t.manager_id,
                    location: t.location.clone(),
                    timezone: t.timezone.clone(),
                    languages: Vec::new(),
                    attributes: Default::default(),
                    active: t.active,
                    left_at: None,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                let fields = json!({
                    "email": next.email, "display_name": next.display_name, "department": next.department,
                    "job_title": next.job_title, "level": next.level, "location": next.location,
                    "timezone": next.timezone, "active": next.active,
                });
                let change = SyncChange::Create {
                    external_id: t.external_id.clone(),
                    participant_id: None,
                    fields: fields.as_object().cloned().unwrap_or_default(),
                    manager_external_id: t.manager_id.and_then(|m| external_of.get(&m).cloned()),
                };
                creates.push(Op {
                    kind: OpKind::Create,
                    current: None,
                    next,
                    changes: vec![change],
                });
            }
            Some(i) => {
                let current = &existing[i];
                let mut next = current.clone();
                next.external_id = Some(t.external_id.clone());
                next.email = t.email.clone();
                next.display_name = t.display_name.clone();
                next.department = t.department.clone();
                next.job_title = t.job_title.clone();
                next.level = t.level.unwrap_or(current.level);
                next.location = t.location.clone();
                next.timezone = t.timezone.clone();
                next.manager_id = t.manager_id;
                next.active = t.active;
                if next == *current {
                    plan.unchanged += 1;
                    continue;
                }
                let kind = match (current.active, next.active) {
                    (true, false) => OpKind::Deactivate,
                    (false, true) => OpKind::Reactivate,
                    _ => OpKind::Update,
                };
                let mut changes = field_changes(current, &next, kind != OpKind::Deactivate);
                let mut entries = Vec::new();
                if kind == OpKind::Deactivate {
                    entries.push(SyncChange::Deactivate {
                        external_id: t.external_id.clone(),
                        participant_id: current.id,
                        reason: LeaveReason::InactiveInDirectory,
                        changes: std::mem::take(&mut changes),
                        pairs_to_pause: Vec::new(),
                    });
                } else if !changes.is_empty() {
                    entries.push(SyncChange::Update {
                        external_id: t.external_id.clone(),
                        participant_id: current.id,
                        changes,
                    });
                }
                if next.manager_id != current.manager_id {
                    entries.push(SyncChange::ManagerLink {
                        external_id: t.external_id.clone(),
                        participant_id: current.id,
                        from_manager_id: current.manager_id,
                        from: current.manager_id.and_then(|m| external_of.get(&m).cloned()),
                        to: next.manager_id.and_then(|m| external_of.get(&m).cloned()),
                    });
                }
                let op = Op {
                    kind,
                    current: Some(current.clone()),
                    next,
                    changes: entries,
                };
                if kind == OpKind::Deactivate {
                    leavers.push(op);
                } else {
                    updates.push(op);
                }
            }
        }
    }
    for p in &existing {
        if let Some(external_id) = &p.external_id
            && p.active
            && !listed.contains(external_id)
        {
            leavers.push(Op {
                kind: OpKind::Deactivate,
                current: Some(p.clone()),
                next: Participant {
                    active: false,
                    ..p.clone()
                },
                changes: vec![SyncChange::Deactivate {
                    external_id: external_id.clone(),
                    participant_id: p.id,
                    reason: LeaveReason::MissingFromDirectory,
                    changes: Vec::new(),
                    pairs_to_pause: Vec::new(),
                }],
            });
        }
    }
    managers_first(&mut creates);
    plan.ops = creates;
    plan.ops.extend(updates);
    plan.ops.extend(leavers);
    plan
}

/// Orders new joiners so that a manager is created before their reports (by depth among the new joiners), so no
/// `participant.created` event names a manager that does not exist yet.
fn managers_first(creates: &mut [Op]) {
    let manager: HashMap<Uuid, Option<Uuid>> = creates.iter().map(|o| (o.next.id, o.next.manager_id)).collect();
    let depth = |mut id: Uuid| {
        let mut d = 0usize;
        while let Some(Some(up)) = manager.get(&id) {
            d += 1;
            if d > REPORTING_LINE_MAX_DEPTH {
                break;
            }
            id = *up;
        }
        d
    };
    let depths: HashMap<Uuid, usize> = creates.iter().map(|o| (o.next.id, depth(o.next.id))).collect();
    creates.sort_by_key(|o| depths[&o.next.id]);
}

fn field_changes(current: &Participant, next: &Participant, with_active: bool) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let mut diff = |field: &str, from: Value, to: Value| {
        if from != to {
            changes.push(FieldChange {
                field: field.into(),
                from,
                to,
            });
        }
    };
    diff("external_id", json!(current.external_id), json!(next.external_id));
    diff("email", json!(current.email), json!(next.email));
    diff("display_name", json!(current.display_name), json!(next.display_name));
    diff("department", json!(current.department), json!(next.department));
    diff("job_title", json!(current.job_title), json!(next.job_title));
    diff("level", json!(current.level), json!(next.level));
    diff("location", json!(current.location), json!(next.location));
    diff("timezone", json!(current.timezone), json!(next.timezone));
    if with_active {
        diff("active", json!(current.active), json!(next.active));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, manager: Option<&str>) -> EmployeeDoc {
        EmployeeDoc {
            external_id: id.into(),
            email: format!("{}@example.com", id.to_lowercase()),
            name: id.into(),
            department: None,
            title: None,
            level: Some(3),
            manager_external_id: manager.map(str::to_string),
            location: None,
            timezone: None,
            active: true,
        }
    }

    fn applied(plan: &Plan) -> Vec<Participant> {
        plan.ops.iter().map(|o| o.next.clone()).collect()
    }

    #[test]
    fn managers_link_in_any_order_and_a_second_plan_is_empty() {
        let records = vec![record("C", Some("B")), record("B", Some("A")), record("A", None)];
        let first = plan(Vec::new(), records.clone());
        assert_eq!(first.ops.len(), 3);
        assert!(first.errors.is_empty());
        // Managers first.
        let order: Vec<_> = first.ops.iter().map(|o| o.next.external_id.clone().unwrap()).collect();
        assert_eq!(order, ["A", "B", "C"]);
        let again = plan(applied(&first), records);
        assert!(again.ops.is_empty(), "{:?}", again.ops);
        assert_eq!(again.unchanged, 3);
    }

    #[test]
    fn a_cycle_is_reported_and_the_old_links_stay() {
        let start = plan(Vec::new(), vec![record("A", None), record("B", Some("A"))]);
        let people = applied(&start);
        // The directory now says A reports to B: a loop.
        let next = plan(people, vec![record("A", Some("B")), record("B", Some("A"))]);
        assert!(next.ops.is_empty());
        assert_eq!(next.errors.len(), 1);
        let SyncChange::Error { errors, skipped, .. } = &next.errors[0] else {
            panic!()
        };
        assert!(!skipped);
        assert_eq!(errors[0].code, "reporting_cycle");
    }
}
