//! Calendars (RFC 5545): each participant's sessions as a feed that Outlook, Google or Apple Calendar subscribe to
//! at a secret, revocable address (the token is in the URL, because calendar apps send no bearer token; only its
//! SHA-256 is stored), and one session as an `.ics` file. An event's `UID` never changes, its `SEQUENCE` goes up
//! with every reschedule and with a cancellation, a cancelled session stays in the feed as `STATUS:CANCELLED` (so
//! calendars remove it), times are UTC instants (`…Z`: a time with its zone, exact whatever the reader's zone), the
//! other side is the attendee, and the description holds the agenda — never a note.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use icalendar::{Attendee, Calendar, Class, Component, Event, EventLike, EventStatus, Property, Role};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::organisations::{hash_secret, random_token};
use super::pairs::{Pair, PairFilter, Side};
use super::participants::Participant;
use super::sessions::{Mode, Session, SessionState};
use super::{Actor, DomainError, DomainResult};
use crate::store::{self, Db, Scope};

/// The prefix of a feed's secret (so a leaked one is recognisable in logs and secret scanners).
pub const FEED_PREFIX: &str = "upc_";
/// The feed holds sessions from this long ago …
const FEED_PAST_DAYS: i64 = 180;
/// … to this far ahead, at most this many.
const FEED_FUTURE_DAYS: i64 = 400;
const FEED_MAX_SESSIONS: u64 = 2_000;

/// A calendar feed's address, shown once when it is issued.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "url": "https://upward.example.com/v1/calendar-feeds/upc_3q2-7wHqS0mY1ZbYbq7JrX8d0vJm2T1kD5g7Ww3aQ6s",
    "participant_id": "01936b2e-3333-7000-8000-000000000001",
    "created_at": "2026-12-04T09:30:00Z"
}))]
pub struct CalendarFeed {
    /// Subscribe to this in a calendar app. It is a secret: anyone with it reads the sessions. Issuing a new one
    /// revokes the old.
    pub url: String,
    pub participant_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Issues `participant_id` a new feed secret (revoking the previous one); answers the secret.
pub async fn issue<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    participant_id: Uuid,
) -> DomainResult<(String, DateTime<Utc>)> {
    let participant = scope
        .participant(participant_id)
        .await?
        .ok_or(DomainError::NotFound("participant"))?;
    if !participant.active {
        return Err(DomainError::Conflict {
            code: "participant_inactive",
            message: "the participant has left; their calendar is not published".into(),
        });
    }
    let secret = format!("{FEED_PREFIX}{}", random_token(32));
    let now = store::now();
    scope
        .replace_calendar_feed(participant_id, &hash_secret(&secret), now)
        .await?;
    Ok((secret, now))
}

/// Revokes the participant's feed (nothing to do when there is none).
pub async fn revoke<C: ConnectionTrait>(scope: &Scope<'_, C>, participant_id: Uuid) -> DomainResult<()> {
    scope
        .participant(participant_id)
        .await?
        .ok_or(DomainError::NotFound("participant"))?;
    scope.delete_calendar_feed(participant_id).await?;
    Ok(())
}

/// The feed behind a secret, as an iCalendar document. An unknown or revoked secret, or a participant who left, is
/// not found.
pub async fn feed(db: &Db, secret: &str) -> DomainResult<String> {
    let not_found = || DomainError::NotFound("calendar feed");
    if !secret.starts_with(FEED_PREFIX) || secret.len() > 100 {
        return Err(not_found());
    }
    let (organisation_id, participant_id) = db
        .calendar_feed_owner(&hash_secret(secret))
        .await?
        .ok_or_else(not_found)?;
    let scope = Scope::new(db.reader(), organisation_id);
    let owner = scope.participant(participant_id).await?.ok_or_else(not_found)?;
    if !owner.active {
        return Err(not_found());
    }
    let filter = PairFilter {
        participant_id: Some(owner.id),
        ..Default::default()
    };
    let pairs = scope.list_pairs(None, &filter, None, None, 10_000).await?;
    let now = store::now();
    let pair_ids: Vec<Uuid> = pairs.iter().map(|p| p.id).collect();
    let sessions = scope
        .sessions_between(
            &pair_ids,
            now - Duration::days(FEED_PAST_DAYS),
            now + Duration::days(FEED_FUTURE_DAYS),
            FEED_MAX_SESSIONS,
        )
        .await?;
    let context = Context::load(&scope, &pairs).await?;
    let events = sessions
        .iter()
        .filter_map(|s| context.event(s, Some(owner.id)))
        .collect();
    Ok(calendar(
        &format!("Reverse mentoring — {}", owner.display_name),
        owner.timezone.as_deref(),
        events,
    ))
}

