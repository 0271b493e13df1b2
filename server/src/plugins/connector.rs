//! HRIS-connector plugins: [`ConnectorPlugin`] fetches one page of the directory in a fresh, limited instance, and
//! the host's `http` import — the only door out of the sandbox — reaches nothing but the manifest's allowed hosts:
//! HTTPS only, no redirects, public addresses only (checked after DNS), with a timeout and a response size cap.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wasmtime::component::{Component, HasSelf};

use super::wit::connector::{HrisConnector, HrisConnectorPre};
use super::wit::{http, types};
use super::{Host, Invocation, Limits, Network, PluginError, Sandbox, State, invoke};

/// The largest response body a connector may read.
const MAX_RESPONSE_BYTES: usize = 8 << 20;
/// The longest one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn prepare(host: &Host, component: &Component) -> Result<HrisConnectorPre<State>, PluginError> {
    let mut linker = host.linker()?;
    HrisConnector::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
        .map_err(|e| PluginError::Compile(e.to_string()))?;
    let wrong = |e: wasmtime::Error| PluginError::WrongWorld {
        world: "hris-connector",
        message: format!("{e:#}"),
    };
    HrisConnectorPre::new(linker.instantiate_pre(component).map_err(wrong)?).map_err(wrong)
}

/// Checks that the component links as an HRIS connector.
pub fn check(host: &Host, component: &Component) -> Result<(), PluginError> {
    prepare(host, component).map(|_| ())
}

pub struct ConnectorPlugin {
    engine: wasmtime::Engine,
    pre: HrisConnectorPre<State>,
    limits: Limits,
    config: String,
    network: Network,
    http: reqwest::Client,
    guard: crate::net::Guard,
}

impl ConnectorPlugin {
    pub fn new(
        host: &Host,
        component: &Component,
        limits: Limits,
        config: String,
        network: Network,
    ) -> Result<Self, PluginError> {
        Ok(ConnectorPlugin {
            engine: host.engine().clone(),
            pre: prepare(host, component)?,
            limits,
            config,
            network,
            http: host.http.clone(),
            guard: host.guard.clone(),
        })
    }

    /// Fetches one page. Must run on a blocking-pool thread of a tokio runtime (the `http` import waits on it).
    pub fn run(&self, input: &ConnectorInput) -> (Result<PageDoc, PluginError>, Invocation) {
        let (result, usage) = invoke(
            Sandbox {
                engine: &self.engine,
                limits: &self.limits,
                config: self.config.clone(),
                network: Some((self.network.clone(), self.http.clone(), self.guard.clone())),
            },
            1,
            |store| self.pre.instantiate(store),
            |c, store| {
                c.upward_plugin_directory()
                    .call_fetch_page(store, input.cursor.as_deref())
            },
            |page| {
                page.employees
                    .iter()
                    .map(|e| 64 + e.external_id.len() + e.email.len() + e.name.len())
                    .sum()
            },
        );
        let result = result.map(|page| PageDoc {
            employees: page.employees.into_iter().map(EmployeeDoc::from).collect(),
            next_cursor: page.next_cursor,
        });
        let record = Invocation::of(&result, usage);
        (result, record)
    }
}

/// Whether `host` is on the list: an exact name, or `*.example.com` for its subdomains.
pub fn host_allowed(allowed: &[String], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        match a.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => a == host,
        }
    })
}

impl State {
    fn send(&mut self, request: http::Request) -> Result<http::Response, String> {
        let (client, guard) = self.http.clone().ok_or("this plugin may not make HTTP requests")?;
        // The outbound guard: length, scheme and an IP-literal host here; a name is checked by the client's resolver at
        // the connection itself, so the address checked is the address reached.
        let url = guard.check_form(&request.url).map_err(|e| match e {
            crate::net::Refused::NotHttps => format!("refused {}: only https URLs may be fetched", request.url),
            other => format!("bad url: {other}"),
        })?;
        guard.check_literal(&url).map_err(|e| format!("refused: {e}"))?;
        let host = url.host_str().ok_or("the url has no host")?.to_string();
        if !host_allowed(&self.network.allowed_hosts, &host) {
            self.log(format!("warn: refused a request to {host}: not in allowed_hosts"));
            return Err(format!("refused {host}: not in the plugin's allowed_hosts"));
        }
        let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("bad method {:?}", request.method))?;
        // Waiting on the network is outside the epoch deadline's reach, so the invocation's budget bounds it here.
        let timeout = match self.deadline {
            Some(deadline) => deadline
                .saturating_duration_since(std::time::Instant::now())
                .min(REQUEST_TIMEOUT),
            None => REQUEST_TIMEOUT,
        };
        if timeout.is_zero() {
            return Err("the invocation's time budget is spent".into());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| "no runtime to send the request on")?;
        let span = tracing::info_span!("connector.request", otel.kind = "client", http.request.method = %method, server.address = %host);
        let trace_headers = crate::telemetry::traces::outgoing_headers(&span);
        let _entered = span.enter();
        runtime.block_on(async move {
            let mut builder = client.request(method, url).timeout(timeout);
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            for (name, value) in trace_headers {
                builder = builder.header(name, value);
            }
            if let Some(body) = request.body {
                builder = builder.body(body);
            }
            let mut response = builder.send().await.map_err(|e| {
                if e.is_timeout() {
                    format!("request to {host} timed out after {} ms", timeout.as_millis())
                } else {
                    format!("request failed: {e}")
                }
            })?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| format!("reading the response: {e}"))?
            {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(format!("the response is over {MAX_RESPONSE_BYTES} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(http::Response { status, headers, body })
        })
    }
}

impl http::Host for State {
    fn send(&mut self, request: http::Request) -> Result<http::Response, String> {
        State::send(self, request)
    }
}

/// A connector's input as JSON: the cursor of the page to fetch (`null` for the first).
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"cursor": null}))]
pub struct ConnectorInput {
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"employees": [{"external_id": "E-1001", "email": "ana@example.com", "name": "Ana", "department": "Engineering",
    "title": "Engineer", "level": 2, "manager_external_id": "E-1", "location": "London", "timezone": "Europe/London", "active": true}],
    "next_cursor": "page-2"}))]
pub struct PageDoc {
    pub employees: Vec<EmployeeDoc>,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, ToSchema)]
pub struct EmployeeDoc {
    pub external_id: String,
    pub email: String,
    pub name: String,
    pub department: Option<String>,
    pub title: Option<String>,
    pub level: Option<i32>,
    pub manager_external_id: Option<String>,
    pub location: Option<String>,
    pub timezone: Option<String>,
    pub active: bool,
}

impl From<types::Employee> for EmployeeDoc {
    fn from(e: types::Employee) -> Self {
        EmployeeDoc {
            external_id: e.external_id,
            email: e.email,
            name: e.name,
            department: e.department,
            title: e.title,
            level: e.level,
            manager_external_id: e.manager_external_id,
            location: e.location,
            timezone: e.timezone,
            active: e.active,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_hosts_and_public_addresses() {
        let allowed = vec!["api.bamboohr.com".to_string(), "*.workday.com".to_string()];
        assert!(host_allowed(&allowed, "API.bamboohr.com"));
        assert!(host_allowed(&allowed, "eu.workday.com"));
        assert!(!host_allowed(&allowed, "workday.com.evil.test"));
        assert!(!host_allowed(&allowed, "evil.test"));
    }
}
