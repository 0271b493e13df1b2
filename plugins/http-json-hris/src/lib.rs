//! An HRIS connector for directories that serve employees as JSON pages: `GET {base_url}/employees[?cursor=…]`
//! answering `{"employees": [...], "next_cursor": "…" | null}`, with the bearer token from the secret named in the
//! configuration. The host lets it reach only the manifest's `allowed_hosts`; pointed anywhere else, it gets a
//! refusal, which it reports as its error (the tests' "calls a host not on its list" case).

use serde::Deserialize;
use upward_plugin_sdk::connector::{self, Employee, HrisConnector, Page};

#[derive(Deserialize)]
struct Config {
    base_url: String,
    /// The secret holding the API token (optional).
    #[serde(default)]
    token_secret: Option<String>,
}

#[derive(Deserialize)]
struct JsonPage {
    employees: Vec<JsonEmployee>,
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct JsonEmployee {
    external_id: String,
    email: String,
    name: String,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    level: Option<i32>,
    #[serde(default)]
    manager_external_id: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

/// Percent-encodes a query value: a directory's opaque cursor may hold `&`, `=`, `+` or `/`.
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct HttpJsonHris;

impl HrisConnector for HttpJsonHris {
    fn fetch_page(cursor: Option<String>) -> Result<Page, String> {
        let config: Config = upward_plugin_sdk::config()?;
        let mut url = format!("{}/employees", config.base_url.trim_end_matches('/'));
        if let Some(cursor) = &cursor {
            url.push_str(&format!("?cursor={}", query_escape(cursor)));
        }
        let token = config.token_secret.as_deref().and_then(upward_plugin_sdk::secret);
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("accept", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth.as_str()));
        }
        let response = connector::get(&url, &headers)?;
        if response.status != 200 {
            return Err(format!("{url} answered {}", response.status));
        }
        let page: JsonPage =
            serde_json::from_slice(&response.body).map_err(|e| format!("{url} answered malformed JSON: {e}"))?;
        upward_plugin_sdk::log::info(&format!("fetched {} employees", page.employees.len()));
        Ok(Page {
            employees: page
                .employees
                .into_iter()
                .map(|e| Employee {
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
                })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }
}

upward_plugin_sdk::export_hris_connector!(HttpJsonHris);

#[cfg(test)]
mod tests {
    use super::HttpJsonHris;
    use upward_plugin_sdk::connector::HrisConnector;
    use upward_plugin_sdk::testing;

    #[test]
    fn pages_through_the_directory() {
        testing::set_config(r#"{"base_url": "https://hr.example.com/api/"}"#);
        testing::respond(
            "https://hr.example.com/api/employees",
            200,
            r#"{"employees": [{"external_id": "E1", "email": "ana@example.com", "name": "Ana", "level": 2}], "next_cursor": "p2"}"#,
        );
        testing::respond(
            "https://hr.example.com/api/employees?cursor=p2",
            200,
            r#"{"employees": []}"#,
        );
        let first = HttpJsonHris::fetch_page(None).unwrap();
        assert_eq!(first.employees[0].external_id, "E1");
        assert!(first.employees[0].active);
        let last = HttpJsonHris::fetch_page(first.next_cursor).unwrap();
        assert!(last.employees.is_empty() && last.next_cursor.is_none());
        assert_eq!(
            testing::logs(),
            ["info: fetched 1 employees", "info: fetched 0 employees"]
        );
    }

    #[test]
    fn an_opaque_cursor_is_escaped() {
        testing::set_config(r#"{"base_url": "https://hr.example.com"}"#);
        testing::respond(
            "https://hr.example.com/employees?cursor=a%2Bb%3D%26c",
            200,
            r#"{"employees": []}"#,
        );
        let page = HttpJsonHris::fetch_page(Some("a+b=&c".into())).unwrap();
        assert!(page.employees.is_empty());
    }

    #[test]
    fn a_failing_directory_is_an_error() {
        testing::set_config(r#"{"base_url": "https://hr.example.com"}"#);
        testing::respond("https://hr.example.com/employees", 503, "busy");
        assert!(HttpJsonHris::fetch_page(None).unwrap_err().contains("503"));
    }
}
