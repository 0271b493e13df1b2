//! The `upward` command itself: configuration errors are one clear line, `org create` prints credentials once,
//! `openapi` prints the committed document.

use std::process::Command;

fn upward() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_upward"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("UPWARD_")) {
        command.env_remove(key);
    }
    command
}

#[test]
fn a_bad_configuration_stops_start_up_with_one_clear_line() {
    for (key, value, expected) in [
        ("UPWARD_LISTEN", "not-an-address", "UPWARD_LISTEN"),
        ("UPWARD_DATABASE_URL", "mysql://localhost/x", "UPWARD_DATABASE_URL"),
        ("UPWARD_TOKEN_TTL_SECONDS", "soon", "TOKEN_TTL_SECONDS"),
    ] {
        let output = upward().env(key, value).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{key}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.starts_with("upward: error: configuration:") && stderr.contains(expected),
            "{stderr}"
        );
    }
}

#[test]
fn an_unreachable_database_is_one_line_with_the_password_hidden() {
    let output = upward()
        .env("UPWARD_DATABASE_URL", "postgres://upward:hunter2@127.0.0.1:1/upward")
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn org_create_prints_the_credentials_as_json() {
    let db = std::env::temp_dir().join(format!("upward-cli-{}.db", std::process::id()));
    let output = upward()
        .env("UPWARD_DATABASE_URL", format!("sqlite://{}?mode=rwc", db.display()))
        .args(["org", "create", "--name", "Acme"])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&db);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["name"], "Acme");
    assert!(created["id"].is_string() && created["client_id"].is_string());
    assert!(created["client_secret"].as_str().unwrap().len() > 40);
}

#[test]
fn openapi_prints_the_committed_document() {
    let output = upward().arg("openapi").output().unwrap();
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
    assert_eq!(printed, committed);
}
