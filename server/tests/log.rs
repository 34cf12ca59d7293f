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

#[tokio::test]
async fn the_lines_a_stalled_reader_loses_are_counted() {
    let Binary { process: _server, mut log, addr } = Binary::start(&[
        ("REINS_UPSTREAM_URL", "http://127.0.0.1:9/v1"),
        ("REINS_MODEL", "m"),
        // Only the stops' lines, so that every line is one the test sent.
        ("RUST_LOG", "info,reins::routes::chat=debug"),
        ("REINS_LOG_BUFFER_LINES", "16"),
    ])
    .await;
    let client = reqwest::Client::new();
    let stop = |id: String| {
        let request = client.post(format!("http://{addr}/api/chat/{id}/stop")).send();
        async move { assert_eq!(request.await.unwrap().status(), 404) }
    };

    // Nobody reads the log: 5,000 lines of about 130 bytes are ten times
    // what the pipe, the log thread's writer and its 16 lines hold.
    let sent = 5_000;
    for index in 0..sent {
        stop(format!("msg_{index:032x}")).await;
    }
    assert!(dropped_lines(addr).await > 0, "a log nobody reads dropped no lines");

    // Reading now, a marker stop shows when every line before it has been
    // written or dropped. Markers sent while the log still drains its
    // backlog may be dropped too: send them until one arrives.
    let (mut seen, mut markers) = (0, 0);
    'drained: loop {
        let marker = format!("msg_{:032x}", u64::MAX - markers);
        markers += 1;
        stop(marker.clone()).await;
        while let Ok(line) = tokio::time::timeout(Duration::from_millis(200), log.next_line()).await
        {
            let line = line.unwrap().expect("the server is still running");
            assert!(
                line.contains("stop for an unknown reply"),
                "a line the test did not send: {line}"
            );
            seen += 1;
            if line.contains(&marker) {
                break 'drained;
            }
        }
        assert!(markers < 100, "no marker reached the log");
    }
    let dropped = dropped_lines(addr).await;
    assert_eq!(
        seen + dropped,
        sent + markers,
        "{seen} lines written and {dropped} counted as dropped, of {sent} stops and {markers} markers"
    );
}

/// `reins_log_lines_dropped_total`, read from `/metrics`.
async fn dropped_lines(addr: std::net::SocketAddr) -> u64 {
    let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    support::metric_in(&text, "reins_log_lines_dropped_total").expect("the metric is there")
}

#[tokio::test]
async fn a_log_into_a_pipe_is_plain_text() {
    let Binary { process: _server, mut log, addr } = Binary::start(&[
        ("REINS_UPSTREAM_URL", "http://127.0.0.1:9/v1"),
        ("REINS_MODEL", "m"),
        // The other tests turn colours off; here only the pipe may.
        ("NO_COLOR", ""),
        ("RUST_LOG", "warn,reins=debug"),
    ])
    .await;
    let url = format!("http://{addr}/api/chat/msg_{:032x}/stop", 1);
    assert_eq!(reqwest::Client::new().post(url).send().await.unwrap().status(), 404);
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), log.next_line())
            .await
            .expect("the stop is logged")
            .unwrap()
            .expect("the server is still running");
        assert!(!line.contains('\x1b'), "terminal colour codes in a piped log: {line:?}");
        if line.contains("stop for an unknown reply") {
            assert!(line.contains("DEBUG reins::routes"), "{line:?}");
            break;
        }
    }
}
