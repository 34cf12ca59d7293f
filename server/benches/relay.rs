//! What the relay costs: Reins between clients and a model API, against the
//! same clients talking to the same API directly. Prints figures; asserts
//! nothing.
//!
//! Run with `cargo bench -p reins --bench relay`; name sections after `--`
//! to run only those (`delivery` with the CPU per token, `burst`, `close`,
//! `churn`, `many`), as in `cargo bench -p reins --bench relay -- delivery`.
//!
//! The relay is the real `reins` binary (release build) in its own process,
//! so its memory can be read from `/proc`. The upstream and the clients run
//! here, on raw TCP, with as little work per chunk as possible: every token
//! carries the time it was written (`t<nanoseconds>;`), and the clients find
//! those marks in the raw bytes without parsing JSON, so both paths pay the
//! same client and upstream costs and the difference is the relay's.
//!
//! Delivery and the burst are measured two more ways: through a process
//! that only copies bytes ([`floor`]), what any relay on this machine costs
//! at the least; and through Reins' libraries relaying the upstream's bytes
//! unread ([`floor::serve_libraries`]). So Reins' figures read as the floor,
//! plus what its libraries cost, plus its own code.

// Printing its figures is what a benchmark is for, and naming a section
// that does not exist is told on standard error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use std::io::BufRead;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// The floors run as this executable, on Reins' allocator (see its
/// `main.rs`), so that what they cost differs from Reins' by code alone.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Tokens per stream in the delivery runs, at [`TOKEN_INTERVAL`] apart.
const TOKENS: usize = 40;
/// Requests whose time to first token is measured while the streams run.
const PROBES: usize = 30;
/// 20 tokens per second.
const TOKEN_INTERVAL: Duration = Duration::from_millis(50);
const CONCURRENCY: [usize; 4] = [1, 50, 500, 2_000];
/// Streams that start at the same moment, for the burst's first tokens.
const BURST: usize = 500;
/// Bursts measured on each path, so that the CPU per stream, read from
/// `/proc` in ticks of 10 ms, is read over thousands of streams.
const BURST_ROUNDS: usize = 10;
/// Streams held open at once: the model thinking, or at one token a second.
const MANY: usize = 5_000;
/// Tokens per stream in the run at [`MANY`] streams, one a second.
const MANY_TOKENS: usize = 5;
/// Disconnects measured for each of the three cases.
const CLOSES: usize = 200;
/// Disconnects in the churn, and the streams open at once while they happen.
const CHURN_CLOSES: usize = 10_000;
const CHURN_STREAMS: usize = 500;
/// Closes a second in the paced churn: about a third of what this machine's
/// relay takes when the churn goes as fast as it can.
const CHURN_PACE: usize = 1_000;

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    origin().elapsed().as_nanos() as u64
}

// ---------------------------------------------------------------------------
// The upstream: an OpenAI-compatible stream whose behaviour the prompt picks.
// ---------------------------------------------------------------------------

/// What the upstream does with one request, written into the prompt.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Head, then `tokens` tokens at `interval`, then `[DONE]`.
    Stream { tokens: usize, interval: Duration },
    /// Head, then silence.
    Think,
    /// Silence, not even a head.
    NoHead,
}

impl Mode {
    fn prompt(self, id: u64) -> String {
        match self {
            Self::Stream { tokens, interval } => {
                format!("id={id} mode=stream tokens={tokens} interval_us={}", interval.as_micros())
            }
            Self::Think => format!("id={id} mode=think"),
            Self::NoHead => format!("id={id} mode=nohead"),
        }
    }

    fn parse(prompt: &str) -> (u64, Self) {
        let field = |name: &str| {
            prompt
                .split_whitespace()
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or("0")
        };
        let id = field("id").parse().unwrap_or(0);
        let mode = match field("mode") {
            "stream" => Self::Stream {
                tokens: field("tokens").parse().unwrap_or(1),
                interval: Duration::from_micros(field("interval_us").parse().unwrap_or(0)),
            },
            "think" => Self::Think,
            _ => Self::NoHead,
        };
        (id, mode)
    }
}

/// When the upstream saw each request arrive and each connection close, by id.
#[derive(Default)]
struct Sightings {
    requests: Mutex<HashMap<u64, Instant>>,
    closes: Mutex<HashMap<u64, Instant>>,
    /// One per id waited on, so a sighting wakes only who waits for it
    /// (hundreds wait at once in the churn).
    waiters: Mutex<HashMap<u64, Arc<Notify>>>,
}

impl Sightings {
    fn waiter(&self, id: u64) -> Arc<Notify> {
        self.waiters.lock().unwrap().entry(id).or_default().clone()
    }

    /// Wakes whoever waits for `id` (or the next to wait: `notify_one`
    /// keeps a permit).
    fn seen(&self, id: u64) {
        self.waiter(id).notify_one();
    }

    async fn wait_for(
        &self,
        map: impl Fn(&Self) -> &Mutex<HashMap<u64, Instant>>,
        id: u64,
    ) -> Instant {
        loop {
            let waiter = self.waiter(id);
            if let Some(at) = map(self).lock().unwrap().get(&id) {
                self.waiters.lock().unwrap().remove(&id);
                return *at;
            }
            if tokio::time::timeout(Duration::from_secs(10), waiter.notified()).await.is_err() {
                panic!("upstream never saw {id}");
            }
        }
    }
}

