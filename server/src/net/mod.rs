//! The outbound guard: every connection made on an organisation's behalf — webhook deliveries, identity-provider JWKS
//! fetches, HRIS connectors' HTTP — goes through one [`Guard`], at registration (the URL, resolved) and at every
//! connection (the client resolves names through [`Guard::resolver`], so the address it connects to is the address
//! that was checked; IP literals, which skip the resolver, are checked by [`Guard::check_literal`]).
//!
//! Only globally reachable destinations pass, as the IANA special-purpose registries define them ([`registry`]), with
//! IPv4 embedded in IPv6 (mapped, SIIT-translated, NAT64, 6to4, IPv4-compatible) judged by the IPv4 it carries. An
//! on-premises deployment names what it may reach with an allow-list of CIDRs; allowing private targets wholesale
//! (tests, local development) still refuses the cloud metadata service unless the allow-list names it.

pub mod registry;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The longest URL accepted anywhere a tenant names one (webhook endpoints, JWKS, connector requests).
pub const MAX_URL_LEN: usize = 2048;

/// Cloud instance metadata services (AWS, GCP, Azure and OpenStack share the first; ECS tasks, AWS over IPv6, Alibaba
/// Cloud): refused even when private targets are allowed, unless the allow-list names them.
const METADATA: &[&str] = &[
    "169.254.169.254/32",
    "169.254.170.2/32",
    "fd00:ec2::254/128",
    "100.100.100.200/32",
];

/// The IPv4 address an IPv6 address carries, in the forms that route to it: IPv4-mapped (`::ffff:a.b.c.d`),
/// SIIT-translated (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated), NAT64 (`64:ff9b::/96`) and 6to4
/// (`2002:aabb:ccdd::/48`).
pub fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        // `::` and `::1` are the unspecified and loopback addresses, not IPv4-compatible ones.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(tail),
        [0x2002, a, b, ..] => Some(Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8)),
        _ => None,
    }
}

/// Why `ip` is not a globally reachable destination, or `None` when it is.
pub fn not_global(ip: IpAddr) -> Option<String> {
    if let IpAddr::V6(v6) = ip
        && let Some(v4) = embedded_ipv4(v6)
    {
        if let Some(reason) = not_global(IpAddr::V4(v4)) {
            return Some(format!("it carries the IPv4 address {v4}: {reason}"));
        }
        // A mapped address is the IPv4 address itself, as a dual-stack socket spells it.
        if v6.to_ipv4_mapped().is_some() {
            return None;
        }
    }
    match registry::lookup(ip) {
        Some(block) if !block.globally_reachable => Some(format!("{} ({}, {})", block.name, block.cidr, block.rfc)),
        Some(_) => None,
        // IPv6 unicast is allocated from 2000::/3 only; the registry's reachable blocks outside it matched above.
        None if matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xe000) != 0x2000) => {
            Some("not global unicast IPv6 (outside 2000::/3)".into())
        }
        None => None,
    }
}

/// Why a target is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a URL: {0}")]
    NotAUrl(String),
    #[error("the URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("only https URLs are allowed")]
    NotHttps,
    #[error("the URL has no host")]
    NoHost,
    #[error("{host} does not resolve: {message}")]
    DoesNotResolve { host: String, message: String },
    #[error("{host} resolves to {address}, which is not a public address: {reason}")]
    Internal {
        host: String,
        address: IpAddr,
        reason: String,
    },
}

/// The one outbound policy. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    allow_private: bool,
    allowed: Arc<[IpNet]>,
}

impl Guard {
    /// Only globally reachable destinations, over https.
    pub fn strict() -> Guard {
        Guard::default()
    }

    /// `allow_private`: plain http and any address but the metadata service (tests, local development); `allowed`:
    /// CIDRs reachable whatever else holds (the on-premises way: name the directory's subnet, nothing else).
    pub fn new(allow_private: bool, allowed: Vec<IpNet>) -> Guard {
        Guard {
            allow_private,
            allowed: allowed.into(),
        }
    }

