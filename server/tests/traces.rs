//! An operator points Upward at an OpenTelemetry collector: the spans of requests, the matching run a request
//! started and the webhook deliveries arrive over OTLP/HTTP with the right parents — a request continues the trace
//! its `traceparent` names, the run is a child of the request that queued it, and the receiver of a webhook is sent a
//! `traceparent` naming the delivery's span. The collector here is a small OTLP receiver on loopback decoding the
//! official protobuf types; the server is the real binary.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::{Value, json};
use support::{Database, Server, create_org, free_port};

#[derive(Clone, Debug)]
struct Exported {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves `POST path` on a free port, handing each request's headers and body to `keep`.
async fn listen(path: &'static str, keep: impl Fn(&actix_web::HttpRequest, &[u8]) + Clone + Send + 'static) -> u16 {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let port = free_port();
    let server = HttpServer::new(move || {
        let keep = keep.clone();
        App::new().route(
            path,
            web::post().to(move |req: actix_web::HttpRequest, body: web::Bytes| {
                let keep = keep.clone();
                async move {
                    keep(&req, &body);
                    HttpResponse::Ok().content_type("application/x-protobuf").finish()
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .unwrap()
    .run();
    tokio::spawn(server);
    port
}

async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "never arrived: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn spans_reach_the_collector_with_the_right_parents() {
    let spans: Arc<Mutex<Vec<Exported>>> = Arc::default();
    let collector = {
        let spans = spans.clone();
        listen("/v1/traces", move |_, body| {
            let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
            let mut spans = spans.lock().unwrap();
            for resource in request.resource_spans {
                for scope in resource.scope_spans {
                    for span in scope.spans {
                        spans.push(Exported {
                            name: span.name,
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent_span_id: hex(&span.parent_span_id),
                        });
                    }
                }
            }
        })
        .await
    };
    let traceparents: Arc<Mutex<Vec<String>>> = Arc::default();
    let hooks = {
        let traceparents = traceparents.clone();
        listen("/hooks", move |req, _| {
            if let Some(v) = req.headers().get("traceparent").and_then(|v| v.to_str().ok()) {
                traceparents.lock().unwrap().push(v.to_string());
            }
        })
        .await
    };

    let database = Database::sqlite("upward-traces");
    let (client_id, client_secret) = create_org(&database.url);
    let collector_url = format!("http://127.0.0.1:{collector}");
    let mut server = Server::start(
        &database.url,
        &[
            ("UPWARD_OTLP_ENDPOINT", collector_url.as_str()),
            ("UPWARD_WEBHOOK_POLL_INTERVAL_MS", "100"),
            ("UPWARD_LOG", "warn,upward_server=info"),
            // Export every 200 ms instead of every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    )
    .await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let token = server.token(&client_id, &client_secret).await;
    let post = |path: String, body: Value, traceparent: Option<&'static str>| {
        let mut request = client.post(format!("{base}{path}")).bearer_auth(&token).json(&body);
        if let Some(tp) = traceparent {
            request = request.header("traceparent", tp);
        }
        async move {
            let answer = request.send().await.unwrap();
            assert!(answer.status().is_success(), "{path}: {}", answer.status());
            answer.json::<Value>().await.unwrap()
        }
    };
    post(
        "/v1/webhook-endpoints".into(),
        json!({"url": format!("http://127.0.0.1:{hooks}/hooks"), "event_types": ["participant.created"]}),
        None,
    )
    .await;

    // 1. A request continues the caller's trace.
    const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CALLER_SPAN: &str = "00f067aa0ba902b7";
    let mentor = post(
        "/v1/participants".into(),
        json!({"email": "mo@acme.test", "display_name": "Mo", "level": 2, "department": "Engineering"}),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    )
    .await;
    let request = until("the request span", || {
        spans
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.name == "POST /v1/participants" && s.trace_id == CALLER_TRACE)
            .cloned()
    })
    .await;
    assert_eq!(request.parent_span_id, CALLER_SPAN, "a child of the caller's span");

    // 2. The webhook receiver is sent a traceparent naming the delivery's span.
    let sent = until("a delivery with a traceparent", || {
        traceparents.lock().unwrap().first().cloned()
    })
    .await;
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    let delivery = until("the delivery span", || {
        spans
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.name == "webhook.deliver" && s.span_id == parts[2])
            .cloned()
    })
    .await;
    assert_eq!(delivery.trace_id, parts[1]);

    // 3. A matching run is a child of the request that queued it.
    let mentee = post(
        "/v1/participants".into(),
        json!({"email": "erin@acme.test", "display_name": "Erin", "level": 9, "department": "Finance"}),
        None,
    )
    .await;
    let programme = post(
        "/v1/programmes".into(),
        json!({"name": "Pilot", "topics": ["AI tools"], "starts_on": "2027-01-11", "ends_on": "2027-06-30"}),
        None,
    )
    .await;
    let programme = programme["id"].as_str().unwrap().to_string();
    post(
        format!("/v1/programmes/{programme}/transitions"),
        json!({"to": "enrolling"}),
        None,
    )
    .await;
    for (person, role) in [(&mentor, "mentor"), (&mentee, "mentee")] {
        post(
            format!("/v1/programmes/{programme}/enrolments"),
            json!({"participant_id": person["id"], "role": role, "topics": ["AI tools"]}),
            None,
        )
        .await;
    }
    post(
        format!("/v1/programmes/{programme}/matching-runs"),
        json!({}),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    )
    .await;
    let (queued_by, run) = until("the matching run's span", || {
        let spans = spans.lock().unwrap();
        let queued_by = spans
            .iter()
            .find(|s| s.name == "POST /v1/programmes/{id}/matching-runs")?
            .clone();
        let run = spans.iter().find(|s| s.name == "matching_run")?.clone();
        Some((queued_by, run))
    })
    .await;
    assert_eq!(queued_by.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(run.trace_id, queued_by.trace_id);
    assert_eq!(
        run.parent_span_id, queued_by.span_id,
        "the run is a child of the request"
    );

    // A request without a traceparent starts its own trace.
    let root = until("a root request span", || {
        spans
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.name == "POST /v1/programmes")
            .cloned()
    })
    .await;
    assert!(root.parent_span_id.is_empty(), "{root:?}");
    server.kill9();
    database.drop_it().await;
}