/// One session as an iCalendar document, for whoever may see the session.
pub async fn session_ics<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    session_id: Uuid,
) -> DomainResult<String> {
    let session = scope
        .session(session_id)
        .await?
        .ok_or(DomainError::NotFound("session"))?;
    let (pair, _) = super::pairs::visible(scope, actor, session.pair_id).await?;
    let context = Context::load(scope, std::slice::from_ref(&pair)).await?;
    let event = context
        .event(&session, actor.participant_id())
        .ok_or(DomainError::NotFound("session"))?;
    Ok(calendar("Reverse mentoring session", None, vec![event]))
}

/// The pairs, programmes and people an event names.
struct Context {
    pairs: HashMap<Uuid, Pair>,
    programme_names: HashMap<Uuid, String>,
    people: HashMap<Uuid, Participant>,
}

impl Context {
    async fn load<C: ConnectionTrait>(scope: &Scope<'_, C>, pairs: &[Pair]) -> DomainResult<Context> {
        let mut context = Context {
            pairs: pairs.iter().map(|p| (p.id, p.clone())).collect(),
            programme_names: HashMap::new(),
            people: HashMap::new(),
        };
        for pair in pairs {
            if !context.programme_names.contains_key(&pair.programme_id)
                && let Some(programme) = scope.programme(pair.programme_id).await?
            {
                context.programme_names.insert(programme.id, programme.name);
            }
            for id in [pair.mentor.participant_id, pair.mentee.participant_id] {
                if !context.people.contains_key(&id)
                    && let Some(person) = scope.participant(id).await?
                {
                    context.people.insert(id, person);
                }
            }
        }
        Ok(context)
    }

    /// The session as `viewer` sees it (the other side the attendee), or as an outsider (both sides attendees).
    fn event(&self, session: &Session, viewer: Option<Uuid>) -> Option<Event> {
        let pair = self.pairs.get(&session.pair_id)?;
        let sides = [
            (Side::Mentor, pair.mentor.participant_id),
            (Side::Mentee, pair.mentee.participant_id),
        ];
        let attendees: Vec<(Side, &Participant)> = sides
            .iter()
            .filter(|(_, id)| Some(*id) != viewer || !sides.iter().any(|(_, i)| Some(*i) == viewer))
            .filter_map(|(side, id)| Some((*side, self.people.get(id)?)))
            .collect();
        let programme = self.programme_names.get(&pair.programme_id).map(String::as_str);
        Some(session_event(session, programme, &attendees))
    }
}

/// The `VEVENT` of a session: pure, so its rules are tested without a database.
pub fn session_event(session: &Session, programme: Option<&str>, attendees: &[(Side, &Participant)]) -> Event {
    let starts = session.starts_at.with_timezone(&Utc);
    let ends = starts + Duration::minutes(i64::from(session.duration_minutes));
    let cancelled = session.state == SessionState::Cancelled;
    let names: Vec<&str> = attendees.iter().map(|(_, p)| p.display_name.as_str()).collect();
    let summary = if names.is_empty() {
        "Reverse mentoring session".to_string()
    } else {
        format!("Reverse mentoring: {}", names.join(" & "))
    };
    let mut description = Vec::new();
    if let Some(programme) = programme {
        description.push(format!("Programme: {programme}"));
    }
    if !session.agenda.is_empty() {
        description.push(format!("Agenda: {}", session.agenda.join("; ")));
    }
    let mode = match session.mode {
        Mode::InPerson => "In person",
        Mode::Video => "Video call",
        Mode::Phone => "Phone call",
    };
    description.push(format!("Mode: {mode}"));
    let mut event = Event::new();
    event
        .uid(&format!("{}@upward", session.id))
        .sequence(sequence(session))
        .timestamp(session.updated_at)
        .created(session.created_at)
        .last_modified(session.updated_at)
        .starts(starts)
        .ends(ends)
        .summary(&summary)
        .description(&description.join("\n"))
        .location(session.location.as_deref().unwrap_or(mode))
        .class(Class::Private)
        .status(if cancelled {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        });
    for (_, person) in attendees {
        event.attendee(
            Attendee::new(format!("mailto:{}", person.email))
                .cn(person.display_name.clone())
                .role(Role::ReqParticipant),
        );
    }
    event.done()
}