    /// Parses a comma-separated CIDR list (`10.20.0.0/16, 2001:db8::/32`); a bare address is its own /32 or /128.
    pub fn parse_allowed(list: &str) -> Result<Vec<IpNet>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is not a CIDR block (e.g. 10.20.0.0/16) or an address"))
            })
            .collect()
    }

    /// What webhook deliveries may reach (`UPWARD_WEBHOOK_ALLOW_PRIVATE_TARGETS`, `UPWARD_OUTBOUND_ALLOW_CIDRS`).
    pub fn for_webhooks(config: &crate::Config) -> Guard {
        Guard::new(
            config.webhook_allow_private_targets,
            Guard::parse_allowed(&config.outbound_allow_cidrs).unwrap_or_default(),
        )
    }

    /// What identity-provider JWKS fetches and HRIS connectors may reach (`UPWARD_ALLOW_INSECURE_URLS`,
    /// `UPWARD_OUTBOUND_ALLOW_CIDRS`).
    pub fn for_integrations(config: &crate::Config) -> Guard {
        Guard::new(
            config.allow_insecure_urls,
            Guard::parse_allowed(&config.outbound_allow_cidrs).unwrap_or_default(),
        )
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Whether a connection to `ip` may be made; the error says why not.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        let named = |ip: IpAddr| self.allowed.iter().any(|net| net.contains(&ip));
        let v4 = match ip {
            IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        if named(ip) || v4.is_some_and(named) {
            return Ok(());
        }
        let metadata = METADATA
            .iter()
            .filter_map(|m| m.parse::<IpNet>().ok())
            .any(|m| m.contains(&ip) || v4.is_some_and(|v4| m.contains(&v4)));
        if metadata {
            return Err("the cloud metadata service (name it in UPWARD_OUTBOUND_ALLOW_CIDRS to reach it)".into());
        }
        if self.allow_private {
            return Ok(());
        }
        not_global(ip).map_or(Ok(()), Err)
    }

    /// Checks a URL's form: its length, its scheme (`https`, or `http` when private targets are allowed), its host.
    pub fn check_form(&self, url: &str) -> Result<reqwest::Url, Refused> {
        if url.len() > MAX_URL_LEN {
            return Err(Refused::TooLong);
        }
        let parsed = reqwest::Url::parse(url).map_err(|e| Refused::NotAUrl(e.to_string()))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            _ => return Err(Refused::NotHttps),
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(Refused::NoHost);
        }
        Ok(parsed)
    }

    /// An IP-literal host never reaches the resolver: checks it (names pass; the resolver checks them).
    pub fn check_literal(&self, url: &reqwest::Url) -> Result<(), Refused> {
        let Some(ip) = literal(url) else { return Ok(()) };
        self.check_ip(ip).map_err(|reason| Refused::Internal {
            host: ip.to_string(),
            address: ip,
            reason,
        })
    }

    /// The check at registration: the form, then every address the host resolves to. DNS can change between two
    /// checks, so the connection is checked again (through [`Guard::resolver`]).
    pub async fn check_url(&self, url: &str) -> Result<reqwest::Url, Refused> {
        let parsed = self.check_form(url)?;
        self.check_literal(&parsed)?;
        if literal(&parsed).is_some() {
            return Ok(parsed);
        }
        let host = parsed.host_str().unwrap_or_default().to_string();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addresses = self.resolve(&host, port).await?;
        if addresses.is_empty() {
            return Err(Refused::DoesNotResolve {
                host,
                message: "no addresses".into(),
            });
        }
        Ok(parsed)
    }

    /// Resolves `host` and refuses it if any address it resolves to is refused (one bad address is enough: the
    /// client would pick among them).
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Refused::DoesNotResolve {
                host: host.to_string(),
                message: e.to_string(),
            })?
            .collect();
        for address in &addresses {
            self.check_ip(address.ip()).map_err(|reason| Refused::Internal {
                host: host.to_string(),
                address: address.ip(),
                reason,
            })?;
        }
        Ok(addresses)
    }

    /// A DNS resolver for reqwest clients that refuses names resolving to refused addresses, at every connection.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver(self.clone()))
    }
}

