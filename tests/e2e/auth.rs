//! Identity at the edge, against the real binary on real ports: `AUTH_MODE=api_key` (keys made
//! by `intentmesh keys new`, the file re-read on change) and `AUTH_MODE=jwt` (tokens signed here
//! with keys generated here, the JWKS served by a local HTTP server and rotated while running);
//! the verified principal is the user, and records answer their owner only.

use std::{
    path::Path,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::launcher::start_dev_services;

/// `intentmesh keys new <principal> --scopes …`: the key, and the line for the key file.
pub(crate) fn new_key(principal: &str, scopes: &str) -> (String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_intentmesh"));
    command.args(["keys", "new", principal]);
    if !scopes.is_empty() {
        command.args(["--scopes", scopes]);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .trim()
            .to_owned()
    };
    let (key, line) = (field("key:"), field("line:"));
    assert!(!line.contains(&key), "the file's line holds no key");
    (key, line)
}

/// An answer: its status, its JSON (or text) body and its headers.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) headers: reqwest::header::HeaderMap,
}

async fn call(
    method: reqwest::Method,
    url: &str,
    credential: Option<(&str, &str)>,
    body: Option<Value>,
) -> Answer {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some((header, value)) = credential {
        request = request.header(header, value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    }
}

/// `POST /process` with `body`, and a credential header if given.
pub(crate) async fn post(gateway: &str, credential: Option<(&str, &str)>, body: Value) -> Answer {
    call(
        reqwest::Method::POST,
        &format!("{gateway}/process"),
        credential,
        Some(body),
    )
    .await
}

/// `GET url`, with a credential header if given.
pub(crate) async fn get(url: &str, credential: Option<(&str, &str)>) -> Answer {
    call(reqwest::Method::GET, url, credential, None).await
}

fn assert_refused(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.body);
}

