//! Rate limits: failed authentication per client id and per source address (a token bucket, then a lock-out that
//! doubles each time the bucket runs dry again), and an optional request quota per authenticated client. The buckets
//! are GCRA (one "theoretical arrival time" per key, equivalent to a token bucket, one number to store), kept in
//! process, or in Redis when one is configured so every instance shares them. Redis trouble never refuses a request:
//! the limiter fails open and says so in the log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;

/// A quota: `quota` events per `window`, with bursts of up to `quota`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub quota: u64,
    pub window: Duration,
}

impl Quota {
    fn interval_ms(&self) -> u64 {
        (self.window.as_millis() as u64 / self.quota.max(1)).max(1)
    }

    fn burst_ms(&self) -> u64 {
        self.interval_ms() * self.quota.max(1)
    }
}

/// The state of a bucket after a request: allowed or not, what is left, and when it is whole again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub remaining: u64,
    /// Seconds until the bucket is full again (the `t` of the `RateLimit` header).
    pub reset_seconds: u64,
    /// Seconds to wait before the next attempt can succeed (0 when allowed).
    pub retry_after_seconds: u64,
}

/// GCRA on one key: `tat` is when the bucket would be empty of debt; returns the new `tat` (unchanged when refused).
fn gcra(now_ms: u64, tat: Option<u64>, quota: Quota) -> (Decision, u64) {
    let (interval, burst) = (quota.interval_ms(), quota.burst_ms());
    let tat = tat.unwrap_or(now_ms).max(now_ms);
    let new_tat = tat + interval;
    if new_tat > now_ms + burst {
        let wait = new_tat - burst - now_ms;
        let decision = Decision {
            allowed: false,
            remaining: 0,
            reset_seconds: (tat - now_ms).div_ceil(1000),
            retry_after_seconds: wait.div_ceil(1000).max(1),
        };
        return (decision, tat);
    }
    let decision = Decision {
        allowed: true,
        remaining: (now_ms + burst - new_tat) / interval,
        reset_seconds: (new_tat - now_ms).div_ceil(1000),
        retry_after_seconds: 0,
    };
    (decision, new_tat)
}

/// The limits, from configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Failed authentications per client id.
    pub failures_per_client: Quota,
    /// Failed authentications per source address.
    pub failures_per_address: Quota,
    /// The first lock-out once a bucket of failures runs dry; each further one doubles, up to `max_lockout`.
    pub first_lockout: Duration,
    pub max_lockout: Duration,
    /// Requests per authenticated client; `None`: no quota.
    pub requests_per_client: Option<Quota>,
}

/// Keys kept in process at most (an attacker cycling client ids must not grow memory without bound): past this,
/// expired entries are dropped, and if that is not enough, all of them (the limiter forgets rather than grows).
const MAX_LOCAL_KEYS: usize = 100_000;

#[derive(Default)]
struct Local {
    tats: HashMap<String, u64>,
    /// key → (locked until, strikes so far, strikes forgotten at)
    locks: HashMap<String, (u64, u32, u64)>,
}

pub struct Limiter {
    settings: Settings,
    redis: Option<ConnectionManager>,
    local: Mutex<Local>,
}

/// A refused request: wait this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locked {
    pub retry_after_seconds: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Strikes are forgotten after an hour without a new lock-out.
const STRIKES_KEPT_MS: u64 = 3_600_000;

/// One round trip: read the bucket, decide, write it back (Redis runs scripts atomically).
const GCRA_SCRIPT: &str = r#"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat > now + burst then
  return {0, tat}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now + 1000)
return {1, new_tat}
"#;

/// Locks a key for `first × 2^strikes` (capped), counting the strike.
const LOCK_SCRIPT: &str = r#"
local strikes = tonumber(redis.call('GET', KEYS[2]) or '0')
local lock = math.min(tonumber(ARGV[1]) * (2 ^ strikes), tonumber(ARGV[2]))
redis.call('SET', KEYS[1], '1', 'PX', math.floor(lock))
redis.call('SET', KEYS[2], strikes + 1, 'PX', tonumber(ARGV[3]))
return math.floor(lock)
"#;

