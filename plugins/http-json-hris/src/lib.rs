//! An HRIS connector for directories that serve employees as JSON pages: `GET {base_url}/employees[?cursor=…]`
//! answering `{"employees": [...], "next_cursor": "…" | null}`, with the bearer token from the secret named in the
//! configuration. The configuration maps a directory shaped differently: the path, where the records and the cursor
//! are, and each field's name (dotted paths into a record). The host lets it reach only the manifest's
//! `allowed_hosts`; pointed anywhere else, it gets a refusal, which it reports as its error (the tests' "calls a
//! host not on its list" case).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use upward_plugin_sdk::connector::{self, Employee, HrisConnector, Page};

/// The configuration. Only `base_url` is required; the rest describes a directory whose JSON is not shaped like
/// Upward's own.
#[derive(Deserialize)]
struct Config {
    base_url: String,
    /// The path of the employees list under `base_url` (default `/employees`).
    #[serde(default = "default_path")]
    path: String,
    /// The secret holding the API token (optional), sent as `Authorization: Bearer …`.
    #[serde(default)]
    token_secret: Option<String>,
    /// Where the page's records are (default `employees`) and its next cursor (default `next_cursor`), as dotted
    /// paths into the answer.
    #[serde(default = "default_records")]
    records: String,
    #[serde(default = "default_cursor")]
    next_cursor: String,
    /// Upward's field → the record's field (a dotted path), for fields named differently, e.g.
    /// `{"external_id": "id", "email": "work.email", "title": "jobTitle", "manager_external_id": "manager.id"}`.
    #[serde(default)]
    fields: BTreeMap<String, String>,
    /// Values of the `active` field that mean the employee left (strings, case-insensitive), for directories that
    /// give a status rather than a boolean (default: `inactive`, `terminated`, `left`).
    #[serde(default = "default_inactive")]
    inactive_values: Vec<String>,
}

fn default_path() -> String {
    "/employees".into()
}
fn default_records() -> String {
    "employees".into()
}
fn default_cursor() -> String {
    "next_cursor".into()
}
fn default_inactive() -> Vec<String> {
    ["inactive", "terminated", "left"].map(String::from).to_vec()
}

/// The value at a dotted path (`manager.id`).
fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(value, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Config {
    fn field<'a>(&self, record: &'a Value, name: &str) -> Option<&'a Value> {
        at(record, self.fields.get(name).map(String::as_str).unwrap_or(name))
    }

    /// One record as an employee. A record missing its id, email or name still comes through, with the field empty:
    /// the host reports it as a record in error rather than the whole page failing.
    fn employee(&self, record: &Value) -> Employee {
        let text_of = |name: &str| text(self.field(record, name));
        let level = match self.field(record, "level") {
            Some(Value::Number(n)) => n.as_i64().map(|l| l as i32),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let active = match self.field(record, "active") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => !self.inactive_values.iter().any(|v| v.eq_ignore_ascii_case(s.trim())),
            Some(_) => true,
        };
        Employee {
            external_id: text_of("external_id").unwrap_or_default(),
            email: text_of("email").unwrap_or_default(),
            name: text_of("name").unwrap_or_default(),
            department: text_of("department"),
            title: text_of("title"),
            level,
            manager_external_id: text_of("manager_external_id"),
            location: text_of("location"),
            timezone: text_of("timezone"),
            active,
        }
    }
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
        let mut url = format!(
            "{}/{}",
            config.base_url.trim_end_matches('/'),
            config.path.trim_start_matches('/')
        );
        if let Some(cursor) = &cursor {
            let separator = if url.contains('?') { '&' } else { '?' };
            url.push_str(&format!("{separator}cursor={}", query_escape(cursor)));
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
        let page: Value =
            serde_json::from_slice(&response.body).map_err(|e| format!("{url} answered malformed JSON: {e}"))?;
        let records = at(&page, &config.records)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{url} answered no `{}` list", config.records))?;
        upward_plugin_sdk::log::info(&format!("fetched {} employees", records.len()));
        Ok(Page {
            employees: records.iter().map(|r| config.employee(r)).collect(),
            next_cursor: text(at(&page, &config.next_cursor)).filter(|c| !c.is_empty()),
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
    fn fields_are_mapped_from_the_configuration() {
        testing::set_config(
            r#"{"base_url": "https://hr.example.com", "path": "/v2/people", "records": "data.people",
                "next_cursor": "paging.next",
                "fields": {"external_id": "id", "email": "work.email", "name": "fullName", "title": "jobTitle",
                           "manager_external_id": "manager.id", "active": "status", "level": "grade"}}"#,
        );
        testing::respond(
            "https://hr.example.com/v2/people",
            200,
            r#"{"data": {"people": [
                 {"id": 7, "work": {"email": "ana@example.com"}, "fullName": "Ana", "jobTitle": "Engineer",
                  "manager": {"id": "E-1"}, "status": "Active", "grade": "4"},
                 {"id": 8, "work": {"email": "sam@example.com"}, "fullName": "Sam", "status": "Terminated"},
                 {"work": {"email": "no-id@example.com"}, "fullName": "No Id"}]},
               "paging": {"next": 2}}"#,
        );
        let page = HttpJsonHris::fetch_page(None).unwrap();
        let ana = &page.employees[0];
        assert_eq!(ana.external_id, "7");
        assert_eq!(ana.email, "ana@example.com");
        assert_eq!(ana.title.as_deref(), Some("Engineer"));
        assert_eq!(ana.manager_external_id.as_deref(), Some("E-1"));
        assert_eq!(ana.level, Some(4));
        assert!(ana.active);
        assert!(!page.employees[1].active);
        // Passed on for the host to report, not dropped.
        assert_eq!(page.employees[2].external_id, "");
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
    }

    #[test]
    fn a_failing_directory_is_an_error() {
        testing::set_config(r#"{"base_url": "https://hr.example.com"}"#);
        testing::respond("https://hr.example.com/employees", 503, "busy");
        assert!(HttpJsonHris::fetch_page(None).unwrap_err().contains("503"));
    }
}