async fn start_upstream() -> (SocketAddr, Arc<Sightings>) {
    // Reins' queue of connections not yet accepted: with tokio's 128, a
    // direct burst's connections were dropped here as they were at Reins.
    let listener = reins::connections::listen("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let sightings = Arc::new(Sightings::default());
    let shared = sightings.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(upstream_connection(socket, shared.clone()));
        }
    });
    (addr, sightings)
}

async fn upstream_connection(socket: TcpStream, sightings: Arc<Sightings>) {
    socket.set_nodelay(true).unwrap();
    let (mut reader, mut writer) = socket.into_split();
    let Some(body) = read_request_body(&mut reader).await else { return };
    let prompt = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.pointer("/messages/0/content")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    let (id, mode) = Mode::parse(&prompt);
    sightings.requests.lock().unwrap().insert(id, Instant::now());
    sightings.seen(id);

    let write = async {
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
        match mode {
            Mode::NoHead => std::future::pending::<()>().await,
            Mode::Think => {
                writer.write_all(head.as_bytes()).await.ok()?;
                std::future::pending::<()>().await;
            }
            Mode::Stream { tokens, interval } => {
                writer.write_all(head.as_bytes()).await.ok()?;
                let start = tokio::time::Instant::now();
                for index in 0..tokens {
                    tokio::time::sleep_until(start + interval * index as u32).await;
                    let chunk = format!(
                        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{};\"}}}}]}}\n\n",
                        now_ns()
                    );
                    writer.write_all(chunk.as_bytes()).await.ok()?;
                }
                let end = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
                writer.write_all(end.as_bytes()).await.ok()?;
                std::future::pending::<()>().await;
            }
        }
        Some(())
    };
    let closed = async {
        let mut buffer = [0u8; 512];
        while let Ok(read) = reader.read(&mut buffer).await {
            if read == 0 {
                break;
            }
        }
    };
    tokio::select! {
        _ = write => {}
        () = closed => {}
    }
    sightings.closes.lock().unwrap().insert(id, Instant::now());
    sightings.seen(id);
}

async fn read_request_body(reader: &mut tokio::net::tcp::OwnedReadHalf) -> Option<String> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = reader.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        data.extend_from_slice(&buffer[..read]);
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        if data.len() >= end + 4 + length {
            return Some(String::from_utf8_lossy(&data[end + 4..end + 4 + length]).into_owned());
        }
    }
}

// ---------------------------------------------------------------------------
// The clients.
// ---------------------------------------------------------------------------

/// Where a client sends its request: through the relay, or straight upstream.
#[derive(Clone, Copy)]
enum Target {
    Relay(SocketAddr),
    Direct(SocketAddr),
}

impl Target {
    async fn open(self, prompt: &str) -> TcpStream {
        let (addr, path, body) = match self {
            Self::Relay(addr) => (
                addr,
                "/api/chat",
                serde_json::json!({"messages": [{"role": "user", "content": prompt}]}),
            ),
            Self::Direct(addr) => (
                addr,
                "/v1/chat/completions",
                serde_json::json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": prompt}]}),
            ),
        };
        let body = body.to_string();
        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket.set_nodelay(true).unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        socket
    }
}

/// Finds `t<digits>;` marks in a byte stream fed in pieces.
#[derive(Default)]
struct MarkScanner {
    /// Digits of a mark cut by a read boundary.
    partial: Option<u64>,
}

impl MarkScanner {
    fn feed(&mut self, bytes: &[u8], mut on_mark: impl FnMut(u64)) {
        let mut index = 0;
        while index < bytes.len() {
            if let Some(value) = self.partial.as_mut() {
                match bytes[index] {
                    digit @ b'0'..=b'9' => *value = *value * 10 + u64::from(digit - b'0'),
                    b';' => on_mark(self.partial.take().unwrap()),
                    _ => self.partial = None,
                }
            } else if bytes[index] == b't' && bytes.get(index + 1).is_none_or(u8::is_ascii_digit) {
                self.partial = Some(0);
            }
            index += 1;
        }
    }
}

/// One streamed reply: the time to its first token and each token's delay.
struct Delivery {
    first_token: Duration,
    delays_us: Vec<f64>,
}

async fn stream_one(target: Target, id: u64, tokens: usize, start_after: Duration) -> Delivery {
    stream_paced(target, id, tokens, TOKEN_INTERVAL, start_after).await
}

async fn stream_paced(
    target: Target,
    id: u64,
    tokens: usize,
    interval: Duration,
    start_after: Duration,
) -> Delivery {
    tokio::time::sleep(start_after).await;
    let prompt = Mode::Stream { tokens, interval }.prompt(id);
    // From before the connection: a client kept waiting to connect (its SYN
    // dropped by a full listen queue, and sent again a second later) waits
    // for its first token as surely as one answered late.
    let sent = Instant::now();
    let mut socket = target.open(&prompt).await;
    let mut scanner = MarkScanner::default();
    let mut buffer = vec![0u8; 16 * 1024];
    let mut first_token = None;
    let mut delays_us = Vec::with_capacity(tokens);
    while delays_us.len() < tokens {
        let read = socket.read(&mut buffer).await.unwrap();
        assert!(read > 0, "stream {id} ended early");
        let now = now_ns();
        scanner.feed(&buffer[..read], |sent_ns| {
            first_token.get_or_insert_with(|| sent.elapsed());
            delays_us.push(now.saturating_sub(sent_ns) as f64 / 1000.0);
        });
    }
    Delivery { first_token: first_token.unwrap(), delays_us }
}

