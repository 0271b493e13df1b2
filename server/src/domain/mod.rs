//! Business rules, one module per concept. Domain code knows nothing of HTTP: it takes a tenant [`Scope`] and a
//! command, checks the rules, writes through the store, appends the events it causes, and answers a
//! [`DomainError`] when it refuses.
//!
//! [`Scope`]: crate::store::Scope

pub mod audit;
pub mod calendar;
pub mod enrolments;
pub mod hris_connections;
pub mod hris_plan;
pub mod hris_syncs;
pub mod identity_providers;
pub mod inclusion;
pub mod journal;
pub mod matching_runs;
pub mod me;
pub mod metrics;
pub mod organisations;
pub mod outcomes;
pub mod pairs;
pub mod participant_imports;
pub mod participants;
pub mod plugins;
pub mod privacy;
pub mod programmes;
pub mod report;
pub mod retention;
pub mod role_reversion;
pub mod sessions;
pub mod special_category;
pub mod survey_scores;
pub mod surveys;
pub mod timed_events;
pub mod webhook_deliveries;
pub mod webhook_endpoints;

use crate::store::StoreError;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

/// Who acts, as the domain sees them: the rules of visibility and permission are written against this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The organisation's administrator: everything in the organisation.
    Admin,
    /// A participant acting as programme manager: the programmes that list them, and what is in them.
    Manager(Uuid),
    /// A participant acting for themselves.
    Participant(Uuid),
}

impl Actor {
    pub fn participant_id(self) -> Option<Uuid> {
        match self {
            Actor::Admin => None,
            Actor::Manager(id) | Actor::Participant(id) => Some(id),
        }
    }
}

/// A strong validator for HTTP caching and `If-Match`: changes with every write, reveals nothing.
pub fn etag(id: Uuid, version: i32) -> String {
    let digest = Sha256::new()
        .chain_update(id.as_bytes())
        .chain_update(version.to_be_bytes())
        .finalize();
    let hex = hex::encode(&digest[..10]);
    format!("\"{hex}\"")
}

/// Refuses a write whose `If-Match` does not name the current ETag (RFC 9110 §13.1.1: strong comparison, a list of
/// tags, or `*`).
pub fn check_if_match(current_etag: &str, if_match: Option<&str>) -> DomainResult<()> {
    match if_match {
        Some(header) if !etag_matches(header, current_etag) => Err(DomainError::PreconditionFailed),
        _ => Ok(()),
    }
}

pub fn etag_matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate == etag)
}

/// One field that failed validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct FieldError {
    /// The JSON path of the offending field, e.g. `email` or `languages[2]`.
    #[schema(example = "email")]
    pub field: String,
    /// A stable machine-readable reason.
    #[schema(example = "invalid_format")]
    pub code: String,
    /// A human-readable explanation.
    #[schema(example = "is not a valid email address")]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code: code.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The resource does not exist in this organisation (which is all another organisation's resources look like).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    /// The change collides with existing state, e.g. a unique email.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A state machine refused a move; `allowed` lists the states reachable from here.
    #[error("a {resource} cannot go from `{from}` to `{to}`")]
    IllegalTransition {
        resource: &'static str,
        from: String,
        to: String,
        allowed: Vec<String>,
    },
    /// A business rule refused the change (e.g. a pairing rule); each entry names the rule in its `code`.
    #[error("{0:?}")]
    RulesViolated(Vec<FieldError>),
    /// The caller may see the resource but not do this to it.
    #[error("{0}")]
    Forbidden(String),
    /// A plugin failed (trap, timeout, out of fuel or memory, malformed output, an error it returned).
    #[error("plugin {plugin}@{version} ({kind}) failed: {message}")]
    PluginFailed {
        plugin: String,
        version: String,
        kind: &'static str,
        outcome: String,
        message: String,
    },
    /// The caller's `If-Match` no longer matches the resource.
    #[error("the resource has changed since it was read")]
    PreconditionFailed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type DomainResult<T> = Result<T, DomainError>;

