//! Bulk import with a dry run: an HR lead starts from a spreadsheet, not an HRIS — sees the diff and every bad row
//! by its line number first, applies it, imports again without changing anything, and deactivates leavers only when
//! asking for it.

use reqwest::Method;
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(an_hr_lead_imports_a_spreadsheet_after_a_dry_run);

const SHEET: &str = "\
external_id,email,name,department,title,level,manager_external_id,location,timezone,active
E-1,cleo@acme.test,Cleo Chief,Board,CEO,10,,London,Europe/London,yes
E-2,ada@acme.test,\"Lovelace, Ada\",Engineering,Engineer,3,E-3,,,
E-3,grace@acme.test,Grace Hopper,Engineering,Director,8,E-1,,,
E-4,not-an-email,Bad Email,Sales,,4,,,,
E-5,lin@acme.test,Lin,Sales,,high,,,,
E-2,dup@acme.test,Dup,Sales,,2,,,,
E-6,gus@acme.test,Gus,Operations,,2,E-404,,,
";

async fn import(app: &TestApp, token: &str, query: &str, content_type: &str, body: &str) -> (u16, Value) {
    let response = app
        .request(Method::POST, &format!("/v1/participant-imports{query}"), token)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn changes(app: &TestApp, token: &str, id: &str, kind: &str) -> Vec<Value> {
    let (status, page) = app
        .call(
            Method::GET,
            &format!("/v1/participant-imports/{id}/changes?kind={kind}&limit=200"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

async fn participant_count(app: &TestApp, token: &str) -> usize {
    let (_, page) = app.call(Method::GET, "/v1/participants?limit=200", token, None).await;
    page["data"].as_array().unwrap().len()
}

async fn an_hr_lead_imports_a_spreadsheet_after_a_dry_run(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let admin = acme.token.clone();
    // Grace was added by hand before the spreadsheet: the import adopts her by email. Zed has an external id the
    // spreadsheet does not list.
    let grace = app.person(&admin, "grace@acme.test", 8).await;
    app.participant(
        &admin,
        json!({"email": "zed@acme.test", "display_name": "Zed", "level": 5, "external_id": "E-99"}),
    )
    .await;

    // The dry run: the diff and every bad row with its line; nothing written.
    let (status, dry) = import(&app, &admin, "?dry_run=true", "text/csv", SHEET).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["state"], "completed");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["format"], "csv");
    assert_eq!(dry["counts"]["records"], 7);
    assert_eq!(dry["counts"]["created"], 3, "E-1, E-2, E-6: {dry}");
    assert_eq!(dry["counts"]["updated"], 1, "Grace adopted: {dry}");
    assert_eq!(dry["counts"]["deactivated"], 0, "no leavers unless asked");
    assert_eq!(dry["counts"]["errors"], 4);
    let lines: Vec<(u64, String)> = dry["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["errors"][0]["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (5, "invalid_format".to_string()),
            (6, "invalid".to_string()),
            (7, "duplicate_external_id".to_string()),
            (8, "unknown_manager".to_string()),
        ],
        "{dry}"
    );
    let dry_id = dry["id"].as_str().unwrap().to_string();
    let creates = changes(&app, &admin, &dry_id, "create").await;
    let created: Vec<&str> = creates.iter().map(|c| c["external_id"].as_str().unwrap()).collect();
    assert_eq!(created.len(), 3, "{creates:?}");
    assert!(created.contains(&"E-2"));
    let ada = creates.iter().find(|c| c["external_id"] == "E-2").unwrap();
    assert_eq!(ada["fields"]["display_name"], "Lovelace, Ada");
    assert_eq!(
        ada["manager_external_id"], "E-3",
        "a manager later in the file is linked"
    );
    assert_eq!(changes(&app, &admin, &dry_id, "error").await.len(), 4);
    for kind in ["", "creates"] {
        let path = format!("/v1/participant-imports/{dry_id}/changes?kind={kind}");
        assert_problem(app.get(&path, &admin).await, 422, "validation_failed").await;
    }
    assert_eq!(participant_count(&app, &admin).await, 2, "a dry run writes nothing");

    // Applied: the same diff, written page by page with its events.
    let (status, applied) = import(&app, &admin, "", "text/csv", SHEET).await;
    assert_eq!(status, 201, "{applied}");
    assert_eq!(applied["counts"]["created"], 3);
    assert_eq!(applied["counts"]["updated"], 1);
    assert_eq!(applied["progress"]["applied"], applied["progress"]["total"]);
    assert_eq!(participant_count(&app, &admin).await, 5);
    let (_, people) = app.call(Method::GET, "/v1/participants?limit=200", &admin, None).await;
    let by_email = |email: &str| {
        people["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["email"] == email)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_email("ada@acme.test")["manager_id"], grace["id"]);
    assert_eq!(by_email("grace@acme.test")["external_id"], "E-3");
    assert_eq!(
        by_email("grace@acme.test")["manager_id"],
        by_email("cleo@acme.test")["id"]
    );
    assert_eq!(by_email("cleo@acme.test")["timezone"], "Europe/London");
    let events = app.events(&admin).await;
    let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    assert_eq!(count("participant.created"), 2 + 3);
    assert_eq!(count("participant_import.completed"), 2);
    let (status, fetched) = app
        .call(
            Method::GET,
            &format!("/v1/participant-imports/{}", applied["id"].as_str().unwrap()),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["state"], "completed");

    // Importing the same file again changes nothing.
    let (_, again) = import(&app, &admin, "", "text/csv", SHEET).await;
    assert_eq!(again["counts"]["created"], 0, "{again}");
    assert_eq!(again["counts"]["updated"], 0);
    assert_eq!(again["counts"]["unchanged"], 4);

    // Leavers only when asked: a JSON-lines file listing Cleo alone, with `leavers=true`, would deactivate everyone
    // else with an external id (Zed too), and nobody without one.
    let lines = "{\"external_id\": \"E-1\", \"email\": \"cleo@acme.test\", \"name\": \"Cleo Chief\", \"department\": \"Board\", \"title\": \"CEO\", \"level\": 10, \"location\": \"London\", \"timezone\": \"Europe/London\"}\n";
    let (status, leavers) = import(
        &app,
        &admin,
        "?dry_run=true&leavers=true",
        "application/x-ndjson",
        lines,
    )
    .await;
    assert_eq!(status, 200, "{leavers}");
    assert_eq!(leavers["format"], "json_lines");
    assert_eq!(leavers["counts"]["deactivated"], 4, "E-2, E-3, E-6, E-99: {leavers}");
    let (_, kept) = import(&app, &admin, "?dry_run=true", "application/x-ndjson", lines).await;
    assert_eq!(kept["counts"]["deactivated"], 0);

    // A file that cannot be read as a whole is refused; so is what is neither CSV nor JSON lines, and anyone but an
    // admin. Another organisation finds nothing.
    let (status, problem) = import(
        &app,
        &admin,
        "",
        "text/csv",
        "external_id,email,name,salary\nE,x@y.z,X,1\n",
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["code"], "unknown_column");
    let (status, problem) = import(
        &app,
        &admin,
        "",
        "text/csv",
        "external_id,email,name\nE-7,nul@acme.test,N\0L\n",
    )
    .await;
    assert_eq!(status, 422, "refused alike on both backends: {problem}");
    assert_eq!(problem["errors"][0]["code"], "nul_character");
    let (status, _) = import(&app, &admin, "", "application/json", "{}").await;
    assert_eq!(status, 415);
    let person = app.person(&admin, "pat@acme.test", 3).await;
    let pat = app.participant_token(&admin, person["id"].as_str().unwrap()).await;
    let (status, _) = import(&app, &pat, "?dry_run=true", "text/csv", SHEET).await;
    assert_eq!(status, 403);
    let globex = app.org("Globex").await;
    assert_problem(
        app.get(&format!("/v1/participant-imports/{dry_id}"), &globex.token)
            .await,
        404,
        "not_found",
    )
    .await;
}