#[tokio::test]
async fn api_keys_name_the_caller_who_sees_only_its_own_records() {
    let dir = tempfile::tempdir().unwrap();
    let (alice_key, alice) = new_key("alice", "");
    let (backend_key, backend) = new_key("backend", "act_as,route_override");
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("# test keys\n{alice}\n{backend}\n")).unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let (child, urls) = start_dev_services(
        &[
            ("INTENTMESH_DATA_DIR", dir.path().to_str().unwrap()),
            ("AUTH_MODE", "api_key"),
            ("AUTH_API_KEYS_FILE", keys.to_str().unwrap()),
            ("RUST_LOG", "debug"),
            ("LOG_FORMAT", "json"),
        ],
        Stdio::from(stderr),
    )
    .await;
    let gateway = &urls["gateway"];
    let bearer = format!("Bearer {alice_key}");
    let alice_auth = Some(("authorization", bearer.as_str()));
    let search = json!({"message": "find desk lamps", "user_id": "alice", "mode": "sync"});

    // No credential, or a wrong one: 401 with a Bearer challenge; probes stay open.
    let none = post(gateway, None, search.clone()).await;
    assert_refused(&none, 401, "unauthenticated");
    assert_eq!(
        none.headers["www-authenticate"],
        r#"Bearer realm="intentmesh""#
    );
    let wrong = post(gateway, Some(("x-api-key", "imk_0000")), search.clone()).await;
    assert_refused(&wrong, 401, "unauthenticated");
    assert!(
        wrong.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
    assert_eq!(get(&format!("{gateway}/health"), None).await.status, 200);
    assert_eq!(get(&format!("{gateway}/metrics"), None).await.status, 200);

    // The key, either way it is sent.
    let ok = post(gateway, alice_auth, search.clone()).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["agent"], "search");
    let ok = post(gateway, Some(("x-api-key", &alice_key)), search).await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    // Alice may not act as bob, nor pick the agent; the backend may do both.
    let as_bob = json!({"message": "pay $5 for order 9", "user_id": "bob"});
    let refused = post(gateway, alice_auth, as_bob.clone()).await;
    assert_refused(&refused, 403, "forbidden");
    assert_eq!(refused.body["error"]["details"]["scope"], "act_as");
    let routed =
        json!({"message": "find lamps", "user_id": "alice", "agent": "search", "mode": "sync"});
    let refused = post(gateway, alice_auth, routed.clone()).await;
    assert_refused(&refused, 403, "forbidden");
    assert_eq!(refused.body["error"]["details"]["scope"], "route_override");
    let backend_auth = format!("Bearer {backend_key}");
    let backend_auth = Some(("authorization", backend_auth.as_str()));
    let paid = post(gateway, backend_auth, as_bob).await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    assert_eq!(post(gateway, backend_auth, routed).await.status, 200);

    // Alice's task is hers: bob (added to the file while the gateway runs) is told it does not
    // exist, exactly as for an id nobody has; the backend (act_as) sees it.
    let queued = post(
        gateway,
        alice_auth,
        json!({"message": "find desk lamps", "user_id": "alice", "mode": "async"}),
    )
    .await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    let task = queued.body["task_id"].as_str().unwrap().to_owned();
    assert!(
        regex::Regex::new("^task_[0-9a-f]{32}$")
            .unwrap()
            .is_match(&task)
    );
    let (bob_key, bob) = new_key("bob", "");
    std::fs::write(&keys, format!("{alice}\n{backend}\n{bob}\n")).unwrap();
    let bob_auth = format!("Bearer {bob_key}");
    let bob_auth = Some(("authorization", bob_auth.as_str()));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = get(&format!("{gateway}/health"), None).await;
        assert_eq!(answer.status, 200);
        let mine = post(
            gateway,
            bob_auth,
            json!({"message": "find lamps", "user_id": "bob", "mode": "sync"}),
        )
        .await;
        if mine.status == 200 {
            break;
        }
        assert_refused(&mine, 401, "unauthenticated");
        assert!(Instant::now() < deadline, "bob's key not loaded in 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let unknown = format!("task_{}", "0".repeat(32));
    for path in [format!("/tasks/{task}"), format!("/tasks/{task}/events")] {
        let theirs = get(&format!("{gateway}{path}"), bob_auth).await;
        assert_refused(&theirs, 404, "not_found");
        let nobodys = get(
            &format!("{gateway}{}", path.replace(&task, &unknown)),
            bob_auth,
        )
        .await;
        assert_eq!(
            theirs.body["error"]["message"], nobodys.body["error"]["message"],
            "another user's task looks like no task"
        );
    }
    let cancel = call(
        reqwest::Method::POST,
        &format!("{gateway}/tasks/{task}/cancel"),
        bob_auth,
        None,
    )
    .await;
    assert_refused(&cancel, 404, "not_found");
    assert_eq!(
        get(&format!("{gateway}/tasks/{task}"), None).await.status,
        401
    );
    let own = get(&format!("{gateway}/tasks/{task}"), alice_auth).await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["task_id"], task.as_str());
    let delegated = get(&format!("{gateway}/tasks/{task}"), backend_auth).await;
    assert_eq!(delegated.status, 200, "{}", delegated.body);

    // Removing a key from the file revokes it.
    std::fs::write(&keys, format!("{backend}\n{bob}\n")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while post(
        gateway,
        alice_auth,
        json!({"message": "find lamps", "user_id": "alice", "mode": "sync"}),
    )
    .await
    .status
        != 401
    {
        assert!(Instant::now() < deadline, "alice's key not revoked in 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(child);
    let logs = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(
        logs.contains(r#""principal":"alice""#),
        "requests name their principal in logs"
    );
    for key in [&alice_key, &backend_key, &bob_key] {
        assert!(!logs.contains(key.as_str()), "an API key reached the logs");
    }
}

/// Order ids, idempotency keys and the fallback key are each user's own: two users can each
/// pay their order "1001"; the same `X-Request-Id` twice is two payments (a correlation id is no
/// idempotency key), and one user's `Idempotency-Key` does not touch another's.
#[tokio::test]
async fn payments_are_keyed_by_their_user() {
    let dir = tempfile::tempdir().unwrap();
    let (alice_key, alice) = new_key("alice", "");
    let (bob_key, bob) = new_key("bob", "");
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("{alice}\n{bob}\n")).unwrap();
    let (_child, urls) = start_dev_services(
        &[
            ("INTENTMESH_DATA_DIR", dir.path().to_str().unwrap()),
            ("AUTH_MODE", "api_key"),
            ("AUTH_API_KEYS_FILE", keys.to_str().unwrap()),
        ],
        Stdio::null(),
    )
    .await;
    let gateway = &urls["gateway"];
    let http = reqwest::Client::new();
    let pay = |key: &str, user: &str, message: &str, headers: &[(&str, &str)]| {
        let mut request = http
            .post(format!("{gateway}/process"))
            .header("x-api-key", key)
            .json(&json!({"message": message, "user_id": user}));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }
    };
    let txn = |body: &Value| body["data"]["transaction_id"].as_str().unwrap().to_owned();

    let (s, a) = pay(&alice_key, "alice", "pay $10 for order #1001", &[]).await;
    assert_eq!(s, 200, "{a}");
    let (s, b) = pay(&bob_key, "bob", "pay $3 for order #1001", &[]).await;
    assert_eq!(s, 200, "bob's order 1001 is his own: {b}");
    assert_ne!(txn(&a), txn(&b));
    let (s, again) = pay(&alice_key, "alice", "pay $99 for order #1001", &[]).await;
    assert_eq!(s, 409, "{again}");
    assert_eq!(again["error"]["code"], "order_already_paid");

    let same_id = [("x-request-id", "checkout-7")];
    let (s, one) = pay(&alice_key, "alice", "pay $4", &same_id).await;
    assert_eq!(s, 200, "{one}");
    let (s, two) = pay(&alice_key, "alice", "pay $4", &same_id).await;
    assert_eq!(s, 200, "{two}");
    assert_ne!(txn(&one), txn(&two), "X-Request-Id is no idempotency key");
    assert_eq!(two["request_id"], "checkout-7", "it is the correlation id");

    let key = [("idempotency-key", "cart-1")];
    let (_, first) = pay(&alice_key, "alice", "pay $8", &key).await;
    let (_, replay) = pay(&alice_key, "alice", "pay $8", &key).await;
    assert_eq!(txn(&first), txn(&replay), "a repeat with the key acts once");
    let (s, bobs) = pay(&bob_key, "bob", "pay $9", &key).await;
    assert_eq!(s, 200, "bob's cart-1 is not alice's: {bobs}");
    assert_ne!(txn(&bobs), txn(&first));
}

/// A signing key made here, and its public half as a JWK.
struct Signer {
    kid: String,
    algorithm: Algorithm,
    key: EncodingKey,
    jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn random_bytes() -> [u8; 32] {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

fn ed25519(kid: &str) -> Signer {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let signing = ed25519_dalek::SigningKey::from_bytes(&random_bytes());
    let der = signing.to_pkcs8_der().unwrap();
    Signer {
        kid: kid.to_owned(),
        algorithm: Algorithm::EdDSA,
        key: EncodingKey::from_ed_der(der.as_bytes()),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": kid,
                    "x": b64(signing.verifying_key().as_bytes())}),
    }
}

fn es256(kid: &str) -> Signer {
    use p256::{elliptic_curve::sec1::ToEncodedPoint as _, pkcs8::EncodePrivateKey as _};
    let secret = p256::SecretKey::from_slice(&random_bytes()).unwrap();
    let point = secret.public_key().to_encoded_point(false);
    Signer {
        kid: kid.to_owned(),
        algorithm: Algorithm::ES256,
        key: EncodingKey::from_ec_der(secret.to_pkcs8_der().unwrap().as_bytes()),
        jwk: json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": kid,
                    "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())}),
    }
}

fn rs256(kid: &str) -> Signer {
    use rsa::{pkcs1::EncodeRsaPrivateKey as _, traits::PublicKeyParts as _};
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    Signer {
        kid: kid.to_owned(),
        algorithm: Algorithm::RS256,
        key: EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes()),
        jwk: json!({"kty": "RSA", "alg": "RS256", "kid": kid,
                    "n": b64(&private.n().to_bytes_be()), "e": b64(&private.e().to_bytes_be())}),
    }
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

const ISSUER: &str = "https://idp.test/";
const AUDIENCE: &str = "intentmesh";

fn token(signer: &Signer, claims: Value) -> String {
    let mut header = Header::new(signer.algorithm);
    header.kid = Some(signer.kid.clone());
    jsonwebtoken::encode(&header, &claims, &signer.key).unwrap()
}

fn claims(sub: &str, extra: Value) -> Value {
    let mut claims =
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "exp": now() + 600, "iat": now()});
    if let (Value::Object(c), Value::Object(e)) = (&mut claims, extra) {
        c.extend(e);
    }
    claims
}

