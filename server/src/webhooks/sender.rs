//! Sending one delivery: the HTTP client every delivery goes through and what a receiver's answer means. The client
//! resolves names through [`GuardedResolver`], so the address it connects to is the address that was checked — a
//! name that starts resolving to an internal address after the endpoint was created is refused at that connection
//! (no DNS-rebinding window). Redirects are never followed; at most [`MAX_STORED_BODY`] bytes of an answer are read.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::net::forbidden;

/// How much of a receiver's answer is kept in the delivery log.
pub const MAX_STORED_BODY: usize = 4096;

/// Resolves like the system does, then refuses a name with any internal address (unless private targets are allowed).
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && let Some(bad) = addresses.iter().find(|a| forbidden(a.ip())) {
                return Err(format!("refused: {host} resolves to {}, an internal address", bad.ip()).into());
            }
            let addrs: Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

/// The outbound HTTP side of the dispatcher.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
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
    pub fn new(timeout: Duration, allow_private: bool) -> Sender {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("Upward-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .build()
            // Building a client only fails when the TLS backend cannot start, which no delivery can work without.
            .expect("the webhook HTTP client must build");
        Sender { client, allow_private }
    }

    /// POSTs `body` with `headers` to `url`; never fails, the outcome is in the result.
    pub async fn send(&self, url: &str, headers: &[(&'static str, String)], body: String) -> AttemptResult {
        let started = Instant::now();
        let url = match reqwest::Url::parse(url) {
            Ok(url) => url,
            Err(e) => return AttemptResult::failed(format!("not a URL: {e}"), started.elapsed()),
        };
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            _ => return AttemptResult::failed("refused: only https URLs are allowed".into(), started.elapsed()),
        }
        // An IP literal never reaches the resolver: check it here.
        if !self.allow_private
            && let Some(host) = url.host_str()
            && let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>()
            && forbidden(ip)
        {
            return AttemptResult::failed(format!("refused: {ip} is an internal address"), started.elapsed());
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
        let guarded = GuardedResolver { allow_private: false };
        let refused = guarded.resolve("localhost".parse().unwrap()).await;
        assert!(refused.is_err_and(|e| e.to_string().contains("internal address")));
        let open = GuardedResolver { allow_private: true };
        assert!(open.resolve("localhost".parse().unwrap()).await.is_ok());
        let sender = Sender::new(Duration::from_secs(1), false);
        let result = sender.send("https://169.254.169.254/latest", &[], "{}".into()).await;
        assert!(result.error.unwrap().contains("internal address"));
        let result = sender.send("https://localhost:1/hook", &[], "{}".into()).await;
        assert!(
            result.error.unwrap().contains("internal address"),
            "the name is refused when it resolves"
        );
    }
}