async fn read_until(socket: &mut TcpStream, needle: &[u8]) {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let read = socket.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed before {:?}", String::from_utf8_lossy(needle));
        seen.extend_from_slice(&buffer[..read]);
    }
}

// ---------------------------------------------------------------------------
// The relay, as its own process.
// ---------------------------------------------------------------------------

struct Relay {
    process: tokio::process::Child,
    addr: SocketAddr,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Self {
        // Another build can be measured in the same sitting (the machine
        // varies more between sittings than most changes move the figures).
        let binary = std::env::var_os("RELAY_BENCH_BINARY")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_reins").into());
        let mut command = tokio::process::Command::new(binary);
        command
            .env("REINS_ADDR", "127.0.0.1:0")
            .env("REINS_UPSTREAM_URL", format!("http://{upstream}/v1"))
            .env("REINS_MODEL", "m")
            .env("REINS_MAX_STREAMS", "100000")
            .env("REINS_MAX_STREAMS_PER_CLIENT", "100000")
            // Every client of the benchmark is 127.0.0.1: lift the limits
            // meant for one person.
            .env("REINS_MAX_REQUESTS_PER_MINUTE", "1000000")
            .env("REINS_MAX_OUTPUT_TOKENS_PER_HOUR", "1000000000000")
            .env("REINS_MAX_CONNECTIONS_PER_ADDRESS", "1000000")
            .env("RUST_LOG", "warn,reins=info")
            .env("NO_COLOR", "1");
        Self::launch(command).await
    }

    /// [`floor::serve`] in a process of its own, copying to `upstream`:
    /// this benchmark's own executable, started again.
    async fn floor(upstream: SocketAddr) -> Self {
        Self::this_benchmark_as(floor::UPSTREAM_VAR, upstream).await
    }

    /// [`floor::serve_libraries`] in a process of its own.
    async fn libraries(upstream: SocketAddr) -> Self {
        Self::this_benchmark_as(floor::LIBRARIES_UPSTREAM_VAR, upstream).await
    }

    /// This benchmark's own executable, started again with `var` set to
    /// `upstream` (see [`main`]).
    async fn this_benchmark_as(var: &str, upstream: SocketAddr) -> Self {
        let mut command =
            tokio::process::Command::new(std::env::current_exe().expect("the benchmark's path"));
        command.env(var, upstream.to_string());
        Self::launch(command).await
    }

    /// Runs `command`, a server that prints `listening on http://{addr}`.
    async fn launch(mut command: tokio::process::Command) -> Self {
        let mut process =
            command.stdout(Stdio::piped()).kill_on_drop(true).spawn().expect("the relay runs");
        // The log (two lines per stream) is read on a thread of its own:
        // read on the benchmark's busy thread, it fell behind, the pipe
        // filled, and the relay's writes to it blocked its worker threads.
        let log = process.stdout.take().unwrap().into_owned_fd().unwrap();
        let (found, listening) = tokio::sync::oneshot::channel::<String>();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in std::io::BufReader::new(std::fs::File::from(log)).lines() {
                let Ok(line) = line else { break };
                if let Some((_, addr)) = line.split_once("listening on http://")
                    && let Some(found) = found.take()
                {
                    let _ = found.send(addr.trim().to_owned());
                }
            }
        });
        let addr = listening.await.expect("the relay exited before listening").parse().unwrap();
        Self { process, addr }
    }

    fn usage(&self) -> Usage {
        Usage::of(self.process.id().unwrap())
    }

    /// Resident memory of the relay process, in KiB.
    fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.process.id().unwrap()))
                .expect("/proc is readable");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

/// The least any relay can cost on this machine: a process that copies each
/// connection's bytes to the upstream and back and does nothing else (no
/// HTTP, no JSON, no limits), on a runtime like Reins' (one worker thread
/// per core). Its clients speak the upstream's own API through it. What
/// it costs per token is the kernel's work for one more read and write of
/// each token on loopback, and the runtime's wake-ups: a floor under
/// anything a relay on this machine can print. Reins minus the floor is
/// what Reins itself costs.
///
/// A second floor, [`floor::serve_libraries`], is what Reins' libraries
/// cost before any code of its own.
mod floor {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use axum::body::{Body, Bytes};
    use axum::extract::State;
    use axum::http::{StatusCode, header::CONTENT_TYPE};
    use axum::response::{IntoResponse, Response};
    use tokio::net::TcpStream;

    /// Set when the benchmark's executable is started as the floor: the
    /// upstream's address.
    pub const UPSTREAM_VAR: &str = "RELAY_BENCH_FLOOR_UPSTREAM";

    /// Set when it is started as the libraries' floor: the upstream's address.
    pub const LIBRARIES_UPSTREAM_VAR: &str = "RELAY_BENCH_LIBRARIES_UPSTREAM";