/// Serves `keys` as a JWKS on 127.0.0.1:0, counting fetches.
async fn jwks_server(keys: Arc<Mutex<Vec<Value>>>, fetches: Arc<Mutex<u32>>) -> String {
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let (keys, fetches) = (Arc::clone(&keys), Arc::clone(&fetches));
            async move {
                *fetches.lock().unwrap() += 1;
                axum::Json(json!({"keys": keys.lock().unwrap().clone()}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn tokens_from_the_identity_provider_name_the_caller() {
    let (ed, ec, rs) = (ed25519("ed-1"), es256("ec-1"), rs256("rs-1"));
    let keys = Arc::new(Mutex::new(vec![
        ed.jwk.clone(),
        ec.jwk.clone(),
        rs.jwk.clone(),
        // Kinds this gateway does not take are left out, not fatal.
        json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
        json!({"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"}),
    ]));
    let fetches = Arc::new(Mutex::new(0));
    let jwks = jwks_server(Arc::clone(&keys), Arc::clone(&fetches)).await;
    let dir = tempfile::tempdir().unwrap();
    let (_child, urls) = start_dev_services(
        &[
            ("INTENTMESH_DATA_DIR", dir.path().to_str().unwrap()),
            ("AUTH_MODE", "jwt"),
            ("AUTH_JWT_JWKS_URL", &jwks),
            ("AUTH_JWT_ISSUER", ISSUER),
            ("AUTH_JWT_AUDIENCE", AUDIENCE),
            ("AUTH_JWT_JWKS_MIN_REFRESH_SECS", "0.01"),
        ],
        Stdio::null(),
    )
    .await;
    let gateway = &urls["gateway"];
    let search =
        |user: &str| json!({"message": "find desk lamps", "user_id": user, "mode": "sync"});
    let with = |t: &str| format!("Bearer {t}");

    for signer in [&ed, &ec, &rs] {
        let auth = with(&token(signer, claims("carol", json!({}))));
        let ok = post(gateway, Some(("authorization", &auth)), search("carol")).await;
        assert_eq!(ok.status, 200, "{:?}: {}", signer.algorithm, ok.body);
        let as_dave = post(gateway, Some(("authorization", &auth)), search("dave")).await;
        assert_refused(&as_dave, 403, "forbidden");
    }
    // Scopes from `scope` or `scp`.
    for scopes in [json!({"scope": "read act_as"}), json!({"scp": ["act_as"]})] {
        let auth = with(&token(&ec, claims("svc", scopes)));
        let ok = post(gateway, Some(("authorization", &auth)), search("dave")).await;
        assert_eq!(ok.status, 200, "{}", ok.body);
    }

    let refused = |claims: Value| {
        let auth = with(&token(&ec, claims));
        async move {
            let answer = post(gateway, Some(("authorization", &auth)), search("carol")).await;
            assert_refused(&answer, 401, "unauthenticated");
            answer.body["error"]["message"].as_str().unwrap().to_owned()
        }
    };
    let message = refused(claims("carol", json!({"exp": now() - 3600}))).await;
    assert!(message.contains("expired"), "{message}");
    assert!(
        refused(claims("carol", json!({"aud": "someone-else"})))
            .await
            .contains("audience")
    );
    assert!(
        refused(claims("carol", json!({"iss": "https://evil.test/"})))
            .await
            .contains("issuer")
    );
    assert!(
        refused(claims("carol", json!({"nbf": now() + 3600})))
            .await
            .contains("nbf")
    );
    refused(json!({"iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600})).await;
    // A key the provider does not list; a token whose signature was altered; HS256 with the
    // JWKS's own "secret"; no token at all.
    let stranger = es256("ec-1");
    let forged = with(&token(&stranger, claims("carol", json!({}))));
    assert_refused(
        &post(gateway, Some(("authorization", &forged)), search("carol")).await,
        401,
        "unauthenticated",
    );
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("hmac".to_owned());
    let hmac = jsonwebtoken::encode(
        &hs,
        &claims("carol", json!({})),
        &EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    assert_refused(
        &post(
            gateway,
            Some(("authorization", &with(&hmac))),
            search("carol"),
        )
        .await,
        401,
        "unauthenticated",
    );

    // The provider rotates: a token from a key it adds later is taken once the gateway, not
    // knowing its kid, fetches the JWKS again.
    let before = *fetches.lock().unwrap();
    let rotated = ed25519("ed-2");
    let auth = with(&token(&rotated, claims("carol", json!({}))));
    assert_refused(
        &post(gateway, Some(("authorization", &auth)), search("carol")).await,
        401,
        "unauthenticated",
    );
    keys.lock().unwrap().push(rotated.jwk.clone());
    // Fetches are at least AUTH_JWT_JWKS_MIN_REFRESH_SECS (10 ms here) apart.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ok = post(gateway, Some(("authorization", &auth)), search("carol")).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(
        *fetches.lock().unwrap() > before,
        "the JWKS was fetched again"
    );
}

/// A malformed key file stops the start with exit 64, naming the variable and the line.
#[test]
fn a_bad_key_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "# ok\nalice not-a-hash\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_intentmesh"))
        .arg("gateway")
        .env("AUTH_MODE", "api_key")
        .env("AUTH_API_KEYS_FILE", &keys)
        .env("GATEWAY_LISTEN_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AUTH_API_KEYS_FILE") && stderr.contains("line 2"),
        "{stderr}"
    );
    assert!(Path::new(&keys).exists());
}

/// The JWKS may be a file, and the principal another claim (`AUTH_JWT_PRINCIPAL_CLAIM`): here
/// `email`, so a token's `sub` names no one.
#[tokio::test]
async fn a_jwks_file_and_another_principal_claim() {
    let signer = es256("file-1");
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [signer.jwk]}).to_string()).unwrap();
    let (_child, urls) = start_dev_services(
        &[
            ("INTENTMESH_DATA_DIR", dir.path().to_str().unwrap()),
            ("AUTH_MODE", "jwt"),
            ("AUTH_JWT_JWKS_URL", jwks.to_str().unwrap()),
            ("AUTH_JWT_ISSUER", ISSUER),
            ("AUTH_JWT_AUDIENCE", AUDIENCE),
            ("AUTH_JWT_PRINCIPAL_CLAIM", "email"),
        ],
        Stdio::null(),
    )
    .await;
    let gateway = &urls["gateway"];
    let auth = format!(
        "Bearer {}",
        token(
            &signer,
            claims("u-123", json!({"email": "erin@example.com"}))
        )
    );
    let body = |user: &str| json!({"message": "find lamps", "user_id": user, "mode": "sync"});
    let ok = post(
        gateway,
        Some(("authorization", &auth)),
        body("erin@example.com"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let by_sub = post(gateway, Some(("authorization", &auth)), body("u-123")).await;
    assert_refused(&by_sub, 403, "forbidden");
    let no_email = format!("Bearer {}", token(&signer, claims("u-123", json!({}))));
    let refused = post(gateway, Some(("authorization", &no_email)), body("u-123")).await;
    assert_refused(&refused, 401, "unauthenticated");
}
