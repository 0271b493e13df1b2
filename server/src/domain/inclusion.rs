//! Inclusion figures: a programme's figures broken down by one special-category attribute (who took part, who was
//! paired, who reached the target, who left), so HR can see whether the programme serves the groups it was set up
//! for — without the figures pointing at anyone. A group of fewer than k people (`UPWARD_MIN_GROUP_SIZE`, default 5)
//! is suppressed, not rounded; when exactly one group is suppressed, the next smallest is too, so no suppressed group
//! can be worked out by subtracting the others from the programme's totals (secondary suppression).

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::enrolments::EnrolmentRole;
use super::pairs::PairState;
use super::{Actor, DomainResult, Violations, programmes};
use crate::store::{self, Scope};

/// The figures of one group: the people whose attribute has one value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct GroupFigures {
    /// The attribute's value as text (numbers and booleans as written); `null` for the people who recorded none.
    pub value: Option<String>,
    /// Whether the group's figures are withheld (fewer than `min_group_size` people, or needed to protect another
    /// such group); all its figures are then `null`.
    pub suppressed: bool,
    /// People enrolled in the programme (any state).
    pub participants: Option<u64>,
    pub mentors: Option<u64>,
    pub mentees: Option<u64>,
    /// People in a pair that started (active, paused or completed).
    pub paired: Option<u64>,
    /// People in a pair that held its target number of sessions.
    pub reached_target: Option<u64>,
    /// Sessions held by the pairs of the group's people (a pair counts in each side's group).
    pub sessions_held: Option<u64>,
    /// People who have left the organisation.
    pub left: Option<u64>,
}

impl GroupFigures {
    fn withhold(&mut self) {
        *self = GroupFigures {
            value: self.value.take(),
            suppressed: true,
            ..GroupFigures::default()
        };
    }
}

/// `GET /v1/programmes/{id}/metrics/breakdown`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "programme_id": "01936b2e-1111-7000-8000-000000000001", "attribute": "first_generation_graduate", "min_group_size": 5,
    "groups": [
        {"value": "true", "suppressed": false, "participants": 12, "mentors": 11, "mentees": 1, "paired": 10, "reached_target": 7, "sessions_held": 58, "left": 1},
        {"value": "false", "suppressed": true, "participants": null, "mentors": null, "mentees": null, "paired": null, "reached_target": null, "sessions_held": null, "left": null},
        {"value": null, "suppressed": true, "participants": null, "mentors": null, "mentees": null, "paired": null, "reached_target": null, "sessions_held": null, "left": null}
    ]
}))]
pub struct Breakdown {
    pub programme_id: Uuid,
    pub attribute: String,
    /// k: the smallest group reported.
    pub min_group_size: u64,
    /// One entry per value, largest group first; the people with no value (none recorded, or no consent) last.
    pub groups: Vec<GroupFigures>,
}

/// Withholds every group under `k` people and, when that leaves exactly one group withheld among several, the
/// smallest remaining one too.
pub fn suppress(groups: &mut [GroupFigures], k: u64) {
    let mut withheld = 0;
    for group in groups.iter_mut() {
        if group.participants.unwrap_or(0) < k {
            group.withhold();
            withheld += 1;
        }
    }
    if withheld == 1 && groups.len() > 1 {
        let smallest = groups
            .iter_mut()
            .filter(|g| !g.suppressed)
            .min_by_key(|g| g.participants.unwrap_or(0));
        if let Some(group) = smallest {
            group.withhold();
        }
    }
}

