//! Bring your own identity provider: once registered, the organisation's own tokens act as its participants; every
//! way such a token can be wrong is refused.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use upward_tests::{Backend, TestApp, assert_problem, on_every_backend};

on_every_backend!(
    identity_provider_tokens_act_as_the_matching_participant,
    bad_identity_provider_tokens_are_refused,
    identity_provider_registration_is_validated_and_audited,
);

/// A fake identity provider on loopback: serves a JWKS the test can change, and signs tokens.
struct FakeIdp {
    issuer: String,
    jwks_uri: String,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<Mutex<u32>>,
    keys: Vec<(String, Vec<u8>)>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeIdp {
    async fn start() -> FakeIdp {
        let jwks = Arc::new(Mutex::new(json!({"keys": []})));
        let fetches = Arc::new(Mutex::new(0u32));
        let (served, counter) = (jwks.clone(), fetches.clone());
        let server = HttpServer::new(move || {
            let (served, counter) = (served.clone(), counter.clone());
            App::new().route(
                "/jwks",
                web::get().to(move || {
                    let (served, counter) = (served.clone(), counter.clone());
                    async move {
                        *counter.lock().unwrap() += 1;
                        let body = served.lock().unwrap().clone();
                        HttpResponse::Ok().json(body)
                    }
                }),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        let mut idp = FakeIdp {
            issuer: format!("http://127.0.0.1:{port}/"),
            jwks_uri: format!("http://127.0.0.1:{port}/jwks"),
            jwks,
            fetches,
            keys: Vec::new(),
            handle,
        };
        idp.add_ed25519_key("ed-1");
        idp
    }

    fn add_ed25519_key(&mut self, kid: &str) {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())});
        self.jwks.lock().unwrap()["keys"].as_array_mut().unwrap().push(jwk);
        self.keys.push((kid.to_string(), pkcs8.as_ref().to_vec()));
    }

    fn add_rsa_key(&mut self) {
        let jwk: Value = serde_json::from_str(include_str!("../fixtures/idp-rsa-public.jwk.json")).unwrap();
        self.jwks.lock().unwrap()["keys"].as_array_mut().unwrap().push(jwk);
    }

    fn sign(&self, kid: &str, claims: &Value) -> String {
        let (_, der) = self.keys.iter().find(|(k, _)| k == kid).expect("a key with this kid");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der)).unwrap()
    }

    fn sign_rsa(&self, claims: &Value) -> String {
        let key = EncodingKey::from_rsa_pem(include_bytes!("../fixtures/idp-rsa-private.pem")).unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("rsa-test-1".into());
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    fn claims(&self, extra: Value) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut claims =
            json!({"iss": self.issuer, "aud": "upward-acme", "sub": "idp-user-1", "iat": now, "exp": now + 600});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    }

    fn fetch_count(&self) -> u32 {
        *self.fetches.lock().unwrap()
    }
}

async fn register(app: &TestApp, token: &str, idp: &FakeIdp, attribute: &str, claim: &str) {
    let response = app
        .request(reqwest::Method::PUT, "/v1/identity-provider", token)
        .json(&json!({"issuer": idp.issuer, "jwks_uri": idp.jwks_uri, "audience": "upward-acme", "participant_attribute": attribute, "claim": claim}))
        .send()
        .await
        .unwrap();
    assert!(
        response.status() == 201 || response.status() == 200,
        "registering: {}",
        response.status()
    );
}

