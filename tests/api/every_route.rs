//! Every operation of the committed spec, called the way a careless or hostile client calls it — ids that are not
//! ids or name nothing, bodies whose every field has the wrong type or that are not even objects, query parameters
//! that are not what they should be — answers with a 4xx problem document (or, where the input is harmless, a 2xx):
//! never a 5xx, never a dropped connection. The sweep reads the routes from `openapi/openapi.json`, so a route added
//! tomorrow is swept tomorrow. Ids of real resources (a cohort's participant, programme, pair, session, …) are used
//! where the path names them, so wrong bodies reach the domain's validation, not only the router; each call is made
//! as an admin, a programme manager and a participant. A NUL character (U+0000) in every text field and every string
//! parameter is refused the same way on both backends (PostgreSQL cannot store one): a 4xx naming where it was.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, on_every_backend};

on_every_backend!(every_route_answers_bad_input_with_a_problem_document);

async fn every_route_answers_bad_input_with_a_problem_document(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cohort = app.cohort().await;
    let admin = cohort.org.token.clone();
    let session = app.session(&cohort.pair, &cohort.mentor.token, 48).await;
    let spec: Value =
        serde_json::from_str(include_str!("../../openapi/openapi.json")).expect("the committed spec is JSON");
    // Real ids by the collection a path starts with.
    let real: BTreeMap<&str, String> = [
        ("participants", cohort.mentor.id.clone()),
        ("programmes", cohort.programme.clone()),
        ("pairs", cohort.pair.clone()),
        ("sessions", session),
    ]
    .into_iter()
    .collect();

    // As the organisation's admin, a programme manager and a participant: each role takes its own path through the
    // handlers (visibility, ownership) before any input is judged.
    let callers = [
        ("admin", admin.clone()),
        ("manager", cohort.manager.token.clone()),
        ("participant", cohort.mentor.token.clone()),
    ];
    let mut calls = 0;
    let mut failures = Vec::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let query: Vec<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let content = &operation["requestBody"]["content"];
            let json_schema = content
                .get("application/json")
                .map(|c| resolve(&spec, &c["schema"]).clone());
            let other_type = content
                .as_object()
                .and_then(|c| c.keys().find(|k| *k != "application/json").cloned());

            let mut attempts: Vec<Attempt> = Vec::new();
            // Real resources are not deleted: the sweep goes on using them (and the participant's token).
            let id_kinds: &[Ids] = if method == Method::DELETE {
                &[Ids::NotAnId, Ids::Unknown]
            } else {
                &[Ids::NotAnId, Ids::Unknown, Ids::Real]
            };
            for &ids in id_kinds {
                let url = fill(path, ids, &real);
                attempts.push(Attempt::new(&url, "no body"));
                if let Some(schema) = &json_schema {
                    attempts.push(Attempt::new(&url, "every field of the wrong type").json(wrong(&spec, schema)));
                    attempts.push(Attempt::new(&url, "an array for a body").json(json!([1, "two", null])));
                    attempts.push(Attempt::new(&url, "a truncated body").raw("application/json", "{\"a\": "));
                    if let Some(body) = with_nul(&spec, schema) {
                        attempts.push(Attempt::new(&url, "NUL in every text field").json(body));
                    }
                }
                if let Some(content_type) = &other_type {
                    attempts
                        .push(Attempt::new(&url, "garbage of the declared type").raw(content_type, "\0garbage\r\n--"));
                }
                if !query.is_empty() {
                    for value in ["\u{2603}-not-valid", "-1", "99999999999999999999999", ""] {
                        let q: Vec<(&str, &str)> = query.iter().map(|name| (*name, value)).collect();
                        attempts.push(Attempt::new(&url, "query parameters of the wrong kind").query(q));
                    }
                    let q: Vec<(&str, &str)> = query.iter().map(|name| (*name, "a\u{0}b")).collect();
                    attempts.push(Attempt::new(&url, "NUL in every query parameter").query(q));
                }
            }

            for (attempt, (who, token)) in attempts.iter().flat_map(|a| callers.iter().map(move |c| (a, c))) {
                calls += 1;
                let mut request = app.request(method.clone(), &attempt.url, token).query(&attempt.query);
                if let Some((content_type, body)) = &attempt.body {
                    request = request.header("content-type", content_type.as_str()).body(body.clone());
                }
                let what = format!("{method} {} ({}, as {who})", attempt.url, attempt.what);
                let response = match request.send().await {
                    Ok(r) => r,
                    Err(e) => {
                        failures.push(format!("{what}: no answer: {e}"));
                        continue;
                    }
                };
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let body = response.text().await.unwrap_or_default();
                if status >= 500 {
                    failures.push(format!("{what}: {status} {body}"));
                } else if (400..500).contains(&status) && content_type != expected_error_type(path, status) {
                    failures.push(format!(
                        "{what}: {status} as {content_type:?}, not a problem document: {body}"
                    ));
                } else if attempt.what == "every field of the wrong type" && status < 300 {
                    failures.push(format!("{what}: accepted with {status}: {body}"));
                } else if attempt.what.starts_with("NUL") && status < 400 {
                    failures.push(format!("{what}: a NUL was accepted with {status}: {body}"));
                } else if attempt.what == "NUL in every query parameter" && status != 400 {
                    failures.push(format!("{what}: {status}, not 400: {body}"));
                }
            }
        }
    }
    let me = app
        .get(&format!("/v1/participants/{}", cohort.mentor.id), &cohort.mentor.token)
        .await;
    assert_eq!(
        me.status(),
        200,
        "the participant's token worked to the end of the sweep"
    );
    assert!(calls > 2000, "the sweep ran ({calls} calls)");
    assert!(
        failures.is_empty(),
        "{} of {calls} calls went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[derive(Clone, Copy)]
enum Ids {
    /// Path parameters that are not UUIDs.
    NotAnId,
    /// UUIDs that name nothing.
    Unknown,
    /// The cohort's real ids where the collection is known (else unknown ones).
    Real,
}

struct Attempt {
    url: String,
    what: &'static str,
    query: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
}

impl Attempt {
    fn new(url: &str, what: &'static str) -> Attempt {
        Attempt {
            url: url.to_string(),
            what,
            query: Vec::new(),
            body: None,
        }
    }

    fn json(self, body: Value) -> Attempt {
        self.raw("application/json", &body.to_string())
    }

    fn raw(mut self, content_type: &str, body: &str) -> Attempt {
        self.body = Some((content_type.to_string(), body.as_bytes().to_vec()));
        self
    }

    fn query(mut self, query: Vec<(&str, &str)>) -> Attempt {
        self.query = query.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self
    }
}

/// The path with its `{parameters}` filled in.
fn fill(path: &str, ids: Ids, real: &BTreeMap<&str, String>) -> String {
    let collection = path.trim_start_matches("/v1/").split('/').next().unwrap_or_default();
    // An erasure cannot fail on a body (it takes none) and cannot be undone: it is swept on ids that name nothing,
    // so the cohort the rest of the sweep relies on stays.
    let ids = if path.ends_with("/erasure") && matches!(ids, Ids::Real) {
        Ids::Unknown
    } else {
        ids
    };
    let mut first = true;
    path.split('/')
        .map(|segment| {
            if !segment.starts_with('{') {
                return segment.to_string();
            }
            let value = match ids {
                Ids::NotAnId => "not-an-id".to_string(),
                Ids::Real if first => real.get(collection).cloned().unwrap_or_else(unknown),
                _ => unknown(),
            };
            first = false;
            value
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn unknown() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Follows a `$ref` (and a nullable wrapper) to the schema it names.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return resolve(spec, &spec["components"]["schemas"][name]);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(variants) = schema[key].as_array()
            && let Some(first) = variants.iter().find(|v| v["type"] != "null")
        {
            return resolve(spec, first);
        }
    }
    schema
}

/// An object with every property of `schema` set to a value of another type.
fn wrong(spec: &Value, schema: &Value) -> Value {
    let mut body = serde_json::Map::new();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let property = resolve(spec, property);
        let kind = match &property["type"] {
            Value::Array(types) => types.iter().find(|t| *t != "null").cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        let value = match kind.as_str() {
            Some("string") => json!(12345),
            Some("integer") | Some("number") => json!("not a number"),
            Some("boolean") => json!("yes"),
            Some("array") => json!({"not": "an array"}),
            Some("object") => json!("not an object"),
            _ if property.get("enum").is_some() => json!("no-such-value"),
            _ => json!([[]]),
        };
        body.insert(name.clone(), value);
    }
    if body.is_empty() {
        body.insert("no_such_field".into(), json!(1));
    }
    Value::Object(body)
}

/// An object with every text property (strings, lists of strings, string values of maps) holding a NUL; `None` when
/// the schema has no text property.
fn with_nul(spec: &Value, schema: &Value) -> Option<Value> {
    let mut body = serde_json::Map::new();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let property = resolve(spec, property);
        let kind = match &property["type"] {
            Value::Array(types) => types.iter().find(|t| *t != "null").cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        let value = match kind.as_str() {
            Some("string") => json!("a\u{0}b"),
            Some("array") if resolve(spec, &property["items"])["type"] == "string" => json!(["a\u{0}b"]),
            Some("object") => json!({"key": "a\u{0}b"}),
            _ => continue,
        };
        body.insert(name.clone(), value);
    }
    (!body.is_empty()).then_some(Value::Object(body))
}

/// The media type of a 4xx: a problem document, except at the token endpoint, whose errors RFC 6749 (§5.2) makes
/// `application/json` with an `error` code (ours carry the problem fields as well).
fn expected_error_type(path: &str, status: u16) -> &'static str {
    if path == "/v1/oauth/token" && status != 413 && status != 429 {
        "application/json"
    } else {
        "application/problem+json"
    }
}
