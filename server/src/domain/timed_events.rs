//! Time-based lifecycle events: `session.upcoming` (a scheduled session starts within the lead time, 24 h by
//! default), `programme.ending_soon` (a running programme ends within the lead days, 14 by default) and
//! `pair.at_risk` (an active pair became at risk, with its reasons; once per episode: when it recovers, a relapse is
//! a new episode). Each is emitted once, whatever the number of instances: the event commits with a timed notice
//! whose unique key (kind, subject, occasion) refuses a second one.

use chrono::{DateTime, Duration, Utc};

use super::pairs::{PairFilter, PairState, risk_window};
use crate::events::{self, EventPayload};
use crate::store::{Db, Scope, StoreResult};

const SESSION_UPCOMING: &str = "session.upcoming";
const PROGRAMME_ENDING_SOON: &str = "programme.ending_soon";
const PAIR_AT_RISK: &str = "pair.at_risk";

/// Lead times, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Leads {
    pub session_upcoming: Duration,
    pub programme_ending_days: i64,
}

/// One pass over every organisation; answers how many events it emitted.
pub async fn emit_due(db: &Db, leads: Leads, now: DateTime<Utc>) -> StoreResult<usize> {
    let mut emitted = 0;
    for (organisation_id, session_id) in db.sessions_starting(now, now + leads.session_upcoming).await? {
        let txn = db.begin().await?;
        let scope = Scope::new(&txn, organisation_id);
        let Some(session) = scope.session(session_id).await? else {
            continue;
        };
        if session.state != super::sessions::SessionState::Scheduled {
            continue;
        }
        // A rescheduled session is a new occasion.
        if scope
            .claim_notice(SESSION_UPCOMING, session.id, &session.starts_at.to_rfc3339())
            .await?
        {
            events::append(&scope, EventPayload::SessionUpcoming(session)).await?;
            crate::telemetry::metrics::timed_event("session.upcoming");
            txn.commit().await?;
            emitted += 1;
        }
    }
    for (organisation_id, programme_id) in db.programmes_in(&["enrolling", "matching", "active"]).await? {
        let txn = db.begin().await?;
        let scope = Scope::new(&txn, organisation_id);
        let Some(programme) = scope.programme(programme_id).await? else {
            continue;
        };
        let mut changed = 0;
        let today = now.date_naive();
        if programme.ends_on >= today
            && (programme.ends_on - today).num_days() <= leads.programme_ending_days
            && scope
                .claim_notice(PROGRAMME_ENDING_SOON, programme.id, &programme.ends_on.to_string())
                .await?
        {
            events::append(&scope, EventPayload::ProgrammeEndingSoon(programme.clone())).await?;
            crate::telemetry::metrics::timed_event("programme.ending_soon");
            changed += 1;
        }
        let filter = PairFilter {
            state: Some(PairState::Active),
            participant_id: None,
            at_risk: Some(true),
            programme_ids: None,
        };
        let at_risk = scope
            .list_pairs(
                Some(programme.id),
                &filter,
                Some(&risk_window(&programme, now)),
                None,
                100_000,
            )
            .await?;
        for pair in &at_risk {
            if scope.claim_notice(PAIR_AT_RISK, pair.id, "at_risk").await? {
                let pair = pair.clone().derive(&programme, now);
                events::append(&scope, EventPayload::PairAtRisk(pair)).await?;
                crate::telemetry::metrics::timed_event("pair.at_risk");
                changed += 1;
            }
        }
        // Episodes that ended: the pair recovered (or left the active state); a relapse will be news again.
        for pair_id in scope.notices(PAIR_AT_RISK).await? {
            if at_risk.iter().any(|p| p.id == pair_id) {
                continue;
            }
            match scope.pair(pair_id).await? {
                Some(pair) if pair.programme_id != programme.id => {}
                _ => scope.forget_notices(PAIR_AT_RISK, pair_id).await?,
            }
        }
        txn.commit().await?;
        emitted += changed;
    }
    Ok(emitted)
}
