//! Test harness: the real Reins router on a real listener, a scripted upstream
//! model on raw TCP that reports exactly when its connection closes, and a raw
//! HTTP client whose drop is an unambiguous disconnect.

#![allow(dead_code)] // each test file uses its own part of the harness

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

use app::protocol::{Receipt, ReplyState};
use reins::config::Config;
use reins::state::AppState;

/// One step of what the fake upstream does after reading a request.
#[derive(Clone, Debug)]
pub enum Step {
    /// Write the response head of a successful event stream.
    Head,
    /// Write a response head with this status and JSON body, then close.
    Fail(u16, &'static str),
    /// Write one completion chunk carrying this text.
    Token(&'static str),
    /// Write these bytes as they are.
    Raw(&'static str),
    /// Write a final chunk with this finish reason, then `[DONE]`.
    Finish(&'static str),
    /// Wait this long.
    Wait(Duration),
    /// Close the connection.
    Close,
}

/// A reply of `tokens` words, `interval` apart, then a normal finish: long
/// enough, in every test that uses it, to be cut off before the end.
pub fn paced_reply(tokens: usize, interval: Duration) -> Vec<Step> {
    let mut script = vec![Step::Head];
    for _ in 0..tokens {
        script.push(Step::Token("word "));
        script.push(Step::Wait(interval));
    }
    script.push(Step::Finish("stop"));
    script
}

/// What the fake upstream saw of one connection.
#[derive(Debug)]
pub enum UpstreamEvent {
    /// The request arrived, with this head and body.
    Request { head: String, body: String },
    /// The peer closed the connection after `writes` writes of the script.
    Closed { at: Instant, writes: usize, script_finished: bool },
}

/// An OpenAI-compatible upstream on loopback that follows a script for every
/// connection and reports each request and each close.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    events: mpsc::UnboundedReceiver<UpstreamEvent>,
}

impl FakeUpstream {
    /// Starts an upstream that answers every connection with `script`.
    pub async fn start(script: Vec<Step>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, events) = mpsc::unbounded_channel();
        let script = Arc::new(script);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve_connection(socket, script.clone(), sender.clone()));
            }
        });
        Self { addr, events }
    }

    /// The base URL to configure Reins with.
    pub fn base_url(&self) -> reqwest::Url {
        format!("http://{}/v1", self.addr).parse().unwrap()
    }

    /// The next request's head and body.
    pub async fn request(&mut self) -> (String, String) {
        match self.next_event().await {
            UpstreamEvent::Request { head, body } => (head, body),
            other => panic!("expected a request, got {other:?}"),
        }
    }

    /// When the peer closed the connection, and how far the script got.
    pub async fn closed(&mut self) -> (Instant, usize, bool) {
        match self.next_event().await {
            UpstreamEvent::Closed { at, writes, script_finished } => (at, writes, script_finished),
            other => panic!("expected a close, got {other:?}"),
        }
    }

    /// Whether the peer closed a connection within `wait`; the close, if so.
    pub async fn closed_within(&mut self, wait: Duration) -> Option<(Instant, usize, bool)> {
        match tokio::time::timeout(wait, self.events.recv()).await {
            Err(_) => None,
            Ok(Some(UpstreamEvent::Closed { at, writes, script_finished })) => {
                Some((at, writes, script_finished))
            }
            Ok(other) => panic!("expected a close or nothing, got {other:?}"),
        }
    }

    async fn next_event(&mut self) -> UpstreamEvent {
        tokio::time::timeout(Duration::from_secs(5), self.events.recv())
            .await
            .expect("the upstream saw nothing within 5 s")
            .expect("the upstream stopped")
    }
}

