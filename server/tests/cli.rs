//! The `upward` command itself: configuration errors are one clear line, `org create` prints credentials once,
//! `openapi` prints the committed document, `plugin run` runs a built component through the real host.

use std::process::Command;

fn upward() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_upward"));
    // `plugin run` keeps compiled components in ./upward-plugin-cache: not in the checkout.
    command.current_dir(std::env::temp_dir());
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("UPWARD_")) {
        command.env_remove(key);
    }
    command
}

#[test]
fn a_bad_configuration_stops_start_up_with_one_clear_line() {
    for (key, value, expected) in [
        ("UPWARD_LISTEN", "not-an-address", "UPWARD_LISTEN"),
        ("UPWARD_LISTEN", "8080", "a port alone is not enough"),
        ("UPWARD_DATABASE_URL", "mysql://localhost/x", "UPWARD_DATABASE_URL"),
        ("UPWARD_TOKEN_TTL_SECONDS", "soon", "TOKEN_TTL_SECONDS"),
        (
            "UPWARD_CONFIG",
            "/nope.toml",
            "UPWARD_CONFIG: /nope.toml is not a readable file",
        ),
        ("UPWARD_LOG", "bogus===", "UPWARD_LOG"),
        ("UPWARD_LOG", "wran", "did you mean warn?"),
        ("UPWARD_ISSUER", "not-a-url", "UPWARD_ISSUER"),
        ("UPWARD_LOG_FORMAT", "xml", "must be text or json"),
        (
            "UPWARD_LSTEN",
            "127.0.0.1:8080",
            "UPWARD_LSTEN (in `UPWARD_` environment variable(s)) is not a setting; did you mean UPWARD_LISTEN?",
        ),
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
    // Said at once, with the reason, not after a pool's timeout.
    assert!(stderr.contains("cannot reach PostgreSQL at 127.0.0.1:1"), "{stderr}");
}

#[test]
fn help_lists_every_setting_and_the_database_url_forms() {
    for args in [&["--help"][..], &["serve", "--help"][..]] {
        let output = upward().args(args).output().unwrap();
        assert!(output.status.success());
        let help = String::from_utf8(output.stdout).unwrap();
        for expected in [
            "UPWARD_DATABASE_URL = sqlite://upward.db",
            "postgres://",
            "upward.toml",
            "UPWARD_LISTEN",
        ] {
            assert!(help.contains(expected), "{args:?}: {expected} missing from\n{help}");
        }
    }
}

#[test]
fn a_fresh_sqlite_file_is_created_without_a_mode_parameter() {
    let db = std::env::temp_dir().join(format!("upward-cli-fresh-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let output = upward()
        .env("UPWARD_DATABASE_URL", format!("sqlite://{}", db.display()))
        .arg("migrate")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(db.exists());
    let _ = std::fs::remove_file(&db);
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

/// Where `cargo build --target wasm32-wasip2 --release` in `plugins/` put a component.
fn built_plugin(name: &str) -> std::path::PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/target"));
    target.join("wasm32-wasip2/release").join(format!("{name}.wasm"))
}

fn input_file(name: &str, input: serde_json::Value) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("upward-cli-{}-{name}.json", std::process::id()));
    std::fs::write(&path, input.to_string()).unwrap();
    path
}

fn one_candidate() -> serde_json::Value {
    serde_json::json!({
        "programme": {"id": "p1", "topics": ["ai"], "min_level_gap": 1, "cross_department": "preferred",
                      "weights": {"shared_topics": 1.0, "level_gap": 0.5, "cross_department": 0.5}},
        "mentors": [{"id": "ana", "level": 2, "department": "Engineering", "topics": ["ai"]}],
        "mentees": [{"id": "sam", "level": 9, "department": "Finance", "topics": ["ai"]}],
        "candidates": [[0, 0]],
    })
}

#[test]
fn plugin_run_prints_a_matchers_verdicts_and_usage() {
    let input = input_file("matcher", one_candidate());
    let output = upward()
        .args(["plugin", "run", "--kind", "matcher", "--wasm"])
        .arg(built_plugin("default_matcher"))
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&input);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // Topics 1 + departments 0.5 + level gap 0.5, as the built-in policy scores it.
    assert_eq!(
        report["output"]["verdicts"],
        serde_json::json!([{"score": 2.0, "veto": null}])
    );
    assert!(report["usage"]["fuel_used"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["usage"]["items"], 1);
}

#[test]
fn plugin_run_contains_a_hostile_plugin_with_the_servers_limits() {
    let input = input_file("hostile", one_candidate());
    let output = upward()
        .args([
            "plugin",
            "run",
            "--kind",
            "matcher",
            "--config",
            r#"{"mode": "spin"}"#,
            "--wasm",
        ])
        .arg(built_plugin("hostile_matcher"))
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&input);
    // The plugin failed (exit 1), the host did not: a report names the outcome.
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let outcome = report["error"]["outcome"].as_str().unwrap();
    assert!(["timeout", "out_of_fuel"].contains(&outcome), "{report}");
}

