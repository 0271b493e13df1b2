//! Sending one delivery: the HTTP client every delivery goes through and what a receiver's answer means. The client
//! resolves names through the outbound guard ([`crate::net::Guard`]), so the address it connects to is the address
//! that was checked — a name that starts resolving to an internal address after the endpoint was created is refused
//! at that connection (no DNS-rebinding window). Redirects are never followed; at most [`MAX_STORED_BODY`] bytes of an
//! answer are read.

use std::time::{Duration, Instant};

use crate::net::Guard;

/// How much of a receiver's answer is kept in the delivery log.
pub const MAX_STORED_BODY: usize = 4096;

/// The outbound HTTP side of the dispatcher.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    guard: Guard,
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptResult {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    pub latency: Duration,
    /// The first [`MAX_STORED_BODY`] bytes of the answer (lossy UTF-8).
    pub body: Option<String>,
    /// Why the attempt failed without an answer, or what was wrong with the answer.
    pub error: Option<String>,
    /// The receiver's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

impl AttemptResult {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// 410 Gone: the receiver says the endpoint no longer exists.
    pub fn gone(&self) -> bool {
        self.status == Some(410)
    }

    fn failed(error: String, latency: Duration) -> AttemptResult {
        AttemptResult {
            status: None,
            latency,
            body: None,
            error: Some(error),
            retry_after: None,
        }
    }
}

impl Sender {
    pub fn new(timeout: Duration, guard: Guard) -> Sender {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("Upward-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(guard.resolver())
            .build()
            // Building a client only fails when the TLS backend cannot start, which no delivery can work without.
            .expect("the webhook HTTP client must build");
        Sender { client, guard }
    }

    /// POSTs `body` with `headers` to `url`; never fails, the outcome is in the result.
    pub async fn send(&self, url: &str, headers: &[(&'static str, String)], body: String) -> AttemptResult {
        let started = Instant::now();
        // The form again (the guard's settings may have changed since the endpoint was made), and an IP literal, which
        // never reaches the resolver.
        let url = match self.guard.check_form(url) {
            Ok(url) => url,
            Err(refused) => return AttemptResult::failed(format!("refused: {refused}"), started.elapsed()),
        };
        if let Err(refused) = self.guard.check_literal(&url) {
            return AttemptResult::failed(format!("refused: {refused}"), started.elapsed());
        }
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.body(body).send().await {
            Ok(r) => r,
            Err(e) => return AttemptResult::failed(describe(&e), started.elapsed()),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut kept = Vec::new();
        let mut read_error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_STORED_BODY - kept.len();
                    kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if kept.len() >= MAX_STORED_BODY {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(describe(&e));
                    break;
                }
            }
        }
        let error = if (300..400).contains(&status) {
            Some(format!(
                "redirects are not followed (Location: {})",
                location.as_deref().unwrap_or("none")
            ))
        } else if !(200..300).contains(&status) {
            Some(format!("the receiver answered {status}"))
        } else {
            read_error
        };
        AttemptResult {
            status: Some(status),
            latency: started.elapsed(),
            body: (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned()),
            error,
            retry_after,
        }
    }
}

/// An error's whole chain in one line, without the URL (already in the log) repeated.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut message = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused_at_connection() {
        use reqwest::dns::Resolve;
        let refused = Guard::strict().resolver().resolve("localhost".parse().unwrap()).await;
        assert!(refused.is_err_and(|e| e.to_string().contains("not a public address")));
        let open = Guard::new(true, Vec::new()).resolver();
        assert!(open.resolve("localhost".parse().unwrap()).await.is_ok());
        let sender = Sender::new(Duration::from_secs(1), Guard::strict());
        let result = sender.send("https://169.254.169.254/latest", &[], "{}".into()).await;
        assert!(result.error.unwrap().contains("metadata"));
        let result = sender.send("https://[64:ff9b::7f00:1]/hook", &[], "{}".into()).await;
        assert!(result.error.unwrap().contains("carries the IPv4 address 127.0.0.1"));
        let result = sender.send("https://localhost:1/hook", &[], "{}".into()).await;
        assert!(
            result.error.unwrap().contains("not a public address"),
            "the name is refused when it resolves"
        );
        // Private targets allowed: the metadata service is still out.
        let open = Sender::new(Duration::from_secs(1), Guard::new(true, Vec::new()));
        let result = open.send("http://169.254.169.254/latest", &[], "{}".into()).await;
        assert!(result.error.unwrap().contains("metadata"));
    }
}
