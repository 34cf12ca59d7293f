//! SIGTERM with streams open: the real binary ends every stream with a final
//! event, drops every upstream request, and exits 0 well within its deadline.

#![cfg(unix)]

mod support;

use std::time::Duration;

use support::{Binary, FakeUpstream, RawClient, chat_body, paced_reply};

#[tokio::test]
async fn sigterm_ends_open_streams_and_exits_zero() {
    let mut upstream = FakeUpstream::start(paced_reply(1000, Duration::from_millis(20))).await;
    let Binary { process: mut server, mut log, addr } = Binary::start(&[
        ("REINS_UPSTREAM_URL", upstream.base_url().as_str()),
        ("REINS_MODEL", "m"),
        ("REINS_SHUTDOWN_TIMEOUT_SECS", "5"),
        ("RUST_LOG", "info"),
    ])
    .await;
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });

    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = RawClient::post_chat(addr, &chat_body("Hi")).await;
        upstream.request().await;
        client.read_until("\"text-delta\"", 2).await;
        clients.push(client);
    }

    let signalled = tokio::time::Instant::now();
    support::send_signal(server.id().unwrap(), "-TERM");

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
