//! `REINS_AUTH=jwt` on the real server: tokens accepted, refused with a
//! reason (missing, expired, wrong audience, issuer or key), keys from a
//! secret or a JWKS file or URL that is read again when keys rotate, and
//! limits counted per user.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use support::{Reins, chat_body};

const SECRET: &str = "a test secret that is long enough for HS256";
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "reins";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "iat": now()})
}

fn hs256(claims: &Value, secret: &str) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
        .unwrap()
}

fn key_file(name: &str) -> String {
    format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn signed(claims: &Value, kid: &str) -> String {
    let pem = std::fs::read(key_file(&format!("{kid}.pem"))).unwrap();
    let (algorithm, key) = if kid.starts_with("ec") {
        (Algorithm::ES256, EncodingKey::from_ec_pem(&pem).unwrap())
    } else {
        (Algorithm::RS256, EncodingKey::from_rsa_pem(&pem).unwrap())
    };
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &key).unwrap()
}

/// A JWKS document with the public keys of these key ids.
fn jwks(kids: &[&str]) -> String {
    let public: Value =
        serde_json::from_str(&std::fs::read_to_string(key_file("public.json")).unwrap()).unwrap();
    json!({"keys": kids.iter().map(|kid| public[kid].clone()).collect::<Vec<_>>()}).to_string()
}

/// JWT auth with this test's issuer and audience; the keys come after.
const JWT: [&str; 6] = ["--auth", "jwt", "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE];

/// The demo model, quick, behind JWT auth with these key settings.
async fn reins(keys: &[&str], extra: &[&str]) -> Reins {
    let mut args = JWT.to_vec();
    args.extend_from_slice(&[
        "--demo-first-token-delay-ms",
        "0",
        "--demo-tokens-per-second",
        "1000",
        "--demo-max-tokens",
        "3",
    ]);
    args.extend_from_slice(keys);
    args.extend_from_slice(extra);
    Reins::with_args(&args).await
}

async fn chat(reins: &Reins, token: Option<&str>) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .post(reins.url("/api/chat"))
        .header("content-type", "application/json")
        .body(chat_body("Hi"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), headers)
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn hs256_tokens_are_verified_and_refusals_say_why() {
    let reins = reins(&["--jwt-secret", SECRET], &[]).await;

    let (status, body, headers) = chat(&reins, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(message(&body).contains("Authorization: Bearer"), "{body}");
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));

    let (status, body, _) = chat(&reins, Some(&hs256(&claims("ada"), SECRET))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.as_str().unwrap().contains("\"finish\""), "{body}");

    let mut expired = claims("ada");
    expired["exp"] = json!(now() - 120);
    let (status, body, _) = chat(&reins, Some(&hs256(&expired, SECRET))).await;
    assert_eq!(
        (status, message(&body)),
        (401, "The token has expired; get a new one and try again.")
    );

    // Within the clock-skew leeway (30 s), a just-expired token still works.
    let mut skewed = claims("ada");
    skewed["exp"] = json!(now() - 5);
    assert_eq!(chat(&reins, Some(&hs256(&skewed, SECRET))).await.0, 200);

    let mut other_audience = claims("ada");
    other_audience["aud"] = json!("another-service");
    let (status, body, _) = chat(&reins, Some(&hs256(&other_audience, SECRET))).await;
    assert_eq!(status, 401);
    assert!(message(&body).contains("wrong audience"), "{body}");

    let mut other_issuer = claims("ada");
    other_issuer["iss"] = json!("https://evil.test");
    let (status, body, _) = chat(&reins, Some(&hs256(&other_issuer, SECRET))).await;
    assert_eq!(status, 401);
    assert!(message(&body).contains("issuer"), "{body}");

    let forged = hs256(&claims("ada"), "another secret that is also long enough");
    let (status, body, _) = chat(&reins, Some(&forged)).await;
    assert_eq!(status, 401);
    assert!(message(&body).contains("signature"), "{body}");

    // A token signed with an RSA key, or not signed at all, is not an HS256 one.
    assert_eq!(chat(&reins, Some(&signed(&claims("ada"), "rsa-1"))).await.0, 401);
    let unsigned = format!(
        "{}.{}.",
        base64url(r#"{"alg":"none","typ":"JWT"}"#),
        base64url(&claims("ada").to_string())
    );
    assert_eq!(chat(&reins, Some(&unsigned)).await.0, 401);
    assert_eq!(chat(&reins, Some("not a token")).await.0, 401);
    let mut no_subject = claims("");
    no_subject.as_object_mut().unwrap().remove("sub");
    assert_eq!(chat(&reins, Some(&hs256(&no_subject, SECRET))).await.0, 401);

    // Stop needs no token: the message id is the capability, and a Stop
    // must work after the token has expired.
    let stop = reqwest::Client::new()
        .post(reins.url("/api/chat/msg_00000000000000000000000000000000/stop"))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 404);
}