    /// Serves until killed; prints its address as Reins does.
    pub fn serve(upstream: SocketAddr) {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let listener = reins::connections::listen("127.0.0.1:0".parse().unwrap()).unwrap();
            println!("listening on http://{}", listener.local_addr().unwrap());
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                tokio::spawn(async move {
                    // As Reins does, both ways: no token waits for Nagle.
                    client.set_nodelay(true).unwrap();
                    let Ok(mut model) = TcpStream::connect(upstream).await else { return };
                    model.set_nodelay(true).unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut model).await;
                });
            }
        });
    }

    /// What Reins' libraries cost before any code of its own: Reins'
    /// connection loop ([`reins::connections::serve`]: hyper, its limits),
    /// an axum router, and a `reqwest` client built as Reins builds its
    /// own, relaying the upstream's body unread. No SSE, no JSON, no
    /// metrics, no log. Reins minus this is its own code; this minus
    /// [`serve`] is the libraries'.
    pub fn serve_libraries(upstream: SocketAddr) {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let listener = reins::connections::listen("127.0.0.1:0".parse().unwrap()).unwrap();
            println!("listening on http://{}", listener.local_addr().unwrap());
            let forward = Arc::new(Forward {
                client: reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .build()
                    .unwrap(),
                url: format!("http://{upstream}/v1/chat/completions"),
            });
            let router = axum::Router::new()
                .route("/v1/chat/completions", axum::routing::post(relay))
                .with_state(forward);
            let settings = reins::connections::ConnectionSettings {
                max_connections: 100_000,
                max_per_address: 100_000,
                ..Default::default()
            };
            reins::connections::serve(
                listener,
                router,
                std::future::pending(),
                Duration::ZERO,
                settings,
            )
            .await
            .unwrap();
        });
    }

    struct Forward {
        client: reqwest::Client,
        url: String,
    }

    /// The request's body to the upstream, and its reply's body back as it
    /// comes; dropped with the client's connection, as Reins' is.
    async fn relay(State(forward): State<Arc<Forward>>, body: Bytes) -> Response {
        let sent = forward.client.post(&forward.url).header(CONTENT_TYPE, "application/json");
        match sent.body(body).send().await {
            Ok(reply) => {
                ([(CONTENT_TYPE, "text/event-stream")], Body::from_stream(reply.bytes_stream()))
                    .into_response()
            }
            Err(_) => StatusCode::BAD_GATEWAY.into_response(),
        }
    }
}

/// What a process has used so far, from `/proc`.
#[derive(Clone, Copy)]
struct Usage {
    user: Duration,
    system: Duration,
    /// Context switches of all its threads, voluntary or not.
    switches: u64,
}

impl Usage {
    fn of(pid: u32) -> Self {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc is readable");
        // Fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        // Linux reports in clock ticks of 1/100 s (USER_HZ) on every common platform.
        let ticks =
            |field: usize| Duration::from_millis(fields[field].parse::<u64>().unwrap() * 10);
        let mut switches = 0;
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc is readable") {
            let status =
                std::fs::read_to_string(task.unwrap().path().join("status")).unwrap_or_default();
            switches += status
                .lines()
                .filter(|line| line.contains("ctxt_switches:"))
                .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
        Self { user: ticks(11), system: ticks(12), switches }
    }

    /// What was used since `earlier`, per one of `count` things, as
    /// "user + system µs, switches".
    fn per(self, earlier: Self, count: usize) -> String {
        let micros = |d: Duration| d.as_secs_f64() * 1e6 / count as f64;
        let (user, system) =
            (micros(self.user - earlier.user), micros(self.system - earlier.system));
        format!(
            "{:5.1} µs ({user:4.1} user + {system:4.1} system), {:.2} context switches",
            user + system,
            (self.switches - earlier.switches) as f64 / count as f64
        )
    }
}

// ---------------------------------------------------------------------------
// Figures.
// ---------------------------------------------------------------------------

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

struct Summary {
    first_token_median_us: f64,
    delay_median_us: f64,
    delay_p99_us: f64,
}

/// Runs `streams` streams at once and, while they all run, [`PROBES`]
/// requests one after another whose time to first token is measured.
async fn deliver(target: Target, streams: usize, next_id: &mut u64) -> Summary {
    let mut tasks = Vec::with_capacity(streams);
    for index in 0..streams {
        *next_id += 1;
        // People do not press Send in lockstep: the streams start spread
        // over one token interval, so their tokens are too.
        let start_after = TOKEN_INTERVAL * index as u32 / streams as u32;
        tasks.push(tokio::spawn(stream_one(target, *next_id, TOKENS, start_after)));
    }
    // Probe once every stream is running.
    tokio::time::sleep(TOKEN_INTERVAL * 2).await;
    let mut first_tokens = Vec::with_capacity(PROBES);
    for _ in 0..PROBES {
        *next_id += 1;
        let probe = stream_one(target, *next_id, 1, Duration::ZERO).await;
        first_tokens.push(probe.first_token.as_secs_f64() * 1e6);
    }
    let mut delays = Vec::new();
    for task in tasks {
        delays.extend(task.await.unwrap().delays_us);
    }
    let first_tokens = sorted(first_tokens);
    let delays = sorted(delays);
    Summary {
        first_token_median_us: percentile(&first_tokens, 0.5),
        delay_median_us: percentile(&delays, 0.5),
        delay_p99_us: percentile(&delays, 0.99),
    }
}

#[derive(Clone, Copy)]
enum CloseCase {
    MidStream,
    Thinking,
    BeforeHeaders,
}

/// How a client goes away, and when.
#[derive(Clone, Copy)]
struct Leaving {
    case: CloseCase,
    /// Mid-stream: after this many tokens, written this far apart.
    marks: usize,
    interval: Duration,
    /// Resets the connection (RST) instead of closing it (FIN).
    reset: bool,
}