impl Limiter {
    pub fn new(settings: Settings, redis: Option<ConnectionManager>) -> Limiter {
        Limiter {
            settings,
            redis,
            local: Mutex::new(Local::default()),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether authentication as `client_id` (if known yet) from `address` is locked out for now.
    pub async fn auth_locked(&self, client_id: Option<&str>, address: Option<&str>) -> Option<Locked> {
        let mut worst: Option<Locked> = None;
        for key in auth_keys(client_id, address) {
            if let Some(wait) = self.locked(&key).await {
                let wait = Locked {
                    retry_after_seconds: wait,
                };
                worst = Some(worst.map_or(wait, |w| {
                    if w.retry_after_seconds >= wait.retry_after_seconds {
                        w
                    } else {
                        wait
                    }
                }));
            }
        }
        worst
    }

    /// Counts a failed authentication against the client id and the address; a bucket that runs dry locks its key.
    pub async fn auth_failed(&self, client_id: Option<&str>, address: Option<&str>) {
        for key in auth_keys(client_id, address) {
            let quota = if key.starts_with("auth:client:") {
                self.settings.failures_per_client
            } else {
                self.settings.failures_per_address
            };
            if !self.take(&key, quota).await.allowed {
                self.lock(&key).await;
            }
        }
    }

    /// A successful authentication forgets the client id's failures (not the address's: one address may try many).
    pub async fn auth_succeeded(&self, client_id: &str) {
        let key = format!("auth:client:{client_id}");
        match &self.redis {
            Some(redis) => {
                let mut redis = redis.clone();
                let keys = [
                    format!("upward:rl:{key}"),
                    format!("upward:rl:lock:{key}"),
                    format!("upward:rl:strikes:{key}"),
                ];
                if let Err(e) = redis::cmd("DEL").arg(&keys).query_async::<()>(&mut redis).await {
                    tracing::warn!(error = %e, "rate limiter: redis unavailable; failing open");
                }
            }
            None => {
                let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
                local.tats.remove(&key);
                local.locks.remove(&key);
            }
        }
    }

    /// The IETF `RateLimit-Policy` and `RateLimit` field values (draft-ietf-httpapi-ratelimit-headers) of the request
    /// quota after `decision`: `requests;q=600;w=60` and `requests;r=42;t=3`; `None` when there is no quota.
    pub fn headers(&self, decision: &Decision) -> Option<(String, String)> {
        let quota = self.settings.requests_per_client?;
        Some((
            format!("requests;q={};w={}", quota.quota, quota.window.as_secs()),
            format!("requests;r={};t={}", decision.remaining, decision.reset_seconds),
        ))
    }

    /// Counts one request of an authenticated client against its quota; `None` when there is no quota.
    pub async fn request(&self, organisation_id: uuid::Uuid, subject: &str) -> Option<Decision> {
        let quota = self.settings.requests_per_client?;
        Some(self.take(&format!("api:{organisation_id}:{subject}"), quota).await)
    }

    async fn take(&self, key: &str, quota: Quota) -> Decision {
        let now = now_ms();
        match &self.redis {
            Some(redis) => {
                let mut redis = redis.clone();
                let result: Result<(u8, u64), _> = redis::Script::new(GCRA_SCRIPT)
                    .key(format!("upward:rl:{key}"))
                    .arg(now)
                    .arg(quota.interval_ms())
                    .arg(quota.burst_ms())
                    .invoke_async(&mut redis)
                    .await;
                match result {
                    // Decided by Redis; the figures are derived from its stored time, like the local path's.
                    Ok((allowed, tat)) => {
                        // Redis decided; the figures come from the stored time as the local path computes them: a
                        // refusal returns the unchanged time, an admission the time after it.
                        let before = if allowed == 1 {
                            tat.saturating_sub(quota.interval_ms())
                        } else {
                            tat
                        };
                        gcra(now, Some(before), quota).0
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "rate limiter: redis unavailable; failing open");
                        Decision {
                            allowed: true,
                            remaining: quota.quota,
                            reset_seconds: 0,
                            retry_after_seconds: 0,
                        }
                    }
                }
            }
            None => {
                let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
                if local.tats.len() >= MAX_LOCAL_KEYS && !local.tats.contains_key(key) {
                    local.tats.retain(|_, tat| *tat > now);
                    if local.tats.len() >= MAX_LOCAL_KEYS {
                        local.tats.clear();
                    }
                }
                let (decision, tat) = gcra(now, local.tats.get(key).copied(), quota);
                local.tats.insert(key.to_string(), tat);
                decision
            }
        }
    }

    /// Seconds left of a lock-out on `key`, if any.
    async fn locked(&self, key: &str) -> Option<u64> {
        match &self.redis {
            Some(redis) => {
                let mut redis = redis.clone();
                match redis::cmd("PTTL")
                    .arg(format!("upward:rl:lock:{key}"))
                    .query_async::<i64>(&mut redis)
                    .await
                {
                    Ok(ms) if ms > 0 => Some((ms as u64).div_ceil(1000)),
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!(error = %e, "rate limiter: redis unavailable; failing open");
                        None
                    }
                }
            }
            None => {
                let now = now_ms();
                let local = self.local.lock().unwrap_or_else(|e| e.into_inner());
                local
                    .locks
                    .get(key)
                    .filter(|(until, _, _)| *until > now)
                    .map(|(until, _, _)| (until - now).div_ceil(1000))
            }
        }
    }

