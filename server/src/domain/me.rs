//! A person's own view across programmes — who they are, their pairs, their sessions in a window of time, their
//! pending survey requests and their enrolments — so that a front end's home page takes a few calls, not one per
//! programme. And one person's pairs across programmes for those who run them: admins see every programme, managers
//! the programmes they manage, a participant only their own pairs.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::enrolments::{Enrolment, EnrolmentFilter};
use super::pairs::{Pair, PairFilter, PairState};
use super::participants::Participant;
use super::programmes::Programme;
use super::sessions::Session;
use super::{Actor, DomainError, DomainResult, Violations};
use crate::store::{self, Scope};

/// The widest window `GET /v1/me/sessions` answers (a little over a year), and the most sessions it returns.
pub const MAX_WINDOW_DAYS: i64 = 400;
pub const MAX_SESSIONS: u64 = 1_000;
/// The window when none is given: the last 30 days and the next 180.
const DEFAULT_PAST_DAYS: i64 = 30;
const DEFAULT_FUTURE_DAYS: i64 = 180;

/// The participant behind a participant's (or a manager's) token. An organisation's API client is nobody's "me".
pub fn me(actor: Actor) -> DomainResult<Uuid> {
    actor.participant_id().ok_or_else(|| {
        DomainError::Forbidden(
            "`/v1/me` answers for a participant: use a participant token (an organisation's client token acts for \
             the organisation, not for a person)"
                .into(),
        )
    })
}

/// The caller's own participant record.
pub async fn profile<C: ConnectionTrait>(scope: &Scope<'_, C>, actor: Actor) -> DomainResult<Participant> {
    let id = me(actor)?;
    scope.participant(id).await?.ok_or(DomainError::NotFound("participant"))
}

/// One page of pairs across programmes, each judged by its own programme: an admin's (any participant's,
/// or all), a manager's (in the programmes they manage), a participant's (their own only — asking for someone
/// else's finds nothing).
pub async fn pairs<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    participant_id: Option<Uuid>,
    state: Option<PairState>,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Pair>, bool)> {
    let mut filter = PairFilter {
        state,
        participant_id,
        ..Default::default()
    };
    match actor {
        Actor::Admin => {}
        Actor::Manager(manager) => filter.programme_ids = Some(scope.managed_programme_ids(manager).await?),
        Actor::Participant(p) => {
            if participant_id.is_some_and(|asked| asked != p) {
                return Ok((Vec::new(), false));
            }
            filter.participant_id = Some(p);
        }
    }
    if filter.programme_ids.as_ref().is_some_and(Vec::is_empty) {
        return Ok((Vec::new(), false));
    }
    let (rows, has_more) = super::page(scope.list_pairs(None, &filter, None, after, limit + 1).await?, limit);
    Ok((derived(scope, rows).await?, has_more))
}

/// The caller's own pairs, in every programme.
pub async fn my_pairs<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    state: Option<PairState>,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Pair>, bool)> {
    let id = me(actor)?;
    pairs(scope, Actor::Participant(id), Some(id), state, after, limit).await
}

/// Each pair with the figures its programme's rules give it now.
async fn derived<C: ConnectionTrait>(scope: &Scope<'_, C>, rows: Vec<Pair>) -> DomainResult<Vec<Pair>> {
    let mut programmes: HashMap<Uuid, Programme> = HashMap::new();
    let now = store::now();
    let mut out = Vec::with_capacity(rows.len());
    for pair in rows {
        if let std::collections::hash_map::Entry::Vacant(slot) = programmes.entry(pair.programme_id) {
            let programme = scope
                .programme(pair.programme_id)
                .await?
                .ok_or(DomainError::NotFound("programme"))?;
            slot.insert(programme);
        }
        let programme = &programmes[&pair.programme_id];
        out.push(pair.derive(programme, now));
    }
    Ok(out)
}

/// The caller's sessions (in any of their pairs) starting in a window of time.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SessionWindow {
    /// The window's start (inclusive).
    pub from: DateTime<Utc>,
    /// The window's end (exclusive).
    pub to: DateTime<Utc>,
    /// In start order.
    pub data: Vec<Session>,
    /// More than 1,000 sessions start in the window: ask for a narrower one.
    pub truncated: bool,
}

/// The caller's sessions starting in `[from, to)`: by default the last 30 days and the next 180; at most 400 days.
pub async fn sessions<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> DomainResult<SessionWindow> {
    let id = me(actor)?;
    let (from, to) = window(store::now(), from, to)?;
    let pair_ids = scope.pair_ids_of(id).await?;
    let mut data = scope.sessions_between(&pair_ids, from, to, MAX_SESSIONS + 1).await?;
    let truncated = data.len() as u64 > MAX_SESSIONS;
    data.truncate(MAX_SESSIONS as usize);
    Ok(SessionWindow {
        from,
        to,
        data,
        truncated,
    })
}

/// The window asked for, its missing ends filled in; refused when it is empty or wider than 400 days.
pub fn window(
    now: DateTime<Utc>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> DomainResult<(DateTime<Utc>, DateTime<Utc>)> {
    let (from, to) = match (from, to) {
        (Some(from), Some(to)) => (from, to),
        (Some(from), None) => (from, from + Duration::days(DEFAULT_PAST_DAYS + DEFAULT_FUTURE_DAYS)),
        (None, Some(to)) => (to - Duration::days(DEFAULT_PAST_DAYS + DEFAULT_FUTURE_DAYS), to),
        (None, None) => (
            now - Duration::days(DEFAULT_PAST_DAYS),
            now + Duration::days(DEFAULT_FUTURE_DAYS),
        ),
    };
    let mut v = Violations::default();
    if to <= from {
        v.add("to", "out_of_range", "must be after `from`");
    } else if to - from > Duration::days(MAX_WINDOW_DAYS) {
        v.add(
            "to",
            "out_of_range",
            format!("the window may span at most {MAX_WINDOW_DAYS} days"),
        );
    }
    v.into_result()?;
    Ok((from, to))
}

/// The caller's enrolments, in every programme.
pub async fn enrolments<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<(Vec<Enrolment>, bool)> {
    let filter = EnrolmentFilter {
        participant_id: Some(me(actor)?),
        ..Default::default()
    };
    Ok(super::page(
        scope.list_enrolments(None, &filter, after, limit + 1).await?,
        limit,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + day * 86_400, 0).unwrap()
    }

    #[test]
    fn the_window_defaults_to_the_last_month_and_the_next_half_year() {
        assert_eq!(window(at(0), None, None).unwrap(), (at(-30), at(180)));
        assert_eq!(window(at(0), Some(at(5)), None).unwrap(), (at(5), at(215)));
        assert_eq!(window(at(0), None, Some(at(5))).unwrap(), (at(-205), at(5)));
    }

    #[test]
    fn an_empty_or_too_wide_window_is_refused() {
        assert!(window(at(0), Some(at(3)), Some(at(3))).is_err());
        assert!(window(at(0), Some(at(0)), Some(at(401))).is_err());
        assert!(window(at(0), Some(at(0)), Some(at(400))).is_ok());
    }
}