/// One client going away as `leaving` says: the time from its close to the
/// upstream's, in µs.
async fn one_close(relay: SocketAddr, sightings: &Sightings, id: u64, leaving: Leaving) -> f64 {
    let Leaving { case, marks, interval, reset } = leaving;
    let mode = match case {
        CloseCase::MidStream => Mode::Stream { tokens: 1000, interval },
        CloseCase::Thinking => Mode::Think,
        CloseCase::BeforeHeaders => Mode::NoHead,
    };
    let mut socket = Target::Relay(relay).open(&mode.prompt(id)).await;
    match case {
        CloseCase::MidStream => {
            let mut scanner = MarkScanner::default();
            let mut seen = 0;
            let mut buffer = [0u8; 4096];
            while seen < marks {
                let read = socket.read(&mut buffer).await.unwrap();
                assert!(read > 0, "stream {id} ended early");
                scanner.feed(&buffer[..read], |_| seen += 1);
            }
        }
        CloseCase::Thinking => read_until(&mut socket, b"start-step").await,
        CloseCase::BeforeHeaders => {
            read_until(&mut socket, b"\"start\"").await;
            sightings.wait_for(|s| &s.requests, id).await;
        }
    }
    if reset {
        // A zero linger makes the close send RST.
        socket.set_zero_linger().unwrap();
    }
    // Stamped before the close: on loopback, the relay can see it and
    // close its own upstream connection before `drop` has even returned.
    let client_closed = Instant::now();
    drop(socket);
    let upstream_closed = sightings.wait_for(|s| &s.closes, id).await;
    (upstream_closed - client_closed).as_secs_f64() * 1e6
}

async fn close_to_close(
    relay: SocketAddr,
    sightings: &Sightings,
    case: CloseCase,
    next_id: &mut u64,
) -> Vec<f64> {
    let mut lags = Vec::with_capacity(CLOSES);
    for _ in 0..CLOSES {
        *next_id += 1;
        let leaving = Leaving { case, marks: 3, interval: Duration::from_millis(2), reset: false };
        lags.push(one_close(relay, sightings, *next_id, leaving).await);
    }
    sorted(lags)
}

/// [`CHURN_CLOSES`] clients going away at [`CHURN_STREAMS`] at once, each
/// at a point picked at random (before headers, while the model thinks,
/// after 1 to 5 tokens at 20 tokens/s) and by FIN or RST: close to upstream
/// close, in µs. Each of the streams' slots starts its next stream as its
/// last one ends or, given a `period`, once every `period` (the slots spread
/// over it).
async fn churn(
    relay: SocketAddr,
    sightings: &Sightings,
    next_id: &mut u64,
    period: Option<Duration>,
) -> Vec<f64> {
    let first_id = *next_id + 1;
    *next_id += CHURN_CLOSES as u64;
    let began = tokio::time::Instant::now();
    let slots = (0..CHURN_STREAMS).map(|slot| async move {
        // xorshift: the same "random" churn on every run.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ (slot as u64 + 1);
        let mut random = move |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let mut lags = Vec::new();
        let mut index = slot;
        // When this slot starts its next stream, and how often.
        let mut pace =
            period.map(|period| (began + period * slot as u32 / CHURN_STREAMS as u32, period));
        while index < CHURN_CLOSES {
            if let Some((start, period)) = pace.as_mut() {
                tokio::time::sleep_until(*start).await;
                *start += *period;
            }
            let case = [CloseCase::BeforeHeaders, CloseCase::Thinking, CloseCase::MidStream]
                [random(3) as usize];
            let marks = 1 + random(5) as usize;
            let reset = random(2) == 1;
            let leaving = Leaving { case, marks, interval: TOKEN_INTERVAL, reset };
            lags.push(one_close(relay, sightings, first_id + index as u64, leaving).await);
            index += CHURN_STREAMS;
        }
        lags
    });
    sorted(futures::future::join_all(slots).await.concat())
}