async fn identity_provider_tokens_act_as_the_matching_participant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let ada = app
        .participant(
            &acme.token,
            json!({"email": "ada@acme.test", "external_id": "E-7", "display_name": "Ada", "level": 2}),
        )
        .await;
    let ada_path = format!("/v1/participants/{}", ada["id"].as_str().unwrap());
    let mut idp = FakeIdp::start().await;
    register(&app, &acme.token, &idp, "email", "email").await;

    // Ada signs in at her company's IdP; its token works on our API as her (role participant).
    let token = idp.sign("ed-1", &idp.claims(json!({"email": "Ada@Acme.test"})));
    assert_eq!(app.get(&ada_path, &token).await.status(), 200);
    assert_problem(app.get("/v1/participants", &token).await, 403, "forbidden").await;

    // RS256 keys, the most common kind, work too.
    idp.add_rsa_key();
    let rsa_token = idp.sign_rsa(&idp.claims(json!({"email": "ada@acme.test"})));
    assert_eq!(
        app.get(&ada_path, &rsa_token).await.status(),
        200,
        "unknown kid triggers a JWKS refetch"
    );

    // The IdP rotates: a token with a new kid makes Upward fetch the JWKS again.
    let before = idp.fetch_count();
    idp.add_ed25519_key("ed-2");
    let rotated = idp.sign("ed-2", &idp.claims(json!({"email": "ada@acme.test"})));
    assert_eq!(app.get(&ada_path, &rotated).await.status(), 200);
    assert_eq!(idp.fetch_count(), before + 1);
    // Cached afterwards: reusing tokens does not refetch.
    for _ in 0..3 {
        assert_eq!(app.get(&ada_path, &rotated).await.status(), 200);
    }
    assert_eq!(idp.fetch_count(), before + 1);

    // Matching by external id through a custom claim.
    register(&app, &acme.token, &idp, "external_id", "employee_number").await;
    let by_id = idp.sign("ed-1", &idp.claims(json!({"employee_number": "E-7"})));
    assert_eq!(app.get(&ada_path, &by_id).await.status(), 200);

    // Deactivated participants are locked out, cached verdict or not.
    app.delete(&ada_path, &acme.token).await;
    assert_problem(app.get(&ada_path, &by_id).await, 401, "unauthorized").await;

    // Removing the IdP stops its tokens.
    app.patch(&ada_path, &acme.token, &json!({"active": true})).await;
    assert_eq!(app.get(&ada_path, &by_id).await.status(), 200);
    assert_eq!(app.delete("/v1/identity-provider", &acme.token).await.status(), 204);
    assert_problem(app.get(&ada_path, &by_id).await, 401, "unauthorized").await;
    idp.handle.stop(false).await;
}

async fn bad_identity_provider_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.org("Acme").await;
    let globex = app.org("Globex").await;
    let ada = app
        .participant(
            &acme.token,
            json!({"email": "ada@acme.test", "display_name": "Ada", "level": 2}),
        )
        .await;
    let ada_path = format!("/v1/participants/{}", ada["id"].as_str().unwrap());
    let g = app
        .participant(
            &globex.token,
            json!({"email": "ada@acme.test", "display_name": "G-Ada", "level": 2}),
        )
        .await;
    let idp = FakeIdp::start().await;
    register(&app, &acme.token, &idp, "email", "email").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let hs256_with_public_key = {
        let x = URL_SAFE_NO_PAD
            .decode(idp.jwks.lock().unwrap()["keys"][0]["x"].as_str().unwrap())
            .unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("ed-1".into());
        jsonwebtoken::encode(
            &header,
            &idp.claims(json!({"email": "ada@acme.test"})),
            &EncodingKey::from_secret(&x),
        )
        .unwrap()
    };
    let other_signer = {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("ed-1".into());
        jsonwebtoken::encode(
            &header,
            &idp.claims(json!({"email": "ada@acme.test"})),
            &EncodingKey::from_ed_der(pkcs8.as_ref()),
        )
        .unwrap()
    };
    let cases = vec![
        (
            "expired",
            idp.sign(
                "ed-1",
                &idp.claims(json!({"email": "ada@acme.test", "exp": now - 3600})),
            ),
        ),
        (
            "not yet valid",
            idp.sign(
                "ed-1",
                &idp.claims(json!({"email": "ada@acme.test", "nbf": now + 3600})),
            ),
        ),
        (
            "wrong audience",
            idp.sign(
                "ed-1",
                &idp.claims(json!({"email": "ada@acme.test", "aud": "other-app"})),
            ),
        ),
        (
            "unregistered issuer",
            idp.sign(
                "ed-1",
                &idp.claims(json!({"email": "ada@acme.test", "iss": "https://elsewhere.test/"})),
            ),
        ),
        (
            "no such participant",
            idp.sign("ed-1", &idp.claims(json!({"email": "nobody@acme.test"}))),
        ),
        ("claim missing", idp.sign("ed-1", &idp.claims(json!({})))),
        (
            "unknown kid",
            idp.sign("ed-1", &idp.claims(json!({"email": "ada@acme.test"})))
                .replacen(
                    &URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"EdDSA","kid":"ed-1"}"#),
                    &URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"EdDSA","kid":"ed-9"}"#),
                    1,
                ),
        ),
        ("HS256 keyed with the public key", hs256_with_public_key),
        ("signed by another key", other_signer),
    ];
    for (what, token) in cases {
        let response = app.get(&ada_path, &token).await;
        assert_eq!(response.status(), 401, "{what}");
        assert!(response.headers().contains_key("www-authenticate"), "{what}");
    }

    // A valid Acme IdP token acts only inside Acme: Globex's participant with the same email is out of reach.
    let good = idp.sign("ed-1", &idp.claims(json!({"email": "ada@acme.test"})));
    assert_eq!(app.get(&ada_path, &good).await.status(), 200);
    let foreign = app
        .get(&format!("/v1/participants/{}", g["id"].as_str().unwrap()), &good)
        .await;
    assert_eq!(foreign.status(), 403);
    idp.handle.stop(false).await;
}