/// Collects field errors so a caller learns about every bad field at once, not one per round trip.
#[derive(Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_errors(self) -> Vec<FieldError> {
        self.0
    }

    pub fn into_result(self) -> DomainResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
}

/// Splits a page fetched with `limit + 1` rows into the page and whether more follow.
pub fn page<T>(mut rows: Vec<T>, limit: u64) -> (Vec<T>, bool) {
    let has_more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    (rows, has_more)
}

/// Trims a required text field and checks its length.
pub fn required_text(v: &mut Violations, field: &str, raw: &str, max: usize) -> String {
    let text = raw.trim().to_string();
    if text.is_empty() {
        v.add(field, "required", "must not be empty");
    } else if text.chars().count() > max {
        v.add(field, "too_long", format!("must be at most {max} characters"));
    }
    text
}

/// Trims an optional text field (blank becomes absent) and checks its length.
pub fn optional_text(v: &mut Violations, field: &str, raw: Option<String>, max: usize) -> Option<String> {
    let text = raw.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())?;
    if text.chars().count() > max {
        v.add(field, "too_long", format!("must be at most {max} characters"));
    }
    Some(text)
}

/// Trims each entry of a list of short labels (topics, goals), drops case-insensitive duplicates and checks sizes.
pub fn label_list(v: &mut Violations, field: &str, raw: Vec<String>, max_items: usize) -> Vec<String> {
    if raw.len() > max_items {
        v.add(field, "too_many", format!("at most {max_items} entries"));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, label) in raw.into_iter().enumerate() {
        let label = label.trim().to_string();
        if label.is_empty() {
            v.add(format!("{field}[{i}]"), "required", "must not be empty");
        } else if label.chars().count() > 100 {
            v.add(format!("{field}[{i}]"), "too_long", "must be at most 100 characters");
        } else if !out.iter().any(|l| l.to_lowercase() == label.to_lowercase()) {
            out.push(label);
        }
    }
    out
}

/// Applies an RFC 7396 JSON Merge Patch to `target`: members of an object patch replace, add or (when `null`) remove
/// the target's members, recursively; anything else replaces the target whole.
pub fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    use serde_json::Value;
    match patch {
        Value::Object(members) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let Value::Object(target) = target else { return };
            for (key, value) in members {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    merge_patch(target.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other,
    }
}

/// A PATCH of a nested settings object: the merge patch applied to the current value, read back as `T` (so a field
/// the patch does not name keeps its value, and `null` returns a field to its default). A result that does not fit
/// `T` is reported under `field`.
pub fn patched<T: serde::Serialize + serde::de::DeserializeOwned>(
    v: &mut Violations,
    field: &str,
    current: &T,
    patch: serde_json::Value,
) -> Option<T> {
    let mut merged = serde_json::to_value(current).ok()?;
    merge_patch(&mut merged, patch);
    match serde_path_to_error::deserialize::<_, T>(merged) {
        Ok(value) => Some(value),
        Err(e) => {
            let path = e.path().to_string();
            let at = if path == "." {
                field.to_string()
            } else {
                format!("{field}.{path}")
            };
            let message = e.inner().to_string();
            let code = if message.starts_with("unknown field") {
                "unknown_field"
            } else {
                "invalid_type"
            };
            v.add(at, code, message);
            None
        }
    }
}

/// Whether `list` holds `label`, ignoring case.
pub fn contains_label(list: &[String], label: &str) -> bool {
    let label = label.trim().to_lowercase();
    list.iter().any(|l| l.to_lowercase() == label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_patch_changes_only_what_it_names() {
        let mut target = serde_json::json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]});
        merge_patch(
            &mut target,
            serde_json::json!({"b": {"c": null, "x": 9}, "e": [3], "f": "new"}),
        );
        assert_eq!(
            target,
            serde_json::json!({"a": 1, "b": {"d": 3, "x": 9}, "e": [3], "f": "new"})
        );
    }

    #[test]
    fn etag_matching_is_strong_and_accepts_lists() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("W/\"abc\"", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }
}
