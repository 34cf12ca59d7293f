//! The real binary's log: written by a thread of its own, so a reader of the
//! server's output that falls behind (a log shipper, a full disk) never
//! stalls the requests whose lines it would be reading.

#![cfg(unix)]

mod support;

use std::time::Duration;

use support::Binary;

#[tokio::test]
async fn a_log_nobody_reads_does_not_stall_the_server() {
    let Binary { process: _server, mut log, addr } = Binary::start(&[
        // Never asked: only stops are sent.
        ("REINS_UPSTREAM_URL", "http://127.0.0.1:9/v1"),
        ("REINS_MODEL", "m"),
        ("RUST_LOG", "info,reins=debug"),
    ])
    .await;
    // From here on nobody reads the log, and the pipe stays open: it fills.

    // Each stop for a reply that is not streaming logs a line of about 130
    // bytes: 2,000 of them are four times what a pipe holds (64 KiB). A
    // server that wrote its log from the threads answering requests would
    // stop answering once the pipe was full.
    let client = reqwest::Client::new();
    let stops = async {
        for index in 0..2_000 {
            let url = format!("http://{addr}/api/chat/msg_{index:032x}/stop");
            let response = client.post(url).send().await.unwrap();
            assert_eq!(response.status(), 404);
        }
    };
    // Not a speed limit: 2,000 stops take well under a second here, and a
    // server stalled on its log never finishes them.
    tokio::time::timeout(Duration::from_secs(60), stops)
        .await
        .expect("the server stopped answering while nobody read its log");

    // Read now, the log holds every line, and more than a pipe holds.
    let (mut lines, mut bytes) = (0, 0);
    while lines < 2_000 {
        let line = tokio::time::timeout(Duration::from_secs(60), log.next_line())
            .await
            .expect("every line reaches the log")
            .unwrap()
            .expect("the server is still running");
        if line.contains("stop for an unknown reply") {
            lines += 1;
            bytes += line.len() + 1;
        }
    }
    assert!(bytes > 2 * 64 * 1024, "the stops logged {bytes} bytes, not enough to fill the pipe");
}