/// `SEQUENCE`: the revision a calendar compares — one more for each reschedule, and for the cancellation.
pub fn sequence(session: &Session) -> u32 {
    let rescheduled = u32::try_from(session.reschedule_count).unwrap_or(0);
    rescheduled + u32::from(session.state == SessionState::Cancelled)
}

/// A `VCALENDAR` of events, published (`METHOD:PUBLISH`) for subscription; `timezone` hints the reader's display
/// zone (the times themselves are UTC).
pub fn calendar(name: &str, timezone: Option<&str>, events: Vec<Event>) -> String {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("PRODID", "-//Upward//Reverse mentoring//EN"))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", "PUBLISH"))
        .append_property(Property::new("X-WR-CALNAME", name))
        .append_property(
            Property::new("REFRESH-INTERVAL", "PT1H")
                .add_parameter("VALUE", "DURATION")
                .done(),
        )
        .append_property(Property::new("X-PUBLISHED-TTL", "PT1H"));
    if let Some(tz) = timezone {
        calendar.append_property(Property::new("X-WR-TIMEZONE", tz));
    }
    for event in events {
        calendar.push(event);
    }
    calendar.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(state: SessionState, reschedules: i32) -> Session {
        let at = DateTime::parse_from_rfc3339("2026-12-07T09:00:00+01:00").unwrap();
        Session {
            id: Uuid::from_u128(7),
            pair_id: Uuid::from_u128(8),
            programme_id: Uuid::from_u128(9),
            state,
            starts_at: at,
            duration_minutes: 45,
            mode: Mode::Video,
            location: None,
            agenda: vec!["AI tools".into(), "hybrid work, at home".into()],
            held_at: None,
            actual_duration_minutes: None,
            topics_discussed: vec![],
            cancellation: None,
            no_show: None,
            reschedule_count: reschedules,
            created_at: at.with_timezone(&Utc),
            updated_at: at.with_timezone(&Utc),
            version: 1,
        }
    }

    #[test]
    fn the_event_keeps_its_uid_and_counts_reschedules_and_the_cancellation() {
        let scheduled = session(SessionState::Scheduled, 0);
        let moved_twice = session(SessionState::Scheduled, 2);
        let cancelled = session(SessionState::Cancelled, 2);
        assert_eq!(sequence(&scheduled), 0);
        assert_eq!(sequence(&moved_twice), 2);
        assert_eq!(sequence(&cancelled), 3);
        let text = calendar("x", None, vec![session_event(&cancelled, Some("Digital fluency"), &[])]);
        assert!(
            text.contains("UID:00000000-0000-0000-0000-000000000007@upward\r\n"),
            "{text}"
        );
        assert!(text.contains("STATUS:CANCELLED\r\n"));
        assert!(text.contains("SEQUENCE:3\r\n"));
        // 09:00 at +01:00 is 08:00 UTC; 45 minutes long.
        assert!(text.contains("DTSTART:20261207T080000Z\r\n"), "{text}");
        assert!(text.contains("DTEND:20261207T084500Z\r\n"));
        // Lines are folded at 75 octets; unfolded, the text is escaped (the agenda's separator, the comma in an
        // item, the line break).
        assert!(text.lines().all(|l| l.len() <= 75), "{text}");
        let unfolded = text.replace("\r\n ", "");
        assert!(
            unfolded.contains(r"Agenda: AI tools\; hybrid work\, at home\nMode"),
            "{unfolded}"
        );
    }
}
