//! Reins behind the repository's nginx configuration (deploy/nginx, run by
//! scripts/test-nginx: a real nginx from Debian on a free loopback port,
//! over TLS): the page's host is accepted, events are not buffered, each
//! forwarded client has its own share, and a client that leaves still drops
//! the model's request at once.

// The close-to-close delay is printed (with `--nocapture`), as a figure.
#![allow(clippy::print_stderr)]

mod support;

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::{Instant, timeout};

use support::{FakeUpstream, RedisServer, Reins, Step, chat_body, paced_reply};

/// A private nginx, stopped (by its PID) when dropped.
struct Nginx {
    port: u16,
    _process: Child,
    prefix: std::path::PathBuf,
}

impl Nginx {
    /// nginx on `port` in front of the Reins at `reins`.
    async fn start(port: u16, reins: SocketAddr) -> Self {
        Self::with_spec(port, &reins.port().to_string()).await
    }

    /// nginx on `port` in front of `backends`, as scripts/test-nginx reads
    /// them: ports, comma-separated, and an option after a colon.
    async fn with_spec(port: u16, backends: &str) -> Self {
        let prefix =
            std::env::temp_dir().join(format!("reins-nginx-{}-{port}", std::process::id()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/test-nginx");
        let process = Command::new("bash")
            .arg(script)
            .arg(&prefix)
            .arg(format!("{port}:{backends}"))
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("bash runs scripts/test-nginx (nginx comes from scripts/setup)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start (is it installed? run scripts/setup): {}",
                std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { port, _process: process, prefix }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A client that trusts the throwaway certificate and connects from `from`.
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .local_address(IpAddr::from(from))
        .build()
        .unwrap()
}

/// Reins relaying to `upstream` behind nginx, configured as the README's
/// "Deploy" says: nginx's origin is the public one, and nginx is trusted.
async fn behind_nginx(upstream: &FakeUpstream, extra: &[&str]) -> (Reins, Nginx) {
    let port = free_port();
    let origin = format!("https://127.0.0.1:{port}");
    let mut args = vec!["--public-origin", origin.as_str(), "--trusted-proxies", "127.0.0.1"];
    args.extend_from_slice(extra);
    let reins = Reins::relaying_to(&upstream.base_url(), &args).await;
    let nginx = Nginx::start(port, reins.addr).await;
    (reins, nginx)
}

async fn post_chat(client: &reqwest::Client, nginx: &Nginx) -> reqwest::Response {
    client
        .post(nginx.url("/api/chat"))
        .header("content-type", "application/json")
        .body(chat_body("Hi"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn through_nginx_events_flow_unbuffered_and_leaving_stops_the_model() {
    let mut upstream = FakeUpstream::start(paced_reply(200, Duration::from_millis(50))).await;
    let (reins, nginx) = behind_nginx(&upstream, &[]).await;
    let client = client_from([127, 0, 0, 1]);

    // The hosted page: its host (nginx's) is the public origin's.
    let page = client.get(nginx.url("/healthz")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let api = client.get(nginx.url("/api/nope")).send().await.unwrap();
    assert_eq!(api.status(), 404, "the host was accepted and the API answered");

    let mut response = post_chat(&client, &nginx).await;
    assert_eq!(response.status(), 200);
    upstream.request().await;
    // Tokens arrive while the model is still writing: nothing is buffered.
    let mut received = String::new();
    let started = Instant::now();
    while received.matches("\"text-delta\"").count() < 3 {
        let chunk = timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("events arrive as they are written")
            .unwrap()
            .expect("the stream is still open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());

    // The browser leaves: nginx closes its connection, Reins drops the model's.
    let left = Instant::now();
    drop(response);
    drop(client);
    let (closed, _, finished) = upstream.closed().await;
    assert!(!finished);
    let delay = closed - left;
    eprintln!("client close -> upstream close through nginx: {delay:?}");
    assert!(delay < Duration::from_secs(1), "{delay:?}");
    let _ = reins;
}

#[tokio::test]
async fn behind_nginx_each_client_has_its_own_share_and_the_host_is_checked() {
    let upstream = FakeUpstream::start(paced_reply(200, Duration::from_millis(50))).await;
    let (reins, nginx) = behind_nginx(&upstream, &["--max-streams-per-client", "1"]).await;
    let ada = client_from([127, 0, 0, 2]);
    let grace = client_from([127, 0, 0, 3]);
    let first = post_chat(&ada, &nginx).await;
    assert_eq!(first.status(), 200);
    let second = post_chat(&ada, &nginx).await;
    assert_eq!(second.status(), 429, "the same client, seen through nginx's X-Forwarded-For");
    let other = post_chat(&grace, &nginx).await;
    assert_eq!(other.status(), 200, "another client behind the same proxy");

    // A rebinding page's requests carry its own name, which nginx passes on.
    let rebound =
        ada.get(nginx.url("/api/nope")).header("host", "evil.example").send().await.unwrap();
    assert_eq!(rebound.status(), 421);
    let _ = reins;
}

#[tokio::test]
async fn behind_round_robin_that_ignores_client_aborts_every_stop_reaches_its_replica() {
    // Two replicas sharing Redis, behind nginx taking them in turn, with
    // `proxy_ignore_client_abort on` (as cloudflared behaves), and a model
    // that thinks: with nothing to write, nginx does not notice the client
    // leave and keeps its connection to Reins, so the stop request alone
    // must stop the model, wherever nginx sends it. (Once tokens flow, nginx
    // notices at its next write and closes anyway.)
    let redis = RedisServer::start().await;
    let mut upstream =
        FakeUpstream::start(vec![Step::Wait(Duration::from_secs(30)), Step::Head]).await;
    let port = free_port();
    let origin = format!("https://127.0.0.1:{port}");
    let url = redis.url();
    let args = ["--public-origin", &origin, "--trusted-proxies", "127.0.0.1", "--redis-url", &url];
    let first = Reins::relaying_to(&upstream.base_url(), &args).await;
    let second = Reins::relaying_to(&upstream.base_url(), &args).await;
    // HTTP/1.1: over HTTP/2, a client's reset stream makes nginx close the
    // connection to Reins whatever `proxy_ignore_client_abort` says.
    let spec = format!("{},{}:ignore-client-abort+http1", first.addr.port(), second.addr.port());
    let nginx = Nginx::with_spec(port, &spec).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // both replicas hear stops
    let client =
        reqwest::Client::builder().danger_accept_invalid_certs(true).http1_only().build().unwrap();

    for round in 0..20 {
        let mut response = post_chat(&client, &nginx).await;
        assert_eq!(response.status(), 200);
        upstream.request().await;
        let mut received = String::new();
        while !received.contains("\"messageId\"") {
            let chunk = timeout(Duration::from_secs(5), response.chunk()).await.unwrap().unwrap();
            received.push_str(&String::from_utf8_lossy(&chunk.expect("more of the reply")));
        }
        let message_id = received
            .split("\"messageId\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a start part")
            .to_owned();
        // The browser leaves; nginx keeps its connection to the replica.
        drop(response);
        if round == 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let open = first.state.streams.open() + second.state.streams.open();
            assert_eq!(open, 1, "nginx closed the stream when the client left");
        }
        let stop = client.post(nginx.url(&format!("/api/chat/{message_id}/stop"))).send().await;
        assert_eq!(stop.unwrap().status(), 204, "round {round}: the stop missed its stream");
        let (_, _, finished) = upstream.closed().await;
        assert!(!finished, "round {round}: the model ran to the end");
    }
    let passed_on = |reins: &Reins| reins.metric("reins_stops_passed_on_total").unwrap_or(0);
    let total = passed_on(&first) + passed_on(&second);
    eprintln!("{total} of 20 stops landed on the replica that does not hold the stream");
    assert!(total >= 1, "round robin never sent a stop to the other replica");
}