/// The churn of [`churn`] at [`CHURN_PACE`] closes a second, while
/// [`CHURN_STREAMS`] other streams stream at one token a second: close to
/// upstream close, in µs. As fast as it can go, the churn keeps the relay's
/// core busy, and a close waits behind the queue of work any saturated
/// server has; paced, a close waits only for the relay's own path.
async fn churn_paced(relay: SocketAddr, sightings: &Sightings, next_id: &mut u64) -> Vec<f64> {
    let period = Duration::from_secs_f64(CHURN_STREAMS as f64 / CHURN_PACE as f64);
    let lasting = Duration::from_secs_f64(CHURN_CLOSES as f64 / CHURN_PACE as f64);
    let mut open = Vec::with_capacity(CHURN_STREAMS);
    for index in 0..CHURN_STREAMS {
        *next_id += 1;
        let id = *next_id;
        let start_after = Duration::from_secs(1) * index as u32 / CHURN_STREAMS as u32;
        // Open from before the first close until after the last.
        let tokens = lasting.as_secs() as usize + 4;
        open.push(tokio::spawn(async move {
            stream_paced(Target::Relay(relay), id, tokens, Duration::from_secs(1), start_after)
                .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let lags = churn(relay, sightings, next_id, Some(period)).await;
    for stream in open {
        stream.await.unwrap();
    }
    lags
}

/// Opens `count` streams of `mode` to `target` and waits until each has
/// been answered as far as `until`; returns the open sockets.
async fn hold_open(
    target: Target,
    mode: Mode,
    count: usize,
    until: &'static [u8],
    next_id: &mut u64,
) -> Vec<TcpStream> {
    let mut opening = Vec::with_capacity(count);
    for _ in 0..count {
        *next_id += 1;
        let prompt = mode.prompt(*next_id);
        opening.push(tokio::spawn(async move {
            let mut socket = target.open(&prompt).await;
            read_until(&mut socket, until).await;
            socket
        }));
    }
    let mut open = Vec::with_capacity(count);
    for task in opening {
        open.push(task.await.unwrap());
    }
    open
}

/// `streams` streams at one token a second, all open at once: each token's
/// delay, in µs, sorted.
async fn many_at_once(target: Target, streams: usize, next_id: &mut u64) -> Vec<f64> {
    let mut tasks = Vec::with_capacity(streams);
    for index in 0..streams {
        *next_id += 1;
        // Spread over one interval, as people press Send.
        let start_after = Duration::from_secs(1) * index as u32 / streams as u32;
        let id = *next_id;
        tasks.push(tokio::spawn(async move {
            stream_paced(target, id, MANY_TOKENS, Duration::from_secs(1), start_after).await
        }));
    }
    let mut delays = Vec::with_capacity(streams * MANY_TOKENS);
    for task in tasks {
        delays.extend(task.await.unwrap().delays_us);
    }
    sorted(delays)
}

/// `streams` streams started at the same moment: each one's time to its
/// first token, in µs, sorted.
async fn burst(target: Target, streams: usize, next_id: &mut u64) -> Vec<f64> {
    let mut tasks = Vec::with_capacity(streams);
    for _ in 0..streams {
        *next_id += 1;
        tasks.push(tokio::spawn(stream_one(target, *next_id, 1, Duration::ZERO)));
    }
    let mut first = Vec::with_capacity(streams);
    for task in tasks {
        first.push(task.await.unwrap().first_token.as_secs_f64() * 1e6);
    }
    sorted(first)
}

/// Resident memory per stream of `sockets`, from `before`, in KiB.
fn kib_each(before: u64, after: u64, streams: usize) -> f64 {
    after.saturating_sub(before) as f64 / streams as f64
}

/// A relay of its own, its paths warmed by a few streams.
async fn fresh_relay(upstream: SocketAddr, next_id: &mut u64) -> Relay {
    let relay = Relay::start(upstream).await;
    deliver(Target::Relay(relay.addr), 10, next_id).await;
    relay
}

/// Handshakes this machine's listeners have dropped because their queue
/// was full, so far (`ListenOverflows` in `/proc/net/netstat`); a dropped
/// SYN costs its client a second, until it is sent again.
fn listen_overflows() -> u64 {
    let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut tcp_ext = netstat.lines().filter(|line| line.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (tcp_ext.next(), tcp_ext.next()) else { return 0 };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "ListenOverflows")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    if let Ok(upstream) = std::env::var(floor::UPSTREAM_VAR) {
        return floor::serve(upstream.parse().expect("an address"));
    }
    if let Ok(upstream) = std::env::var(floor::LIBRARIES_UPSTREAM_VAR) {
        return floor::serve_libraries(upstream.parse().expect("an address"));
    }
    // One thread for the upstream and the clients, so they take as little
    // as possible of the two cores away from the relay being measured.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    origin();
    let wanted = Sections::from_args();
    let (upstream, sightings) = start_upstream().await;
    let relay = Relay::start(upstream).await;
    let mut next_id = 0u64;

    println!("Reins relay benchmark: relay minus direct, same upstream on loopback");
    println!(
        "({TOKENS} tokens per stream at 20 tokens/s, streams started over one token interval; {} cores; load average before: {})\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
    );

    if let Some(binary) = std::env::var_os("RELAY_BENCH_BINARY") {
        println!("measuring {} (RELAY_BENCH_BINARY)\n", binary.to_string_lossy());
    }
    let floor = Relay::floor(upstream).await;
    let libraries = Relay::libraries(upstream).await;
    let paths = [
        Path {
            name: "floor",
            what: "floor, a process that only copies bytes",
            target: Target::Direct(floor.addr),
            process: &floor,
        },
        Path {
            name: "libs",
            what: "Reins' libraries relaying bytes unread",
            target: Target::Direct(libraries.addr),
            process: &libraries,
        },
        Path { name: "relay", what: "relay", target: Target::Relay(relay.addr), process: &relay },
    ];
    // Warm every path: connections, allocator, page cache.
    for path in &paths {
        deliver(path.target, 10, &mut next_id).await;
    }
    deliver(Target::Direct(upstream), 10, &mut next_id).await;

    if wanted.has("delivery") {
        delivery(upstream, &paths, &mut next_id).await;
    }
    if wanted.has("burst") {
        bursts(upstream, &paths, &mut next_id).await;
    }
    drop((floor, libraries));
    if wanted.has("close") {
        closes(&relay, &sightings, &mut next_id).await;
    }
    if wanted.has("churn") {
        churned(&relay, &sightings, &mut next_id).await;
    }
    drop(relay);
    if wanted.has("many") {
        many(upstream, &mut next_id).await;
    }
    println!("\nload average after: {}", load_average());
}

/// Which sections to run: those named on the command line, or all.
struct Sections(Vec<String>);

impl Sections {
    const NAMES: [&str; 5] = ["delivery", "burst", "close", "churn", "many"];

    /// The sections named; exits on a name that is none of [`Self::NAMES`],
    /// which would otherwise run nothing without a word.
    fn from_args() -> Self {
        // `cargo bench` adds `--bench`.
        let named: Vec<String> =
            std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
        if let Some(unknown) = named.iter().find(|name| !Self::NAMES.contains(&name.as_str())) {
            eprintln!("No section {unknown:?}; the sections are {}.", Self::NAMES.join(", "));
            std::process::exit(2);
        }
        Self(named)
    }

    fn has(&self, section: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|wanted| wanted == section)
    }
}

/// A way the clients' streams go other than direct: through one of the
/// floors (see [`floor`]), or through Reins.
struct Path<'a> {
    /// As the figures' lines name it.
    name: &'static str,
    /// What it is, for the CPU's lines.
    what: &'static str,
    target: Target,
    process: &'a Relay,
}

/// Delivery at each of [`CONCURRENCY`], then the CPU per token each cost:
/// direct, then along each of `paths`.
async fn delivery(upstream: SocketAddr, paths: &[Path<'_>], next_id: &mut u64) {
    let this = std::process::id();
    println!(
        "streams         first token overhead (median)  delivery overhead median / p99   (direct median / p99)"
    );
    println!("                ({PROBES} requests made while the streams run)");
    let mut cpu = Vec::new();
    for streams in CONCURRENCY {
        let chunks = streams * TOKENS + PROBES;
        let before = Usage::of(this);
        let direct = deliver(Target::Direct(upstream), streams, next_id).await;
        let own = Usage::of(this).per(before, chunks);
        let mut each = Vec::with_capacity(paths.len());
        for path in paths {
            let before = path.process.usage();
            let through = deliver(path.target, streams, next_id).await;
            each.push((through, path.process.usage().per(before, chunks)));
        }
        // Reins first, as the figure the issue names.
        for (index, (path, (through, _))) in paths.iter().zip(&each).enumerate().rev() {
            let streams =
                if index == paths.len() - 1 { streams.to_string() } else { String::new() };
            println!(
                "{streams:>7}  {:<5}  {:>25.3} ms  {:>12.3} ms / {:>8.3} ms   ({:.3} ms / {:.3} ms)",
                path.name,
                (through.first_token_median_us - direct.first_token_median_us) / 1000.0,
                (through.delay_median_us - direct.delay_median_us) / 1000.0,
                (through.delay_p99_us - direct.delay_p99_us) / 1000.0,
                direct.delay_median_us / 1000.0,
                direct.delay_p99_us / 1000.0,
            );
        }
        cpu.push((streams, each.into_iter().map(|(_, cpu)| cpu).collect::<Vec<_>>(), own));
    }

    println!("\nCPU per relayed token (process CPU time / tokens), and context switches per token");
    for (streams, each, own) in cpu.into_iter().skip(1) {
        for (index, (path, cpu)) in paths.iter().zip(each).enumerate().rev() {
            let streams =
                if index == paths.len() - 1 { format!("{streams} streams") } else { String::new() };
            println!("{streams:>15}  {}: {cpu}", path.what);
        }
        println!("{:>15}  direct, upstream and clients together (one thread): {own}", "");
    }
}

/// [`BURST`] streams started at the same moment, [`BURST_ROUNDS`] times:
/// direct, then along each of `paths`, in turn in each round.
async fn bursts(upstream: SocketAddr, paths: &[Path<'_>], next_id: &mut u64) {
    println!(
        "\n{BURST} streams started at the same moment, {BURST_ROUNDS} rounds: time to first token"
    );
    // Unmeasured: a process's first burst grows its memory for 500 streams
    // at once (the benchmark's own too), which made each first burst
    // measured 30-100 ms slower when `burst` ran alone. A server that has
    // run a while has grown it.
    burst(Target::Direct(upstream), BURST, next_id).await;
    for path in paths {
        burst(path.target, BURST, next_id).await;
    }
    let overflows = listen_overflows();
    let before: Vec<Usage> = paths.iter().map(|path| path.process.usage()).collect();
    let mut rounds = Vec::with_capacity(BURST_ROUNDS);
    for _ in 0..BURST_ROUNDS {
        let direct = burst(Target::Direct(upstream), BURST, next_id).await;
        let mut each = Vec::with_capacity(paths.len());
        for path in paths {
            each.push(BurstRound::figures(&burst(path.target, BURST, next_id).await));
        }
        rounds.push(BurstRound { direct: BurstRound::figures(&direct), paths: each });
    }
    // The processes are idle between the bursts, so their CPU over all the
    // rounds is their bursts' alone: a round's own is a few clock ticks of
    // 10 ms, too coarse to compare builds by.
    let streams = BURST * BURST_ROUNDS;
    let cpu: Vec<String> = paths
        .iter()
        .zip(before)
        .map(|(path, before)| path.process.usage().per(before, streams))
        .collect();
    let overflows = listen_overflows() - overflows;
    let figure = |of: &dyn Fn(&BurstRound) -> f64| {
        let values = sorted(rounds.iter().map(of).collect());
        format!(
            "{:7.3} ms ({:.3}-{:.3})",
            percentile(&values, 0.5) / 1000.0,
            values[0] / 1000.0,
            values[values.len() - 1] / 1000.0
        )
    };
    println!("median over the rounds (their range) of each round's figure:");
    println!("direct median {}, p99 {}", figure(&|r| r.direct.0), figure(&|r| r.direct.1));
    for (index, path) in paths.iter().enumerate().rev() {
        println!(
            "{:<6} median {}, p99 {}",
            path.name,
            figure(&|r| r.paths[index].0),
            figure(&|r| r.paths[index].1)
        );
    }
    println!("overhead median (above direct):");
    for (index, path) in paths.iter().enumerate().rev() {
        println!("{:<6} {}", path.name, figure(&|r| r.paths[index].0 - r.direct.0));
    }
    println!("CPU per stream (start to end, over {streams}):");
    for (path, cpu) in paths.iter().zip(&cpu).rev() {
        println!("  {}: {cpu}", path.what);
    }
    println!("handshakes dropped by a full listen queue in these bursts: {overflows}");
}

/// One round of [`bursts`]: the median and p99 first token, in µs, direct
/// and along each path.
struct BurstRound {
    direct: (f64, f64),
    paths: Vec<(f64, f64)>,
}

impl BurstRound {
    fn figures(sorted: &[f64]) -> (f64, f64) {
        (percentile(sorted, 0.5), percentile(sorted, 0.99))
    }
}

/// Client close to upstream close, one at a time, for each case.
async fn closes(relay: &Relay, sightings: &Sightings, next_id: &mut u64) {
    println!("\nclient close -> upstream close, through the relay ({CLOSES} each)");
    println!("case               median        p99        max");
    for (name, case) in [
        ("mid-stream", CloseCase::MidStream),
        ("model thinking", CloseCase::Thinking),
        ("before headers", CloseCase::BeforeHeaders),
    ] {
        let lags = close_to_close(relay.addr, sightings, case, next_id).await;
        println!(
            "{name:<15} {:>7.3} ms {:>7.3} ms {:>7.3} ms",
            percentile(&lags, 0.5) / 1000.0,
            percentile(&lags, 0.99) / 1000.0,
            lags.last().unwrap() / 1000.0,
        );
    }
}

/// [`CHURN_CLOSES`] random closes at [`CHURN_STREAMS`] streams at once.
async fn churned(relay: &Relay, sightings: &Sightings, next_id: &mut u64) {
    let this = std::process::id();
    let (started, own, relayed) = (Instant::now(), Usage::of(this), relay.usage());
    let lags = churn(relay.addr, sightings, next_id, None).await;
    let took = started.elapsed();
    let busy = |now: Usage, then: Usage, took: Duration| {
        (now.user + now.system - then.user - then.system).as_secs_f64() / took.as_secs_f64()
    };
    println!(
        "churn: {CHURN_CLOSES} random closes (FIN or RST; before headers, thinking, mid-stream) at {CHURN_STREAMS} streams at once: median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        percentile(&lags, 0.5) / 1000.0,
        percentile(&lags, 0.99) / 1000.0,
        lags.last().unwrap() / 1000.0,
    );
    println!(
        "       ({:.0} closes a second; cores busy: relay {:.2}, upstream and clients {:.2})",
        CHURN_CLOSES as f64 / took.as_secs_f64(),
        busy(relay.usage(), relayed, took),
        busy(Usage::of(this), own, took),
    );
    let (started, own, relayed) = (Instant::now(), Usage::of(this), relay.usage());
    let lags = churn_paced(relay.addr, sightings, next_id).await;
    let took = started.elapsed();
    println!(
        "paced: the same closes at {CHURN_PACE} a second, while {CHURN_STREAMS} other streams stream at one token a second: median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        percentile(&lags, 0.5) / 1000.0,
        percentile(&lags, 0.99) / 1000.0,
        lags.last().unwrap() / 1000.0,
    );
    println!(
        "       (cores busy: relay {:.2}, upstream and clients {:.2})",
        busy(relay.usage(), relayed, took),
        busy(Usage::of(this), own, took),
    );
}

/// Many streams at once: memory while the model thinks, then delivery and
/// memory at one token a second.
async fn many(upstream: SocketAddr, next_id: &mut u64) {
    println!(
        "\n{MANY} streams open at once (each on a relay of its own: freed memory stays in a process)"
    );
    let relay = fresh_relay(upstream, next_id).await;
    let idle = relay.rss_kib();
    let thinking =
        hold_open(Target::Relay(relay.addr), Mode::Think, MANY, b"start-step", next_id).await;
    let loaded = relay.rss_kib();
    println!(
        "model thinking: {:.1} KiB of relay memory each (RSS {idle} KiB idle, {loaded} KiB with them)",
        kib_each(idle, loaded, thinking.len()),
    );
    drop(thinking);
    drop(relay);
    let relay = fresh_relay(upstream, next_id).await;
    let direct = many_at_once(Target::Direct(upstream), MANY, next_id).await;
    let idle = relay.rss_kib();
    // Memory once every stream has started and before any ends.
    let (relayed, loaded) =
        tokio::join!(many_at_once(Target::Relay(relay.addr), MANY, next_id), async {
            tokio::time::sleep(Duration::from_millis(2_500)).await;
            relay.rss_kib()
        },);
    println!(
        "one token a second: delivery overhead median {:.3} ms, p99 {:.3} ms (direct {:.3} / {:.3} ms); {:.1} KiB of relay memory each (RSS {idle} KiB before, {loaded} KiB with them)",
        (percentile(&relayed, 0.5) - percentile(&direct, 0.5)) / 1000.0,
        (percentile(&relayed, 0.99) - percentile(&direct, 0.99)) / 1000.0,
        percentile(&direct, 0.5) / 1000.0,
        percentile(&direct, 0.99) / 1000.0,
        kib_each(idle, loaded, MANY),
    );
}