/// The address a URL names directly (possibly bracketed IPv6), if it names one.
fn literal(url: &reqwest::Url) -> Option<IpAddr> {
    url.host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// A reqwest resolver that resolves like the system does, then refuses the name if any address is refused.
pub struct GuardedResolver(Guard);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let addresses = guard
                .resolve(name.as_str(), 0)
                .await
                .map_err(|e| format!("refused: {e}"))?;
            let addrs: Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Every registry entry: its first and last address are judged as IANA marks the most specific entry holding
    /// them, and an address carrying IPv4 is refused when the IPv4 it carries is not globally reachable (an IPv4-mapped
    /// address is that IPv4 address).
    #[test]
    fn every_registry_entry_is_judged_as_iana_says() {
        let guard = Guard::strict();
        let reachable = |ip: IpAddr| registry::lookup(ip).is_none_or(|b| b.globally_reachable);
        for block in registry::IPV4.iter().chain(registry::IPV6).chain(registry::OTHER) {
            let net: IpNet = block.cidr.parse().unwrap();
            for address in [net.network(), net.broadcast()] {
                let carried = match address {
                    IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
                    IpAddr::V4(_) => None,
                };
                let expected = match (address, carried) {
                    (IpAddr::V6(v6), Some(v4)) if v6.to_ipv4_mapped().is_some() => reachable(v4),
                    (_, carried) => reachable(address) && carried.is_none_or(reachable),
                };
                assert_eq!(
                    guard.check_ip(address).is_ok(),
                    expected,
                    "{address} in {} ({}): {:?}",
                    block.cidr,
                    block.name,
                    guard.check_ip(address)
                );
            }
        }
    }

    #[test]
    fn public_addresses_pass_and_internal_ones_do_not() {
        let guard = Guard::strict();
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "192.0.0.9",
            "2606:4700::1111",
            "2001:4860:4860::8888",
        ] {
            assert_eq!(guard.check_ip(ip(public)), Ok(()), "{public}");
        }
        for internal in [
            "127.0.0.1",
            "10.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fec0::1",
            "ff02::1",
            // IPv4 embedded in IPv6, every form.
            "::ffff:127.0.0.1",
            "::ffff:0:10.0.0.1",
            "::169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            // 6to4 and Teredo are not globally reachable whatever they carry; nor the local-use NAT64 prefix.
            "2002:5db8:d822::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b:1::1",
            // Outside 2000::/3.
            "4000::1",
        ] {
            assert!(guard.check_ip(ip(internal)).is_err(), "{internal} should be refused");
        }
        // NAT64 to a public address is the public address.
        assert_eq!(guard.check_ip(ip("64:ff9b::5db8:d822")), Ok(()));
        assert_eq!(guard.check_ip(ip("::ffff:93.184.216.34")), Ok(()));
    }

    #[test]
    fn private_targets_still_keep_the_metadata_service_out_unless_named() {
        let open = Guard::new(true, Vec::new());
        assert_eq!(open.check_ip(ip("10.0.0.1")), Ok(()));
        assert_eq!(open.check_ip(ip("127.0.0.1")), Ok(()));
        for metadata in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "fd00:ec2::254",
            "100.100.100.200",
        ] {
            assert!(open.check_ip(ip(metadata)).is_err(), "{metadata}");
        }
        let named = Guard::new(false, Guard::parse_allowed("10.20.0.0/16, 169.254.169.254").unwrap());
        assert_eq!(named.check_ip(ip("10.20.3.4")), Ok(()));
        assert_eq!(named.check_ip(ip("169.254.169.254")), Ok(()));
        assert!(named.check_ip(ip("10.21.0.1")).is_err());
        assert!(Guard::parse_allowed("10.0.0.0/33").is_err());
    }

    #[tokio::test]
    async fn urls_are_checked_for_form_length_and_address() {
        let guard = Guard::strict();
        for url in [
            "https://127.0.0.1/hook",
            "https://10.1.2.3/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://[::ffff:192.168.0.1]/hook",
            "https://[64:ff9b::a00:1]/hook",
            "https://localhost:8443/hook",
        ] {
            assert!(
                matches!(guard.check_url(url).await, Err(Refused::Internal { .. })),
                "{url}"
            );
        }
        assert_eq!(guard.check_url("http://example.com/hook").await, Err(Refused::NotHttps));
        assert_eq!(
            Guard::new(true, Vec::new()).check_url("ftp://example.com/hook").await,
            Err(Refused::NotHttps)
        );
        assert!(matches!(guard.check_url("not a url").await, Err(Refused::NotAUrl(_))));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(guard.check_url(&long).await, Err(Refused::TooLong));
        assert!(
            Guard::new(true, Vec::new())
                .check_url("http://127.0.0.1:9/hook")
                .await
                .is_ok()
        );
        assert!(guard.check_url("https://93.184.216.34/hook").await.is_ok());
    }
}