#[test]
fn plugin_run_compiles_once_and_takes_the_limits_it_is_given() {
    let cache = std::env::temp_dir().join(format!("upward-cli-cache-{}", std::process::id()));
    let input = input_file("cached", one_candidate());
    let run = |extra: &[&str]| {
        let output = upward()
            .args(["plugin", "run", "--kind", "matcher", "--cache-dir"])
            .arg(&cache)
            .args(extra)
            .arg("--wasm")
            .arg(built_plugin("hostile_matcher"))
            .arg("--input")
            .arg(&input)
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        (
            output.status.code(),
            report,
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (code, first, stderr) = run(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(first["component"], "compiled");
    let (_, second, _) = run(&[]);
    assert_eq!(
        second["component"], "disk",
        "the second run loads the compiled component"
    );
    // A spin stopped by the fuel it was given: a budget of 1 per item is spent at once.
    let (code, spun, _) = run(&[
        "--config",
        r#"{"mode": "spin"}"#,
        "--fuel-per-item",
        "1",
        "--timeout-ms",
        "60000",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(spun["error"]["outcome"], "out_of_fuel", "{spun}");
    let (code, _, stderr) = run(&["--memory-mib", "0"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--memory-mib"), "{stderr}");
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn plugin_run_refuses_a_component_of_another_kind_or_a_foreign_input() {
    let input = input_file("wrong-kind", one_candidate());
    let output = upward()
        .args(["plugin", "run", "--kind", "survey_scorer", "--wasm"])
        .arg(built_plugin("default_matcher"))
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("is not a survey_scorer"), "{stderr}");

    let scorer_input = input_file("scorer", serde_json::json!({"questions": 3}));
    let output = upward()
        .args(["plugin", "run", "--kind", "survey_scorer", "--wasm"])
        .arg(built_plugin("weighted_survey_scorer"))
        .arg("--input")
        .arg(&scorer_input)
        .output()
        .unwrap();
    let _ = (std::fs::remove_file(&input), std::fs::remove_file(&scorer_input));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("questions") && stderr.contains("not a survey_scorer input"),
        "{stderr}"
    );
}

/// `upward plugin new` gives a plugin that tests, builds and runs through the real host, for every kind and language.
#[test]
fn plugin_new_scaffolds_a_plugin_that_tests_builds_and_runs() {
    let root = std::env::temp_dir().join(format!("upward-scaffold-{}", std::process::id()));
    // The generated crates build apart from this workspace's target directory (its lock is held by this very test).
    let target = std::env::temp_dir().join("upward-scaffold-target");
    std::fs::create_dir_all(&root).unwrap();
    for kind in ["matcher", "survey-scorer", "hris-connector"] {
        for lang in ["rust", "python"] {
            let dir = root.join(format!("{lang}-{kind}"));
            let output = upward()
                .args(["plugin", "new", "--kind", kind, "--lang", lang])
                .arg(&dir)
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            let file = format!("{lang}_{}", kind.replace('-', "_"));
            let wasm = if lang == "rust" {
                for args in [
                    &["test", "--quiet"][..],
                    &["build", "--quiet", "--target", "wasm32-wasip2", "--release"],
                ] {
                    let status = Command::new(env!("CARGO"))
                        .args(args)
                        .current_dir(&dir)
                        .env("CARGO_TARGET_DIR", &target)
                        .status()
                        .unwrap();
                    assert!(status.success(), "{kind} ({lang}): cargo {args:?}");
                }
                target.join("wasm32-wasip2/release").join(format!("{file}.wasm"))
            } else {
                let status = Command::new(dir.join("build.sh")).status().unwrap();
                assert!(status.success(), "{kind} ({lang}): build.sh");
                dir.join(format!("{file}.wasm"))
            };
            let output = upward()
                .args(["plugin", "run", "--kind", kind, "--no-cache", "--wasm"])
                .arg(&wasm)
                .arg("--input")
                .arg(dir.join("input.json"))
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{kind} ({lang}): {}",
                String::from_utf8_lossy(&output.stdout)
            );
            let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            assert!(report["output"].is_object(), "{kind} ({lang}): {report}");
        }
    }
    // A folder that exists is never overwritten.
    let again = upward()
        .args(["plugin", "new", "--kind", "matcher"])
        .arg(root.join("rust-matcher"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn audit_verify_walks_the_chains_and_says_they_hold() {
    let path = std::env::temp_dir().join(format!("upward-audit-{}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    let key = std::env::temp_dir().join(format!("upward-audit-{}.key", std::process::id()));
    let run = |args: &[&str]| {
        upward()
            .env("UPWARD_DATABASE_URL", &url)
            .env("UPWARD_SECRETS_KEY_FILE", &key)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["migrate"]).status.success());
    let output = run(&["audit", "verify"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], true);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let _ = std::fs::remove_file(key);
}

#[test]
fn secrets_rotate_reseals_under_the_new_key_and_the_old_key_no_longer_opens_them() {
    let dir = std::env::temp_dir().join(format!("upward-rotate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/upward.db", dir.display());
    let (old_key, new_key) = (dir.join("old.key"), dir.join("new.key"));
    let run = |key: &std::path::Path, args: &[&str]| {
        upward()
            .env("UPWARD_DATABASE_URL", &url)
            .env("UPWARD_SECRETS_KEY_FILE", key)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&old_key, &["migrate"]).status.success());
    // A signing key is created (sealed under the old key) and used.
    let first = run(&old_key, &["keys", "rotate"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let rotated = run(&old_key, &["secrets", "rotate", "--to", new_key.to_str().unwrap()]);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let report: serde_json::Value = serde_json::from_slice(&rotated.stdout).unwrap();
    assert!(report["resealed"]["signing_keys"].as_u64().unwrap() >= 1, "{report}");
    assert!(new_key.exists(), "the new key file is created");
    // The server's keys now open with the new key only.
    let with_new = run(&new_key, &["keys", "rotate"]);
    assert!(
        with_new.status.success(),
        "{}",
        String::from_utf8_lossy(&with_new.stderr)
    );
    let with_old = run(&old_key, &["keys", "rotate"]);
    assert!(
        !with_old.status.success(),
        "the old key must not open what was re-sealed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
