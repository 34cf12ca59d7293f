//! Slow and silent clients on the real server: half-sent heads and bodies
//! time out, clients trickling headers cannot keep others out, and a client
//! that stops reading without closing loses its stream and its upstream
//! request, by timeout or by Stop.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};

use support::{FakeUpstream, Reins, Step, chat_body};

/// A connection to `server` from the loopback address `from`, so that a
/// test can play many clients from one machine.
async fn connect_from(from: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(server).await.unwrap()
}

/// Reads until the server closes, for at most `limit`; what was read.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| String::from_utf8_lossy(&received).into_owned())
}

async fn healthz(reins: &Reins) -> Result<u16, String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    match client.get(reins.url("/healthz")).send().await {
        Ok(response) => Ok(response.status().as_u16()),
        Err(error) => Err(error.to_string()),
    }
}

#[tokio::test]
async fn a_half_sent_head_is_closed_after_the_header_timeout() {
    let reins = Reins::with_args(&["--header-read-timeout-ms", "300"]).await;
    let mut stream = TcpStream::connect(reins.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.is_some(), "the half-sent request was still open after 5 s");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed after {:?}",
        started.elapsed()
    );
}

/// Posts a chat that announces `content_length` bytes of body and sends
/// only `sent`; what the server answers before it closes.
async fn partial_post(server: SocketAddr, content_length: u64, sent: &str) -> String {
    let mut stream = TcpStream::connect(server).await.unwrap();
    let head = format!(
        "POST /api/chat HTTP/1.1\r\nhost: {server}\r\ncontent-type: application/json\r\n\
         content-length: {content_length}\r\n\r\n{sent}"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    read_until_closed(&mut stream, Duration::from_secs(5)).await.expect("answered")
}

#[tokio::test]
async fn a_body_that_does_not_arrive_gets_a_json_408() {
    let reins = Reins::with_args(&["--body-read-timeout-ms", "300"]).await;
    let answer = partial_post(reins.addr, 1000, "{\"messages\":").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");

    // A 10 GiB body announced, 13 bytes sent: refused, not waited for.
    let answer = partial_post(reins.addr, 10 << 30, "{\"messages\":[").await;
    assert!(answer.starts_with("HTTP/1.1 413") || answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// Clients that send their heads a byte at a time, from `from`, until dropped.
async fn trickle(
    from: [u8; 4],
    server: SocketAddr,
    count: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for _ in 0..count {
        let Ok(mut stream) = timeout(Duration::from_secs(1), connect_from(from, server)).await
        else {
            continue;
        };
        tasks.push(tokio::spawn(async move {
            let head =
                b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaa";
            for byte in head.iter().cycle() {
                if stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    tasks
}

#[tokio::test]
async fn slowloris_from_many_addresses_cannot_keep_others_out() {
    // Few connections and a long header timeout: only making room by
    // closing the oldest idle connection keeps the server answering.
    let reins = Reins::with_args(&[
        "--max-connections",
        "20",
        "--max-connections-per-address",
        "1000",
        "--header-read-timeout-ms",
        "60000",
    ])
    .await;
    let mut attackers = Vec::new();
    for last in 2..6u8 {
        attackers.extend(trickle([127, 0, 0, last], reins.addr, 50).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for round in 0..5 {
        assert_eq!(healthz(&reins).await, Ok(200), "round {round}");
        let chat = reqwest::Client::new()
            .post(reins.url("/api/chat"))
            .header("content-type", "application/json")
            .body(chat_body("Hi"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map(|response| response.status().as_u16());
        assert_eq!(chat.ok(), Some(200), "round {round}: a new chat is served");
    }
    for attacker in attackers {
        attacker.abort();
    }
}

#[tokio::test]
async fn one_address_holds_only_its_share_of_connections() {
    let reins = Reins::with_args(&[
        "--max-connections-per-address",
        "8",
        "--header-read-timeout-ms",
        "60000",
    ])
    .await;
    let attackers = trickle([127, 0, 0, 2], reins.addr, 100).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still_open = attackers.iter().filter(|task| !task.is_finished()).count();
    assert!(still_open <= 8, "{still_open} connections from one address are still open");
    assert_eq!(healthz(&reins).await, Ok(200));
    for attacker in attackers {
        attacker.abort();
    }
}

/// An upstream that writes a long reply as fast as it can.
fn flood() -> Vec<Step> {
    let token: &'static str = Box::leak("word ".repeat(2000).into_boxed_str());
    let mut script = vec![Step::Head];
    script.extend(std::iter::repeat_n(Step::Token(token), 5000));
    script.push(Step::Finish("stop"));
    script
}

/// Posts a chat and never reads the answer.
async fn silent_client(server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    // A small receive buffer fills soon.
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let body = chat_body("Hi");
    let request = format!(
        "POST /api/chat HTTP/1.1\r\nhost: {server}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_its_stream_after_the_idle_timeout() {
    let mut upstream = FakeUpstream::start(flood()).await;
    let reins = Reins::relaying_to(&upstream.base_url(), &["--idle-timeout-ms", "500"]).await;
    let _silent = silent_client(reins.addr).await;
    upstream.request().await;
    let (closed, writes, finished) = timeout(Duration::from_secs(10), upstream.closed())
        .await
        .expect("the upstream request was dropped");
    assert!(!finished, "the whole reply was written after {writes} writes");
    let _ = closed;
    assert_eq!(reins.state.streams.open(), 0, "the slot came back");
}

#[tokio::test]
async fn stop_reaches_a_stream_whose_client_stopped_reading() {
    let mut upstream = FakeUpstream::start(flood()).await;
    // An idle timeout far away: only Stop can end this stream in time.
    let reins = Reins::relaying_to(&upstream.base_url(), &["--idle-timeout-ms", "60000"]).await;
    let mut silent = silent_client(reins.addr).await;
    upstream.request().await;
    // The message id is in the first bytes, before the buffers filled.
    let mut head = vec![0u8; 1024];
    let mut read = 0;
    let message_id = loop {
        read += silent.read(&mut head[read..]).await.unwrap();
        let text = String::from_utf8_lossy(&head[..read]).into_owned();
        if let Some(at) = text.find("\"messageId\":\"") {
            let rest = &text[at + 13..];
            if let Some(end) = rest.find('"') {
                break rest[..end].to_owned();
            }
        }
    };
    // Let the buffers fill: the client reads nothing more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped_at = Instant::now();
    assert_eq!(reins.post_stop(&message_id).await.status(), 204);
    let (closed, _, finished) = timeout(Duration::from_secs(5), upstream.closed())
        .await
        .expect("the upstream request was dropped");
    assert!(!finished);
    assert!(
        closed - stopped_at < Duration::from_secs(1),
        "the upstream was dropped {:?} after the stop",
        closed - stopped_at
    );
}

/// The real binary under a 256-descriptor limit, as a small container or a
/// default shell might give it. Before connections were capped, 306
/// half-sent requests made it log "Too many open files" and stop answering.
#[cfg(unix)]
#[tokio::test]
async fn under_a_256_descriptor_limit_306_half_sent_requests_do_not_stop_the_server() {
    use tokio::io::AsyncBufReadExt;

    let mut server = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -n 256 && exec {}", env!("CARGO_BIN_EXE_reins")))
        .env("REINS_ADDR", "127.0.0.1:0")
        .env("REINS_DEMO_FIRST_TOKEN_DELAY_MS", "0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let mut max_connections = None;
    let addr: SocketAddr = loop {
        let line = log.next_line().await.unwrap().expect("the server exited before listening");
        if let Some((_, rest)) = line.split_once("max_connections=") {
            max_connections = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some((_, addr)) = line.split_once("listening on http://") {
            break addr.trim().parse().unwrap();
        }
    };
    assert_eq!(max_connections.as_deref(), Some("96"), "(256 - 64) / 2");
    let lines = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(Some(line)) = log.next_line().await {
            seen.push(line);
        }
        seen
    });

    // 306 requests that never finish their heads, from six addresses.
    let mut held = Vec::new();
    for n in 0..306u32 {
        let from = [127, 0, 0, 2 + (n % 6) as u8];
        if let Ok(mut stream) = timeout(Duration::from_secs(1), connect_from(from, addr)).await {
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await;
            held.push(stream);
        }
    }
    for round in 0..3 {
        let health = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap()
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .map(|response| response.status().as_u16());
        assert_eq!(health.ok(), Some(200), "round {round}");
    }
    drop(held);
    server.kill().await.unwrap();
    let seen = lines.await.unwrap();
    assert!(
        !seen.iter().any(|line| line.contains("Too many open files")),
        "the server ran out of descriptors: {seen:?}"
    );
}

/// The real binary's listener: while the server accepts nothing (stopped
/// here, as a server busy with a burst is for a moment), 300 connections at
/// once wait in its queue, and the last is served once it accepts again.
/// With the queue of 128 tokio asks for, the kernel dropped the SYNs past
/// it and each of those clients waited a second to send its SYN again.
/// (300, not the issue's 500: this test's process holds every client's
/// descriptor beside the other tests'; `connections::listen`'s unit test
/// holds 600.)
#[cfg(unix)]
#[tokio::test]
async fn a_burst_the_server_cannot_accept_yet_waits_in_its_queue() {
    const BURST: usize = 300;
    // Caps above the burst, so that no connection is closed to make room.
    let reins = support::Binary::start(&[
        ("REINS_MAX_CONNECTIONS", "1000"),
        ("REINS_MAX_CONNECTIONS_PER_ADDRESS", "1000"),
    ])
    .await;
    let pid = reins.process.id().unwrap();
    support::send_signal(pid, "-STOP");
    // A dropped SYN is not sent again for a second, and nothing is
    // accepted meanwhile: the timeout only bounds the wait.
    let connecting = (0..BURST).map(|n| {
        let from = [127, 0, 0, 2 + (n % 6) as u8];
        timeout(Duration::from_secs(3), connect_from(from, reins.addr))
    });
    let connected = futures::future::join_all(connecting).await;
    support::send_signal(pid, "-CONT");
    let mut in_queue: Vec<TcpStream> = connected.into_iter().filter_map(Result::ok).collect();
    assert_eq!(in_queue.len(), BURST, "connections in the queue while the server was stopped");
    let mut last = in_queue.pop().unwrap();
    last.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut last, Duration::from_secs(10)).await.unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}
