//! The retry schedule: the waits between attempts (default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, so eight
//! attempts over about 28 hours), each jittered by ±20% so that the retries of a receiver's outage do not arrive
//! in one wave, and a receiver's `Retry-After` honoured within bounds.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct RetrySchedule {
    waits: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule::parse("5s,5m,30m,2h,5h,10h,10h").expect("the default schedule parses")
    }
}

impl RetrySchedule {
    /// A comma-separated list of waits such as `5s,5m,2h` (units `ms`, `s`, `m`, `h`); an empty list means a single
    /// attempt.
    pub fn parse(text: &str) -> Result<RetrySchedule, String> {
        let waits = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_duration)
            .collect::<Result<Vec<_>, _>>()?;
        if waits.len() > 20 {
            return Err("at most 20 retries".into());
        }
        Ok(RetrySchedule { waits })
    }

    /// How many attempts a delivery gets in all.
    pub fn attempts(&self) -> usize {
        self.waits.len() + 1
    }

    /// The wait after the `attempts_made`-th failed attempt, jittered, with the receiver's `Retry-After` taking its
    /// place when given (never less than a second, never more than the schedule's longest wait); `None` when the
    /// schedule is exhausted.
    pub fn next_wait(&self, attempts_made: usize, retry_after: Option<Duration>) -> Option<Duration> {
        let planned = *self.waits.get(attempts_made.checked_sub(1)?)?;
        if let Some(asked) = retry_after {
            let longest = self.waits.iter().max().copied().unwrap_or(planned);
            return Some(asked.clamp(Duration::from_secs(1).min(longest), longest));
        }
        let jitter = 0.8 + fastrand::f64() * 0.4;
        Some(planned.mul_f64(jitter))
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit (ms, s, m, h)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number and a unit"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_spreads_eight_attempts_over_a_day() {
        let s = RetrySchedule::default();
        assert_eq!(s.attempts(), 8);
        let first = s.next_wait(1, None).unwrap();
        assert!(
            first >= Duration::from_secs(4) && first <= Duration::from_secs(6),
            "{first:?}"
        );
        let last = s.next_wait(7, None).unwrap();
        assert!(last >= Duration::from_secs(8 * 3600) && last <= Duration::from_secs(12 * 3600));
        assert_eq!(s.next_wait(8, None), None);
        assert_eq!(s.next_wait(0, None), None);
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let s = RetrySchedule::default();
        assert_eq!(
            s.next_wait(1, Some(Duration::from_secs(90))),
            Some(Duration::from_secs(90))
        );
        assert_eq!(s.next_wait(1, Some(Duration::ZERO)), Some(Duration::from_secs(1)));
        assert_eq!(
            s.next_wait(1, Some(Duration::from_secs(86_400 * 7))),
            Some(Duration::from_secs(36_000))
        );
        assert_eq!(s.next_wait(8, Some(Duration::from_secs(1))), None, "no attempts left");
    }

    #[test]
    fn schedules_parse_with_units() {
        let s = RetrySchedule::parse("200ms, 1s,2m,1h").unwrap();
        assert_eq!(s.attempts(), 5);
        assert!(RetrySchedule::parse("5x").is_err());
        assert!(RetrySchedule::parse("s").is_err());
        assert_eq!(RetrySchedule::parse("").unwrap().attempts(), 1);
    }
}
