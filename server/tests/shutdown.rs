//! SIGTERM with streams open: the real binary ends every stream with a final
//! event, drops every upstream request, and exits 0 well within its deadline.

#![cfg(unix)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::{FakeUpstream, RawClient, chat_body, paced_reply};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn sigterm_ends_open_streams_and_exits_zero() {
    let mut upstream = FakeUpstream::start(paced_reply(1000, Duration::from_millis(20))).await;
    let mut server = Command::new(env!("CARGO_BIN_EXE_reins"))
        .env("REINS_ADDR", "127.0.0.1:0")
        .env("REINS_UPSTREAM_URL", upstream.base_url().as_str())
        .env("REINS_MODEL", "m")
        .env("REINS_SHUTDOWN_TIMEOUT_SECS", "5")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // The log says where it listens.
    let mut log = BufReader::new(server.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = log.next_line().await.unwrap().expect("the server exited before listening");
        if let Some((_, addr)) = line.split_once("listening on http://") {
            break addr.trim().parse().unwrap();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });

    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = RawClient::post_chat(addr, &chat_body("Hi")).await;
        upstream.request().await;
        client.read_until("\"text-delta\"", 2).await;
        clients.push(client);
    }

    let signalled = tokio::time::Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &server.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    for mut client in clients {
        let body = client.read_to_end().await;
        let error = body
            .find(r#""errorText":"The server is shutting down; the reply was cut short.""#)
            .unwrap_or_else(|| panic!("no final event: {body}"));
        assert!(body[error..].contains("data: [DONE]"), "{body}");
    }
    for _ in 0..3 {
        let (closed, _, finished) = upstream.closed().await;
        assert!(!finished);
        assert!(closed - signalled < Duration::from_secs(1));
    }
    let status = tokio::time::timeout(Duration::from_secs(5), server.wait())
        .await
        .expect("the server exits before its deadline")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(signalled.elapsed() < Duration::from_secs(3), "exited after {:?}", signalled.elapsed());
}