async fn serve_connection(
    mut socket: TcpStream,
    script: Arc<Vec<Step>>,
    events: mpsc::UnboundedSender<UpstreamEvent>,
) {
    socket.set_nodelay(true).unwrap();
    let Some((head, body)) = read_request(&mut socket).await else {
        return;
    };
    let _ = events.send(UpstreamEvent::Request { head, body });

    let (mut reader, mut writer) = socket.into_split();
    let mut writes = 0;
    let run_script = async {
        for step in script.iter() {
            let bytes = match step {
                Step::Head => "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                               cache-control: no-cache\r\nconnection: close\r\n\r\n"
                    .to_owned(),
                Step::Fail(status, body) => format!(
                    "HTTP/1.1 {status} Error\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                ),
                Step::Token(text) => sse(&serde_json::json!({
                    "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
                })),
                Step::Raw(raw) => (*raw).to_owned(),
                Step::Finish(reason) => format!(
                    "{}data: [DONE]\n\n",
                    sse(
                        &serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
                    )
                ),
                Step::Wait(duration) => {
                    tokio::time::sleep(*duration).await;
                    continue;
                }
                Step::Close => return,
            };
            if writer.write_all(bytes.as_bytes()).await.is_err() {
                // The peer is gone: the read side reports when.
                std::future::pending::<()>().await;
            }
            writes += 1;
        }
        // The script is over: hold the connection until the peer goes.
        std::future::pending::<()>().await;
    };
    // The peer's close shows up as EOF (or a reset) on the read side.
    let peer_closed = async {
        let mut buffer = [0u8; 1024];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => continue,
            }
        }
    };
    tokio::select! {
        at = peer_closed => {
            let _ = events.send(UpstreamEvent::Closed { at, writes, script_finished: false });
        }
        () = run_script => {
            let _ = events.send(UpstreamEvent::Closed { at: Instant::now(), writes, script_finished: true });
        }
    }
}

fn sse(value: &serde_json::Value) -> String {
    format!("data: {value}\n\n")
}

