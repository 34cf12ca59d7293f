//! The real binary's log: written by a thread of its own, so a reader of the
//! server's output that falls behind (a log shipper, a full disk) never
//! stalls the requests whose lines it would be reading.

#![cfg(unix)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn a_log_nobody_reads_does_not_stall_the_server() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_reins"))
        .env("REINS_ADDR", "127.0.0.1:0")
        // Never asked: only stops are sent.
        .env("REINS_UPSTREAM_URL", "http://127.0.0.1:9/v1")
        .env("REINS_MODEL", "m")
        .env("RUST_LOG", "info,reins=debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = BufReader::new(server.stdout.take().unwrap()).lines();
    let addr: std::net::SocketAddr = loop {
        let line = log.next_line().await.unwrap().expect("the server exited before listening");
        if let Some((_, addr)) = line.split_once("listening on http://") {
            break addr.trim().parse().unwrap();
        }
    };
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