    async fn lock(&self, key: &str) {
        let first = self.settings.first_lockout.as_millis() as u64;
        let max = self.settings.max_lockout.as_millis() as u64;
        let lock_ms = match &self.redis {
            Some(redis) => {
                let mut redis = redis.clone();
                match redis::Script::new(LOCK_SCRIPT)
                    .key(format!("upward:rl:lock:{key}"))
                    .key(format!("upward:rl:strikes:{key}"))
                    .arg(first.max(1))
                    .arg(max.max(1))
                    .arg(STRIKES_KEPT_MS)
                    .invoke_async::<u64>(&mut redis)
                    .await
                {
                    Ok(ms) => ms,
                    Err(e) => {
                        tracing::warn!(error = %e, "rate limiter: redis unavailable; failing open");
                        return;
                    }
                }
            }
            None => {
                let now = now_ms();
                let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
                if local.locks.len() >= MAX_LOCAL_KEYS {
                    local
                        .locks
                        .retain(|_, (until, _, forget)| *until > now || *forget > now);
                    if local.locks.len() >= MAX_LOCAL_KEYS {
                        local.locks.clear();
                    }
                }
                let strikes = local
                    .locks
                    .get(key)
                    .filter(|(_, _, forget)| *forget > now)
                    .map_or(0, |(_, s, _)| *s);
                let lock = first.saturating_mul(1u64 << strikes.min(30)).min(max).max(1);
                local
                    .locks
                    .insert(key.to_string(), (now + lock, strikes + 1, now + STRIKES_KEPT_MS));
                lock
            }
        };
        tracing::warn!(
            target: "upward::auth",
            key = %key,
            lockout_ms = lock_ms,
            "repeated failed authentication: locked out"
        );
    }
}

fn auth_keys(client_id: Option<&str>, address: Option<&str>) -> Vec<String> {
    let mut keys = Vec::with_capacity(2);
    if let Some(id) = client_id.filter(|id| !id.is_empty()) {
        // Bounded: a key is never longer than what a real client id is.
        let id: String = id.chars().take(128).collect();
        keys.push(format!("auth:client:{id}"));
    }
    if let Some(address) = address {
        keys.push(format!("auth:address:{address}"));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_a_burst_then_one_per_interval() {
        let quota = Quota {
            quota: 3,
            window: Duration::from_secs(3),
        };
        let mut tat = None;
        for left in [2, 1, 0] {
            let (d, t) = gcra(10_000, tat, quota);
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
            tat = Some(t);
        }
        let (refused, same) = gcra(10_000, tat, quota);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_seconds, 1);
        assert_eq!(Some(same), tat, "a refusal costs nothing");
        let (later, _) = gcra(11_000, tat, quota);
        assert!(later.allowed, "one interval later, one more");
    }

    #[tokio::test]
    async fn failures_lock_out_for_longer_each_time() {
        let limiter = Limiter::new(
            Settings {
                failures_per_client: Quota {
                    quota: 2,
                    window: Duration::from_secs(60),
                },
                failures_per_address: Quota {
                    quota: 100,
                    window: Duration::from_secs(60),
                },
                first_lockout: Duration::from_secs(2),
                max_lockout: Duration::from_secs(5),
                requests_per_client: None,
            },
            None,
        );
        let id = Some("upw_client_x");
        for _ in 0..2 {
            limiter.auth_failed(id, Some("10.0.0.1")).await;
            assert_eq!(limiter.auth_locked(id, Some("10.0.0.1")).await, None);
        }
        limiter.auth_failed(id, Some("10.0.0.1")).await;
        assert_eq!(
            limiter.auth_locked(id, Some("10.0.0.1")).await,
            Some(Locked { retry_after_seconds: 2 })
        );
        limiter.auth_failed(id, None).await;
        assert_eq!(
            limiter.auth_locked(id, None).await,
            Some(Locked { retry_after_seconds: 4 })
        );
        limiter.auth_failed(id, None).await;
        assert_eq!(
            limiter.auth_locked(id, None).await,
            Some(Locked { retry_after_seconds: 5 }),
            "capped"
        );
        // Another client from another address is not affected; a success forgets the client's failures.
        assert_eq!(limiter.auth_locked(Some("other"), Some("10.0.0.2")).await, None);
        limiter.auth_succeeded("upw_client_x").await;
        assert_eq!(limiter.auth_locked(id, None).await, None);
    }
}