/// Reads one request head and its `content-length` body.
async fn read_request(socket: &mut TcpStream) -> Option<(String, String)> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = find(&data, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let read = socket.read(&mut buffer).await.ok()?;
                if read == 0 {
                    return None;
                }
                data.extend_from_slice(&buffer[..read]);
            }
            let body = String::from_utf8_lossy(&data[end + 4..end + 4 + length]).into_owned();
            return Some((head, body));
        }
        let read = socket.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        data.extend_from_slice(&buffer[..read]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// The real Reins app, serving on a free loopback port.
pub struct Reins {
    pub addr: SocketAddr,
    /// The app's state, for a look at its streams and metrics.
    pub state: AppState,
}

impl Reins {
    /// Serves the real router, relaying to `upstream`.
    pub async fn start(upstream: reqwest::Url, api_key: Option<&str>) -> Self {
        match api_key {
            Some(key) => Self::relaying_to(&upstream, &["--api-key", key]).await,
            None => Self::relaying_to(&upstream, &[]).await,
        }
    }

    /// Serves the real router relaying to `upstream`, with `extra` arguments.
    pub async fn relaying_to(upstream: &reqwest::Url, extra: &[&str]) -> Self {
        let url = upstream.to_string();
        let mut args = vec!["--upstream-url", url.as_str(), "--model", "test-model"];
        args.extend_from_slice(extra);
        Self::with_args(&args).await
    }

    /// Posts `body` to `/api/chat` as JSON.
    pub async fn post_chat(&self, body: impl Into<String>) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url("/api/chat"))
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .await
            .unwrap()
    }

    /// Serves the real router, configured by these command-line arguments.
    pub async fn with_args(args: &[&str]) -> Self {
        // Bound first: the listen address is the default public origin.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let addr_arg = addr.to_string();
        let config = Config::parse_from(
            ["reins", "--addr", addr_arg.as_str()].into_iter().chain(args.iter().copied()),
        );
        let state = reins::state_from_config(&config).await.unwrap();
        let settings = reins::connections::ConnectionSettings::from_config(&config, &state);
        let streams = state.streams.clone();
        let shutdown = async move {
            // Ends with the test's runtime: the server runs as long as the test.
            std::future::pending::<()>().await;
            streams.shut_down();
        };
        tokio::spawn(reins::serve(
            listener,
            reins::app(state.clone()),
            shutdown,
            Duration::from_secs(1),
            settings,
        ));
        Self { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST /api/chat/{message_id}/stop`.
    pub async fn post_stop(&self, message_id: &str) -> reqwest::Response {
        let url = self.url(&format!("/api/chat/{message_id}/stop"));
        reqwest::Client::new().post(url).send().await.unwrap()
    }

    /// `GET /api/chat/{message_id}`: the reply's receipt.
    pub async fn receipt(&self, message_id: &str) -> reqwest::Response {
        reqwest::get(self.url(&format!("/api/chat/{message_id}"))).await.unwrap()
    }

    /// The receipt once its reply has ended (the end is recorded as the
    /// stream is dropped, a moment after the client's last byte).
    pub async fn final_receipt(&self, message_id: &str) -> Receipt {
        for _ in 0..200 {
            let response = self.receipt(message_id).await;
            assert_eq!(response.status(), 200);
            let receipt: Receipt = response.json().await.unwrap();
            if receipt.state != ReplyState::Streaming {
                return receipt;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the reply never ended");
    }

    /// The value of one of its metrics, as `/metrics` shows it.
    pub fn metric(&self, name: &str) -> Option<u64> {
        metric_in(&self.state.metrics.encode(), name)
    }
}

/// The value of the metric `name` in the text `/metrics` serves.
pub fn metric_in(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// A chat request body with one user message.
pub fn chat_body(text: &str) -> String {
    serde_json::json!({"messages": [{"role": "user", "content": text}]}).to_string()
}

/// An upstream script that answers with a head and then thinks for a long
/// time.
pub fn thinking() -> Vec<Step> {
    vec![Step::Head, Step::Wait(Duration::from_secs(30))]
}

/// The `error.code` of an error response.
pub async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap();
    body["error"]["code"].as_str().unwrap().to_owned()
}

/// The `max_tokens` the model API was asked for in the next request.
pub async fn max_tokens_asked(upstream: &mut FakeUpstream) -> u64 {
    let (_, body) = upstream.request().await;
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["max_tokens"].as_u64().unwrap()
}

/// Two replicas relaying to `upstream`, sharing `redis`, with `extra`
/// arguments.
pub async fn replicas(redis: &RedisServer, upstream: &FakeUpstream, extra: &[&str]) -> [Reins; 2] {
    let url = redis.url();
    let mut args = vec!["--redis-url", url.as_str()];
    args.extend_from_slice(extra);
    let first = Reins::relaying_to(&upstream.base_url(), &args).await;
    let second = Reins::relaying_to(&upstream.base_url(), &args).await;
    [first, second]
}

/// A client that speaks HTTP/1.1 over a raw socket, so that dropping it is a
/// plain TCP close, with no connection pool in the way.
pub struct RawClient {
    socket: TcpStream,
    /// Everything received so far, framing included.
    pub received: Vec<u8>,
}

impl RawClient {
    /// Posts `body` to `/api/chat` and returns at once, before any reply.
    pub async fn post_chat(addr: SocketAddr, body: &str) -> Self {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "POST /api/chat HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        Self { socket, received: Vec::new() }
    }

    /// Reads until `needle` has been received `times` times in all.
    pub async fn read_until(&mut self, needle: &str, times: usize) {
        let mut buffer = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(5);
        while count(&self.received, needle.as_bytes()) < times {
            let read = tokio::time::timeout_at(deadline, self.socket.read(&mut buffer))
                .await
                .unwrap_or_else(|_| panic!("no {times}× {needle:?} within 5 s: {}", self.text()))
                .unwrap();
            assert!(read > 0, "the server closed the stream early: {}", self.text());
            self.received.extend_from_slice(&buffer[..read]);
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    /// The message id from the `start` part, once it has arrived.
    pub fn message_id(&self) -> String {
        let text = self.text();
        let start = text.find("\"messageId\":\"").expect("a start part") + "\"messageId\":\"".len();
        text[start..].split('"').next().unwrap().to_owned()
    }

    /// Reads until the server ends the response, and returns it all.
    pub async fn read_to_end(&mut self) -> String {
        let mut buffer = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.received.ends_with(b"0\r\n\r\n") {
            let read = tokio::time::timeout_at(deadline, self.socket.read(&mut buffer))
                .await
                .unwrap_or_else(|_| panic!("the response did not end within 5 s: {}", self.text()))
                .unwrap();
            if read == 0 {
                break;
            }
            self.received.extend_from_slice(&buffer[..read]);
        }
        self.text()
    }

    /// Closes the connection and returns the moment it did.
    pub fn disconnect(self) -> Instant {
        drop(self.socket);
        Instant::now()
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|window| *window == needle).count()
}

/// The `data:` payloads of a complete SSE body, in order.
pub fn data_frames(body: &str) -> Vec<String> {
    body.split("\n\n").filter_map(|event| event.strip_prefix("data: ")).map(str::to_owned).collect()
}

/// The `type`s of the UI message parts in `frames`, with `[DONE]` as is.
pub fn part_types(frames: &[String]) -> Vec<String> {
    frames
        .iter()
        .map(|frame| match serde_json::from_str::<serde_json::Value>(frame) {
            Ok(part) => part["type"].as_str().unwrap().to_owned(),
            Err(_) => frame.clone(),
        })
        .collect()
}

/// A private `redis-server` (Debian's, installed by `scripts/setup`) on a free
/// loopback port, with nothing saved to disk unless asked; stopped, by its
/// PID, when dropped. Never the system's service.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
    /// Where it keeps its append-only file, when it keeps one.
    data: Option<std::path::PathBuf>,
}

impl RedisServer {
    pub async fn start() -> Self {
        Self::start_keeping(false).await
    }

    /// One that writes every change to its append-only file before it
    /// answers (`appendfsync always`), so a restart keeps all it held.
    pub async fn start_persistent() -> Self {
        Self::start_keeping(true).await
    }

    async fn start_keeping(persistent: bool) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let data = persistent.then(|| {
            let dir = std::env::temp_dir().join(format!("reins-test-redis-{port}"));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        });
        let mut server = Self { port, child: None, data };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts it (again) on the same port, and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let port = self.port.to_string();
        let mut command = std::process::Command::new("redis-server");
        command.args(["--bind", "127.0.0.1", "--port", &port, "--save", "", "--daemonize", "no"]);
        match &self.data {
            Some(dir) => command
                .args(["--appendonly", "yes", "--appendfsync", "always"])
                .args(["--dir", dir.to_str().unwrap()]),
            None => command
                .args(["--appendonly", "no"])
                .args(["--dir", std::env::temp_dir().to_str().unwrap()]),
        };
        let child = command
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (bash scripts/setup installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut socket) = TcpStream::connect(("127.0.0.1", self.port)).await {
                socket.write_all(b"PING\r\n").await.unwrap();
                let mut answer = [0; 7];
                if socket.read_exact(&mut answer).await.is_ok() && &answer == b"+PONG\r\n" {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops it, as a crash would: killed, not asked.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A command connection for a test's own look at the keys.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url()).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = &self.data {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Sends `signal` (as `kill` names it: `-TERM`, `-STOP`, `-CONT`) to the
/// process `pid`, one this test started.
pub fn send_signal(pid: u32, signal: &str) {
    let sent =
        std::process::Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
}

/// The real `reins` binary in a process of its own, its log piped to the
/// test; killed when dropped.
pub struct Binary {
    pub process: Child,
    /// The log's lines after the one that says where the server listens.
    pub log: Lines<BufReader<ChildStdout>>,
    pub addr: SocketAddr,
}

impl Binary {
    /// Starts the binary on a free loopback port with `env` added, and reads
    /// its log as far as the line that says where it listens.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let mut process = Command::new(env!("CARGO_BIN_EXE_reins"))
            .env("REINS_ADDR", "127.0.0.1:0")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut log = BufReader::new(process.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = log.next_line().await.unwrap().expect("the server exited before listening");
            if let Some((_, addr)) = line.split_once("listening on http://") {
                break addr.trim().parse().unwrap();
            }
        };
        Self { process, log, addr }
    }
}