async fn identity_provider_registration_is_validated_and_audited(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.allow_insecure_urls = false).await;
    let acme = app.org("Acme").await;
    let globex = app.org("Globex").await;
    assert_problem(app.get("/v1/identity-provider", &acme.token).await, 404, "not_found").await;

    let put = |token: &str, body: Value| {
        app.request(reqwest::Method::PUT, "/v1/identity-provider", token)
            .json(&body)
            .send()
    };
    let insecure = put(&acme.token, json!({"issuer": "https://idp.test/", "jwks_uri": "http://idp.test/jwks", "audience": "a", "participant_attribute": "email"})).await.unwrap();
    let problem = assert_problem(insecure, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "jwks_uri");
    // The JWKS URI goes through the outbound guard: no internal address, however it is spelled, and no novel.
    for (uri, code) in [
        ("https://169.254.169.254/latest/meta-data".to_string(), "url_refused"),
        ("https://10.0.0.1/jwks".to_string(), "url_refused"),
        ("https://[::1]/jwks".to_string(), "url_refused"),
        ("https://[::ffff:127.0.0.1]/jwks".to_string(), "url_refused"),
        ("https://[64:ff9b::a9fe:a9fe]/jwks".to_string(), "url_refused"),
        ("https://localhost/jwks".to_string(), "url_refused"),
        (format!("https://93.184.216.34/{}", "a".repeat(500_000)), "too_long"),
    ] {
        let refused = put(
            &acme.token,
            json!({"issuer": "https://idp.test/", "jwks_uri": uri, "audience": "a", "participant_attribute": "email"}),
        )
        .await
        .unwrap();
        let problem = assert_problem(refused, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "jwks_uri", "{uri:.60}");
        assert_eq!(problem["errors"][0]["code"], code, "{uri:.60}: {problem}");
    }
    let bad_attr = put(&acme.token, json!({"issuer": "https://idp.test/", "jwks_uri": "https://93.184.216.34/jwks", "audience": "a", "participant_attribute": "phone"})).await.unwrap();
    assert_problem(bad_attr, 422, "invalid_body").await;

    let body = json!({"issuer": "https://idp.test/", "jwks_uri": "https://93.184.216.34/jwks", "audience": "a", "participant_attribute": "external_id"});
    let created = put(&acme.token, body.clone()).await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["claim"], "sub", "external_id defaults to the sub claim");
    assert_eq!(put(&acme.token, body.clone()).await.unwrap().status(), 200);
    let fetched: Value = app
        .get("/v1/identity-provider", &acme.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, created, "an identical PUT changes nothing");

    // Another organisation cannot claim the same issuer and audience, and does not see Acme's registration.
    assert_problem(put(&globex.token, body).await.unwrap(), 409, "identity_provider_taken").await;
    assert_problem(app.get("/v1/identity-provider", &globex.token).await, 404, "not_found").await;

    let ada = app.person(&acme.token, "ada@acme.test", 2).await;
    let ada_token = app.participant_token(&acme.token, ada["id"].as_str().unwrap()).await;
    assert_problem(app.get("/v1/identity-provider", &ada_token).await, 403, "forbidden").await;

    let types: Vec<String> = app
        .events(&acme.token)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["identity_provider.updated", "participant.created"]);
}
