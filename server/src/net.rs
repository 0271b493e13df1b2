//! Outbound network policy shared by everything that calls out on an organisation's behalf (HRIS connectors, webhook
//! deliveries): which addresses are never reachable, and the check of a target URL before connecting.

use std::net::IpAddr;

/// Addresses nothing may reach on an organisation's behalf, whatever its configuration says: loopback, private,
/// carrier-grade NAT, link-local (which holds the cloud metadata service, 169.254.169.254), unspecified, multicast,
/// broadcast, unique-local IPv6, and IPv4-mapped forms of all these.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| forbidden(IpAddr::V4(v4)))
        }
    }
}

/// Why a target URL is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a URL: {0}")]
    NotAUrl(String),
    #[error("only https URLs are allowed")]
    NotHttps,
    #[error("the URL has no host")]
    NoHost,
    #[error("{host} does not resolve: {message}")]
    DoesNotResolve { host: String, message: String },
    #[error("{host} resolves to {address}, a private, loopback, link-local or otherwise internal address")]
    Internal { host: String, address: IpAddr },
}

/// Checks a target before connecting: `https` (or `http` when `allow_private`), and every address its host resolves
/// to public (unless `allow_private`). DNS can change between two checks, so callers check again at every connection.
pub async fn check_target(url: &str, allow_private: bool) -> Result<reqwest::Url, Refused> {
    let parsed = reqwest::Url::parse(url).map_err(|e| Refused::NotAUrl(e.to_string()))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(Refused::NotHttps),
    }
    let host = parsed.host_str().ok_or(Refused::NoHost)?.to_string();
    if allow_private {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    // An IP literal (possibly bracketed IPv6) resolves to itself.
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| Refused::DoesNotResolve {
                host: host.clone(),
                message: e.to_string(),
            })?
            .map(|a| a.ip())
            .collect(),
    };
    if let Some(address) = addresses.iter().copied().find(|a| forbidden(*a)) {
        return Err(Refused::Internal { host, address });
    }
    if addresses.is_empty() {
        return Err(Refused::DoesNotResolve {
            host,
            message: "no addresses".into(),
        });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_targets_are_refused_unless_allowed() {
        for url in [
            "https://127.0.0.1/hook",
            "https://10.1.2.3/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://[::ffff:192.168.0.1]/hook",
            "https://localhost:8443/hook",
        ] {
            assert!(
                matches!(check_target(url, false).await, Err(Refused::Internal { .. })),
                "{url}"
            );
        }
        assert_eq!(
            check_target("http://example.com/hook", false).await,
            Err(Refused::NotHttps)
        );
        assert_eq!(
            check_target("ftp://example.com/hook", true).await,
            Err(Refused::NotHttps)
        );
        assert!(matches!(
            check_target("not a url", false).await,
            Err(Refused::NotAUrl(_))
        ));
        // On-premises and tests: plain http and loopback are allowed when the server says so.
        assert!(check_target("http://127.0.0.1:9/hook", true).await.is_ok());
        assert!(check_target("https://93.184.216.34/hook", false).await.is_ok());
    }
}
