//! Special-category data (GDPR Art. 9): protected characteristics — ethnicity, disability, gender identity, age band
//! and the like — kept apart from a participant's ordinary `attributes`. They are written only with a consent record
//! (when it was given, for what purpose), sealed at rest, readable only by org_admins and the person, and never part
//! of the participant resource — so never in events, webhooks, HRIS diffs or plugin inputs. Writing them emits no
//! event on purpose: the fact that someone recorded a disability is itself special-category information.

use chrono::{DateTime, Duration, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{DomainError, DomainResult, Violations};
use crate::store::{self, Scope};

const MAX_KEYS: usize = 50;
const MAX_TEXT: usize = 200;
const MAX_PURPOSE: usize = 500;

/// The person's consent to keeping these attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// When the person gave it (not in the future).
    pub given_at: DateTime<Utc>,
    /// What the attributes are kept for, in the words the person agreed to.
    #[schema(
        example = "Inclusion reporting for the 2027 reverse-mentoring programme",
        max_length = 500
    )]
    pub purpose: String,
}

/// The body of `PUT /v1/participants/{id}/sensitive-attributes`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "attributes": {"ethnicity": "Black British", "age_band": "18-24"},
    "consent": {"given_at": "2026-11-30T10:00:00Z", "purpose": "Inclusion reporting for the 2027 programme"}
}))]
pub struct WriteSensitiveAttributes {
    /// Names to text, number or boolean values (at most 50; text at most 200 characters).
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    pub consent: Consent,
}

/// A participant's special-category attributes and the consent they are kept under. Every participant has this
/// record; while nothing is recorded (or after consent was withdrawn) it is empty, with no consent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SensitiveAttributes {
    pub participant_id: Uuid,
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    pub consent: Option<Consent>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl SensitiveAttributes {
    fn empty(participant_id: Uuid) -> SensitiveAttributes {
        SensitiveAttributes {
            participant_id,
            attributes: Map::new(),
            consent: None,
            updated_at: None,
        }
    }

    /// Whether anything is recorded.
    pub fn is_recorded(&self) -> bool {
        self.consent.is_some()
    }
}

fn validate(cmd: &WriteSensitiveAttributes, now: DateTime<Utc>) -> DomainResult<()> {
    let mut v = Violations::default();
    if cmd.attributes.len() > MAX_KEYS {
        v.add("attributes", "too_many", format!("at most {MAX_KEYS} attributes"));
    }
    for (key, value) in &cmd.attributes {
        let field = format!("attributes.{key}");
        if key.trim().is_empty() || key.chars().count() > 100 {
            v.add(&field, "invalid_name", "names are 1 to 100 characters");
        }
        match value {
            Value::String(text) if text.chars().count() > MAX_TEXT => {
                v.add(&field, "too_long", format!("at most {MAX_TEXT} characters"))
            }
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
            _ => v.add(&field, "invalid_type", "must be text, a number or a boolean"),
        }
    }
    let purpose = cmd.consent.purpose.trim();
    if purpose.is_empty() {
        v.add("consent.purpose", "required", "say what the attributes are kept for");
    } else if purpose.chars().count() > MAX_PURPOSE {
        v.add(
            "consent.purpose",
            "too_long",
            format!("at most {MAX_PURPOSE} characters"),
        );
    }
    if cmd.consent.given_at > now + Duration::minutes(5) {
        v.add(
            "consent.given_at",
            "in_the_future",
            "consent cannot be given in the future",
        );
    }
    v.into_result()
}

/// Records (replaces) the person's attributes with their consent.
pub async fn write<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    sealer: &crate::secrets::SecretBox,
    participant_id: Uuid,
    cmd: WriteSensitiveAttributes,
) -> DomainResult<SensitiveAttributes> {
    let now = store::now();
    validate(&cmd, now)?;
    scope
        .participant(participant_id)
        .await?
        .ok_or(DomainError::NotFound("participant"))?;
    let record = SensitiveAttributes {
        participant_id,
        attributes: cmd.attributes,
        consent: Some(Consent {
            given_at: cmd.consent.given_at,
            purpose: cmd.consent.purpose.trim().to_string(),
        }),
        updated_at: Some(now),
    };
    let sealed = sealer.seal_value(&serde_json::to_value(&record).unwrap_or(Value::Null));
    scope.set_sensitive_attributes(participant_id, Some(sealed)).await?;
    Ok(record)
}

