//! Tokens: the client-credentials exchange (RFC 6749 §4.4 and §5.2), and every kind of token the API must refuse.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(
    client_credentials_are_exchanged_for_a_bearer_token,
    token_endpoint_errors_follow_rfc_6749,
    every_bad_token_is_refused_with_a_challenge,
    tokens_survive_a_restart_and_keys_rotate,
);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn client_credentials_are_exchanged_for_a_bearer_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let response = app
        .client
        .post(app.url("/v1/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &acme.client_id),
            ("client_secret", &acme.client_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap();

    // The token is an EdDSA JWT whose key is published in the JWKS.
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&header.kid.as_deref().unwrap()));
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == header.kid.clone().unwrap())
            .unwrap()
            .clone(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["upward-api"]);
    let claims = jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(), &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["role"], "org_admin");
    assert_eq!(claims["org"], acme.id.to_string());

    // HTTP Basic client authentication works too.
    let basic = app
        .client
        .post(app.url("/v1/oauth/token"))
        .basic_auth(&acme.client_id, Some(&acme.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    assert_eq!(app.get("/v1/participants", token).await.status(), 200);
}

async fn token_endpoint_errors_follow_rfc_6749(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &acme.client_id),
                ("client_secret", "wrong"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", &acme.client_secret),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", &acme.client_id),
                ("client_secret", &acme.client_secret),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![("client_id", &acme.client_id), ("client_secret", &acme.client_secret)],
            400,
            "invalid_request",
        ),
        (vec![("grant_type", "client_credentials")], 400, "invalid_request"),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &acme.client_id),
                ("client_secret", &acme.client_secret),
                ("scope", "root"),
            ],
            400,
            "invalid_scope",
        ),
    ];
    for (form, status, error) in cases {
        let response = app
            .client
            .post(app.url("/v1/oauth/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{error}");
        if status == 401 {
            assert!(
                response.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Basic")
            );
        }
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error);
        assert!(body["error_description"].is_string());
    }
    let json_body = app
        .client
        .post(app.url("/v1/oauth/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    let repeated = app
        .client
        .post(app.url("/v1/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(repeated.status(), 400);
}

/// Signs arbitrary claims with the server's own current key, to forge every edge case.
async fn sign_with_server_key(app: &TestApp, claims: &Value) -> String {
    let key = app.state.auth.keys().signing_key().await.unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.key).unwrap()
}

async fn every_bad_token_is_refused_with_a_challenge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let issuer = app.config.issuer.clone();
    let base = json!({
        "iss": issuer, "sub": acme.client_id, "aud": "upward-api", "exp": now() + 600, "iat": now(), "nbf": now(),
        "jti": "t", "org": acme.id, "role": "org_admin"
    });
    let good = sign_with_server_key(&app, &base).await;
    assert_eq!(
        app.get("/v1/participants", &good).await.status(),
        200,
        "the forged-but-valid token is accepted"
    );

    let with = |changes: Value| {
        let mut claims = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let kid = jsonwebtoken::decode_header(&good).unwrap().kid.unwrap();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&base).unwrap());
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#)),
        payload
    );
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        // The classic confusion attack: HMAC keyed with the public key.
        let jwks: Value = app
            .client
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let x = URL_SAFE_NO_PAD.decode(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();
        jsonwebtoken::encode(&header, &base, &EncodingKey::from_secret(&x)).unwrap()
    };
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let evil =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&with(json!({"role": "org_admin", "sub": "mallory"}))).unwrap());
        format!("{}.{}.{}", parts[0], evil, parts[2])
    };
    let other_key = {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, &base, &EncodingKey::from_ed_der(pkcs8.as_ref())).unwrap()
    };
    let unknown_org = sign_with_server_key(&app, &with(json!({"org": uuid::Uuid::now_v7()}))).await;
    let cases = vec![
        ("alg none", alg_none),
        ("HS256 keyed with the public key", hs256),
        ("tampered payload", tampered),
        ("signed by another key", other_key),
        (
            "expired",
            sign_with_server_key(&app, &with(json!({"exp": now() - 3600}))).await,
        ),
        (
            "not yet valid",
            sign_with_server_key(&app, &with(json!({"nbf": now() + 3600}))).await,
        ),
        (
            "wrong audience",
            sign_with_server_key(&app, &with(json!({"aud": "someone-else"}))).await,
        ),
        (
            "unknown issuer",
            sign_with_server_key(&app, &with(json!({"iss": "https://evil.test"}))).await,
        ),
        ("organisation that does not exist", unknown_org),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (what, token) in cases {
        let response = app.get("/v1/participants", &token).await;
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        assert_problem(response, 401, "unauthorized").await;
        let challenge = challenge.unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
        assert!(
            challenge.starts_with("Bearer realm=\"upward\", error=\"invalid_token\""),
            "{what}: {challenge}"
        );
    }

    let missing = app.client.get(app.url("/v1/participants")).send().await.unwrap();
    assert_eq!(missing.headers()["www-authenticate"], "Bearer realm=\"upward\"");
    assert_problem(missing, 401, "unauthorized").await;
    let basic = app
        .client
        .get(app.url("/v1/participants"))
        .basic_auth("a", Some("b"))
        .send()
        .await
        .unwrap();
    assert_problem(basic, 401, "unauthorized").await;
}

async fn tokens_survive_a_restart_and_keys_rotate(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let acme = first.org("Acme").await;
    let old_token = acme.token.clone();
    first.stop().await;

    // Same database, new process: the old token still verifies, because keys persist.
    let second = TestApp::spawn_on(first.database.clone(), first.config.clone()).await;
    assert_eq!(second.get("/v1/participants", &old_token).await.status(), 200);

    // Rotation: new tokens carry a new kid; the old key keeps verifying and stays published.
    let old_kid = jsonwebtoken::decode_header(&old_token).unwrap().kid.unwrap();
    let new_kid = second.state.auth.keys().rotate().await.unwrap();
    assert_ne!(old_kid, new_kid);
    let new_token = second.token(&acme.client_id, &acme.client_secret).await;
    assert_eq!(jsonwebtoken::decode_header(&new_token).unwrap().kid.unwrap(), new_kid);
    let jwks: Value = second
        .client
        .get(second.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()));
    assert_eq!(second.get("/v1/participants", &old_token).await.status(), 200);
    assert_eq!(second.get("/v1/participants", &new_token).await.status(), 200);

    // An instance sharing the database that has not seen the rotation accepts the new kid too.
    let third = TestApp::spawn_on(first.database.clone(), first.config.clone()).await;
    let newer_kid = second.state.auth.keys().rotate().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let newest = second.token(&acme.client_id, &acme.client_secret).await;
    assert_eq!(jsonwebtoken::decode_header(&newest).unwrap().kid.unwrap(), newer_kid);
    assert_eq!(third.get("/v1/participants", &newest).await.status(), 200);
}
