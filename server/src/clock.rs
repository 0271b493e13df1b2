//! The time every record is stamped with ([`crate::store::now`]). Outcomes are read over months — retention 3, 6
//! and 12 months after a pair started — so a test (or a staging organisation rehearsing a programme) must be able to
//! write as if it were another day. With `UPWARD_TEST_CLOCK=true`, a request carrying `Upward-Test-Clock: <RFC 3339
//! time>` runs as if its clock read that time when it arrived (the clock keeps moving during the request). Off by
//! default, and never for production: the header is then ignored. Background work (webhook delivery, timed events)
//! always runs on the real clock; token lifetimes are real time whatever the header says.

use chrono::{DateTime, Duration, Utc};

/// The header a request names its clock in.
pub const HEADER: &str = "upward-test-clock";

tokio::task_local! {
    static OFFSET: Duration;
}

/// The shift the current request runs with (zero outside one).
pub fn offset() -> Duration {
    OFFSET.try_with(|o| *o).unwrap_or_else(|_| Duration::zero())
}

/// Reads a request's clock: `Ok(None)` without the header, `Err` with a message when it is not an RFC 3339 time.
pub fn requested(value: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(value) = value else { return Ok(None) };
    let at = DateTime::parse_from_rfc3339(value.trim())
        .map_err(|_| format!("the `Upward-Test-Clock` header must be an RFC 3339 time (it was `{value}`)"))?;
    Ok(Some(at.with_timezone(&Utc) - Utc::now()))
}

/// Runs `work` with its clock shifted by `offset`.
pub async fn shifted<F: std::future::Future>(offset: Duration, work: F) -> F::Output {
    OFFSET.scope(offset, work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_shifted_request_sees_its_own_time_and_others_the_real_one() {
        let offset = requested(Some("2025-01-15T09:00:00Z")).unwrap().unwrap();
        let seen = shifted(offset, async { Utc::now() + super::offset() }).await;
        let wanted = DateTime::parse_from_rfc3339("2025-01-15T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!((seen - wanted).num_seconds().abs() < 5, "{seen}");
        assert_eq!(super::offset(), Duration::zero());
        assert!(requested(Some("yesterday")).is_err());
        assert_eq!(requested(None), Ok(None));
    }
}