fn base64url(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn a_jwks_file_verifies_rs256_and_es256_and_is_read_again_when_keys_rotate() {
    let path = std::env::temp_dir().join(format!("reins-jwks-{}.json", std::process::id()));
    std::fs::write(&path, jwks(&["rsa-1", "ec-1"])).unwrap();
    let reins = reins(&["--jwks", path.to_str().unwrap(), "--jwks-refresh-secs", "1"], &[]).await;

    assert_eq!(chat(&reins, Some(&signed(&claims("ada"), "rsa-1"))).await.0, 200);
    assert_eq!(chat(&reins, Some(&signed(&claims("ada"), "ec-1"))).await.0, 200);
    let (status, body, _) = chat(&reins, Some(&signed(&claims("ada"), "rsa-2"))).await;
    assert_eq!(status, 401, "a key the JWKS does not hold: {body}");
    // A secret-signed token cannot pass for one signed by a JWKS key.
    assert_eq!(chat(&reins, Some(&hs256(&claims("ada"), SECRET))).await.0, 401);

    // The issuer rotates to rsa-2 and drops rsa-1.
    std::fs::write(&path, jwks(&["rsa-2"])).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(chat(&reins, Some(&signed(&claims("ada"), "rsa-2"))).await.0, 200);
    assert_eq!(chat(&reins, Some(&signed(&claims("ada"), "rsa-1"))).await.0, 401);
    std::fs::remove_file(path).unwrap();
}

#[tokio::test]
async fn a_jwks_url_is_fetched_and_fetched_again_after_rotation() {
    let document = Arc::new(Mutex::new(jwks(&["rsa-1"])));
    let served = document.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let served = served.clone();
            async move { served.lock().unwrap().clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("http://{addr}/jwks.json");

    let reins = reins(&["--jwks", &url, "--jwks-refresh-secs", "1"], &[]).await;
    assert_eq!(chat(&reins, Some(&signed(&claims("ada"), "rsa-1"))).await.0, 200);
    *document.lock().unwrap() = jwks(&["rsa-2"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(chat(&reins, Some(&signed(&claims("ada"), "rsa-2"))).await.0, 200);

    // A document past 1 MiB is not read whole: the keys read before stay.
    *document.lock().unwrap() =
        format!("{{\"keys\": [], \"padding\": \"{}\"}}", "x".repeat(2 << 20));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(chat(&reins, Some(&signed(&claims("ada"), "rsa-2"))).await.0, 200);
}

#[tokio::test]
async fn auth_settings_that_cannot_work_stop_the_server_at_start_up() {
    use clap::Parser;
    let with_claims = |extra: &[&'static str]| {
        let mut args = JWT.to_vec();
        args.extend_from_slice(extra);
        args
    };
    for (args, expected) in [
        (vec!["--auth", "jwt"], "REINS_JWT_ISSUER and REINS_JWT_AUDIENCE"),
        (with_claims(&[]), "REINS_JWT_SECRET or REINS_JWKS"),
        (with_claims(&["--jwt-secret", "short"]), "at least 32 bytes"),
        (with_claims(&["--jwks", "/nonexistent/jwks.json"]), "could not read the JWKS document"),
    ] {
        let config =
            reins::config::Config::parse_from(std::iter::once("reins").chain(args.clone()));
        let Err(error) = reins::state_from_config(&config).await else {
            panic!("{args:?} started");
        };
        assert!(error.to_string().contains(expected), "{args:?}: {error}");
    }
}

#[tokio::test]
async fn limits_are_counted_per_user_not_per_address() {
    // Slow replies, so the first stays open while the others are asked for.
    let mut args = JWT.to_vec();
    args.extend_from_slice(&[
        "--jwt-secret",
        SECRET,
        "--demo-tokens-per-second",
        "5",
        "--max-streams-per-client",
        "1",
    ]);
    let reins = Reins::with_args(&args).await;
    let ada = hs256(&claims("ada"), SECRET);
    let grace = hs256(&claims("grace"), SECRET);
    let open = |token: String| {
        reqwest::Client::new()
            .post(reins.url("/api/chat"))
            .header("content-type", "application/json")
            .bearer_auth(token)
            .body(chat_body("Hi"))
            .send()
    };
    let first = open(ada.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    let second = open(ada).await.unwrap();
    assert_eq!(second.status(), 429);
    assert!(second.headers().contains_key("retry-after"));
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    // Another user from the same address is not affected.
    let other = open(grace).await.unwrap();
    assert_eq!(other.status(), 200);
}
