//! Webhooks: signing deliveries the Standard Webhooks way (`signer`), sending them (`sender`: SSRF-guarded client,
//! no redirects, capped answers), the retry schedule (`schedule`) and the dispatcher that delivers from the database
//! (`dispatcher`). Endpoints and deliveries as resources are `domain::webhook_endpoints` and
//! `domain::webhook_deliveries`; the outbound address policy is `crate::net`.
//!
//! [`Wake`] tells dispatchers there is new work: in this process at once, and, with Redis, on every instance
//! through a pub/sub channel (the database stays the queue and the single source of truth; Redis only shortens the
//! wait of the other instances from the poll interval to milliseconds).

pub mod dispatcher;
pub mod schedule;
pub mod sender;
pub mod signer;

use std::sync::Arc;

use tokio::sync::Notify;

/// The pub/sub channel through which instances wake each other's dispatchers.
pub const WAKE_CHANNEL: &str = "upward:webhooks:wake";

/// Wakes the dispatchers after a write committed.
#[derive(Clone)]
pub struct Wake {
    local: Arc<Notify>,
    redis: Option<redis::aio::ConnectionManager>,
}

impl Wake {
    pub fn new(redis: Option<redis::aio::ConnectionManager>) -> Wake {
        Wake {
            local: Arc::new(Notify::new()),
            redis,
        }
    }

    pub fn notify(&self) -> Arc<Notify> {
        self.local.clone()
    }

    /// Wakes this instance's dispatcher, and the others' through Redis (best effort: they also poll).
    pub fn wake(&self) {
        self.local.notify_one();
        if let Some(redis) = &self.redis {
            let mut redis = redis.clone();
            tokio::spawn(async move {
                let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                    .arg(WAKE_CHANNEL)
                    .arg(1)
                    .query_async(&mut redis)
                    .await;
                if let Err(e) = published {
                    tracing::debug!(error = %e, "could not publish a webhook wake-up");
                }
            });
        }
    }
}

/// Relays wake-ups published by other instances to this instance's dispatcher until `stopped`.
pub async fn listen(client: redis::Client, local: Arc<Notify>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    use futures_util::StreamExt;
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(WAKE_CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            p = subscribed => p,
            _ = stopped.changed() => return,
        };
        match pubsub {
            Ok(mut pubsub) => {
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        m = messages.next() => match m {
                            Some(_) => local.notify_one(),
                            None => break,
                        },
                        _ = stopped.changed() => return,
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "subscribing to webhook wake-ups failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = stopped.changed() => return,
        }
    }
}