/// The person's attributes (empty when none are recorded).
pub async fn read<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    sealer: &crate::secrets::SecretBox,
    participant_id: Uuid,
) -> DomainResult<SensitiveAttributes> {
    scope
        .participant(participant_id)
        .await?
        .ok_or(DomainError::NotFound("participant"))?;
    let Some(sealed) = scope.sensitive_attributes(participant_id).await? else {
        return Ok(SensitiveAttributes::empty(participant_id));
    };
    open(sealer, participant_id, &sealed)
}

/// Opens a participant's sealed record.
pub fn open(
    sealer: &crate::secrets::SecretBox,
    participant_id: Uuid,
    sealed: &str,
) -> DomainResult<SensitiveAttributes> {
    let corrupt = |e: String| store::StoreError::Corrupt(format!("sensitive attributes of {participant_id}: {e}"));
    let value = sealer.open_value(sealed).map_err(|e| corrupt(e.to_string()))?;
    serde_json::from_value(value).map_err(|e| corrupt(e.to_string()).into())
}

/// What a matcher may see of a person's record under a programme's opt-in: the named attributes they recorded with
/// consent (`None` when they recorded none of them).
pub fn for_matching(
    recorded: &SensitiveAttributes,
    opt_in: &super::programmes::SpecialCategoryMatching,
) -> Option<Map<String, Value>> {
    recorded.consent.as_ref()?;
    let named: Map<String, Value> = recorded
        .attributes
        .iter()
        .filter(|(name, _)| opt_in.attributes.contains(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    (!named.is_empty()).then_some(named)
}

/// Removes them (consent withdrawn); removing nothing is no error.
pub async fn remove<C: ConnectionTrait>(scope: &Scope<'_, C>, participant_id: Uuid) -> DomainResult<()> {
    scope
        .participant(participant_id)
        .await?
        .ok_or(DomainError::NotFound("participant"))?;
    scope.set_sensitive_attributes(participant_id, None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attributes_need_a_purpose_past_consent_and_plain_values() {
        let now = Utc::now();
        let cmd = |attributes: Value, purpose: &str, given_at: DateTime<Utc>| WriteSensitiveAttributes {
            attributes: attributes.as_object().unwrap().clone(),
            consent: Consent {
                given_at,
                purpose: purpose.into(),
            },
        };
        assert!(validate(&cmd(json!({"age_band": "18-24"}), "reporting", now), now).is_ok());
        assert!(validate(&cmd(json!({"age_band": "18-24"}), "  ", now), now).is_err());
        assert!(validate(&cmd(json!({"a": 1}), "reporting", now + Duration::days(1)), now).is_err());
        assert!(validate(&cmd(json!({"nested": {"x": 1}}), "reporting", now), now).is_err());
    }

    #[test]
    fn a_matcher_sees_only_the_named_attributes_recorded_with_consent() {
        let opt_in = crate::domain::programmes::SpecialCategoryMatching {
            attributes: vec!["first_generation".into(), "age_band".into()],
            purpose: "pairing".into(),
        };
        let mut recorded = SensitiveAttributes::empty(Uuid::nil());
        recorded.attributes = json!({"first_generation": true, "ethnicity": "x"})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(for_matching(&recorded, &opt_in), None, "no consent, nothing");
        recorded.consent = Some(Consent {
            given_at: Utc::now(),
            purpose: "inclusion".into(),
        });
        assert_eq!(
            for_matching(&recorded, &opt_in),
            Some(json!({"first_generation": true}).as_object().unwrap().clone())
        );
        recorded.attributes = json!({"ethnicity": "x"}).as_object().unwrap().clone();
        assert_eq!(for_matching(&recorded, &opt_in), None);
    }
}