/// The text of an attribute value, as groups are keyed.
fn group_key(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The programme's figures by the values of `attribute` (org_admins and the programme's managers).
pub async fn breakdown<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
    attribute: &str,
    k: u64,
) -> DomainResult<Breakdown> {
    let mut v = Violations::default();
    if attribute.trim().is_empty() || attribute.chars().count() > 100 {
        v.add("attribute", "invalid_name", "names are 1 to 100 characters");
    }
    v.into_result()?;
    let programme = programmes::managed(scope, actor, programme_id).await?;
    let sealer = crate::secrets::installed().map_err(|e| store::StoreError::Corrupt(e.to_string()))?;

    // Everyone who enrolled, in any state (a withdrawn person took part), with their roles.
    let mut roles: HashMap<Uuid, (bool, bool)> = HashMap::new();
    let mut after = None;
    loop {
        let page = scope
            .list_enrolments(Some(programme.id), &Default::default(), after, 1000)
            .await?;
        for e in &page {
            let entry = roles.entry(e.participant_id).or_default();
            match e.role {
                EnrolmentRole::Mentor => entry.0 = true,
                EnrolmentRole::Mentee => entry.1 = true,
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = Some(last.id),
            _ => break,
        }
    }
    let ids: Vec<Uuid> = roles.keys().copied().collect();
    let sealed = scope.sensitive_attributes_of(&ids).await?;
    let mut value_of: HashMap<Uuid, Option<String>> = HashMap::new();
    for (id, sealed) in sealed {
        let record = sealer
            .open_value(&sealed)
            .map_err(|e| store::StoreError::Corrupt(format!("sensitive attributes of {id}: {e}")))?;
        let consented = record.get("consent").is_some_and(|c| !c.is_null());
        let value = record
            .get("attributes")
            .and_then(|a| a.get(attribute))
            .filter(|_| consented)
            .and_then(group_key);
        value_of.insert(id, value);
    }
    let left = scope.leavers_among(&ids).await?;

    let mut groups: BTreeMap<Option<String>, GroupFigures> = BTreeMap::new();
    let group_of = |id: &Uuid| value_of.get(id).cloned().flatten();
    for (id, (mentor, mentee)) in &roles {
        let key = group_of(id);
        let g = groups.entry(key.clone()).or_insert_with(|| GroupFigures {
            value: key,
            ..GroupFigures::default()
        });
        *g.participants.get_or_insert(0) += 1;
        *g.mentors.get_or_insert(0) += u64::from(*mentor);
        *g.mentees.get_or_insert(0) += u64::from(*mentee);
        *g.left.get_or_insert(0) += u64::from(left.contains(id));
        g.paired.get_or_insert(0);
        g.reached_target.get_or_insert(0);
        g.sessions_held.get_or_insert(0);
    }
    // A person counts once as paired (or as reaching the target) however many of their pairs did.
    let mut paired: HashSet<Uuid> = HashSet::new();
    let mut reached: HashSet<Uuid> = HashSet::new();
    for pair in scope.pairs_of_programme(programme.id).await? {
        let started = matches!(pair.state, PairState::Active | PairState::Paused | PairState::Completed);
        for person in [pair.mentor.participant_id, pair.mentee.participant_id] {
            if !roles.contains_key(&person) {
                continue;
            }
            if let Some(g) = groups.get_mut(&group_of(&person)) {
                *g.sessions_held.get_or_insert(0) += pair.commitment.sessions_held.max(0) as u64;
            }
            if started {
                paired.insert(person);
                if pair.commitment.target_reached {
                    reached.insert(person);
                }
            }
        }
    }
    for id in roles.keys() {
        if let Some(g) = groups.get_mut(&group_of(id)) {
            *g.paired.get_or_insert(0) += u64::from(paired.contains(id));
            *g.reached_target.get_or_insert(0) += u64::from(reached.contains(id));
        }
    }
    let mut groups: Vec<GroupFigures> = groups.into_values().collect();
    groups.sort_by(|a, b| {
        (a.value.is_none(), std::cmp::Reverse(a.participants), &a.value).cmp(&(
            b.value.is_none(),
            std::cmp::Reverse(b.participants),
            &b.value,
        ))
    });
    suppress(&mut groups, k);
    Ok(Breakdown {
        programme_id: programme.id,
        attribute: attribute.to_string(),
        min_group_size: k,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(value: &str, people: u64) -> GroupFigures {
        GroupFigures {
            value: Some(value.into()),
            participants: Some(people),
            mentors: Some(people),
            mentees: Some(0),
            paired: Some(people),
            reached_target: Some(0),
            sessions_held: Some(people * 3),
            left: Some(0),
            suppressed: false,
        }
    }

    fn shown(groups: &[GroupFigures]) -> Vec<(&str, Option<u64>)> {
        groups
            .iter()
            .map(|g| (g.value.as_deref().unwrap_or("-"), g.participants))
            .collect()
    }

    #[test]
    fn groups_under_k_are_withheld_whole_not_rounded() {
        let mut groups = vec![group("a", 9), group("b", 5), group("c", 4), group("d", 1)];
        suppress(&mut groups, 5);
        assert_eq!(
            shown(&groups),
            vec![("a", Some(9)), ("b", Some(5)), ("c", None), ("d", None)]
        );
        assert!(groups[2].suppressed && groups[2].sessions_held.is_none() && groups[2].left.is_none());
    }

    #[test]
    fn a_lone_withheld_group_takes_the_next_smallest_with_it() {
        // Otherwise the totals minus the shown groups would give the withheld one away.
        let mut groups = vec![group("a", 9), group("b", 6), group("c", 2)];
        suppress(&mut groups, 5);
        assert_eq!(shown(&groups), vec![("a", Some(9)), ("b", None), ("c", None)]);
    }

    #[test]
    fn a_programme_smaller_than_k_shows_nothing() {
        let mut groups = vec![group("a", 4)];
        suppress(&mut groups, 5);
        assert_eq!(shown(&groups), vec![("a", None)]);
        let mut groups = vec![group("a", 5)];
        suppress(&mut groups, 5);
        assert_eq!(shown(&groups), vec![("a", Some(5))]);
    }
}
