//! Command-line and environment configuration.
//!
//! Every option can be given as a flag or through its `REINS_*` variable, so
//! the same binary runs from a terminal, a container or a test harness.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};
use reqwest::Url;
use secrecy::SecretString;

/// Hosts the Reins chat and relays replies from an OpenAI-compatible model
/// API, dropping the upstream request the moment a client disconnects.
///
/// Without --upstream-url, a built-in demo model answers (no key needed).
#[derive(Clone, Debug, Parser)]
#[command(name = "reins", version)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "REINS_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// A second address that serves only `/metrics` and `/healthz`, under any
    /// host name, for a scraper inside your network (bind it to a private
    /// interface). The public address then no longer serves `/metrics`.
    #[arg(long, env = "REINS_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Base URL of an OpenAI-compatible API, such as http://127.0.0.1:11434/v1
    /// (Ollama) or https://api.openai.com/v1. Reins posts to
    /// `<url>/chat/completions`. When unset, the built-in demo model answers.
    #[arg(long, env = "REINS_UPSTREAM_URL")]
    pub upstream_url: Option<Url>,

    /// API key sent upstream as a bearer token. It never reaches the browser
    /// or the log. Prefer --api-key-file: a key given here shows in the
    /// process list.
    #[arg(long, env = "REINS_API_KEY", hide_env_values = true, value_parser = parse_secret,
          conflicts_with = "api_key_file")]
    pub api_key: Option<SecretString>,

    /// A file holding the API key (surrounding whitespace is ignored), such as
    /// a systemd credential or a mounted secret.
    #[arg(long, env = "REINS_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,

    /// Model name sent upstream. Required with --upstream-url; the demo model
    /// ignores it.
    #[arg(long, env = "REINS_MODEL")]
    pub model: Option<String>,

    /// The API the upstream speaks: OpenAI Chat Completions, or Anthropic
    /// Messages (then Reins posts to `<url>/messages`).
    #[arg(long, env = "REINS_UPSTREAM_KIND", value_enum, default_value_t = UpstreamKind::Openai)]
    pub upstream_kind: UpstreamKind,

    /// The `anthropic-version` header sent to an Anthropic upstream.
    #[arg(long, env = "REINS_ANTHROPIC_VERSION", default_value = "2023-06-01")]
    pub anthropic_version: String,

    /// The origins the hosted page is served under, comma-separated, like
    /// `https://chat.example.com`. Requests for any other host are refused
    /// (this closes DNS rebinding). Default: the listen address (and
    /// `localhost` when it is a loopback address).
    #[arg(long, env = "REINS_PUBLIC_ORIGIN", value_delimiter = ',')]
    pub public_origin: Vec<String>,

    /// Origins of other sites whose pages may embed the chat and call the API,
    /// comma-separated, like `https://example.com,https://app.example.com`.
    /// `*`, `null` and paths are refused.
    #[arg(long, env = "REINS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Peers whose `Forwarded` / `X-Forwarded-*` headers are believed, as
    /// addresses or networks, comma-separated, like `127.0.0.1,10.0.0.0/8`.
    /// From anyone else those headers are ignored.
    #[arg(long, env = "REINS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    #[command(flatten)]
    pub auth: crate::auth::AuthConfig,

    /// What to do with system messages a client sends: `allow` them after the
    /// operator's system prompt, or `refuse` the request (public deployments:
    /// the operator's prompt cannot be overridden).
    #[arg(long, env = "REINS_CLIENT_SYSTEM_MESSAGES", value_enum, default_value_t = ClientSystemMessages::Allow)]
    pub client_system_messages: ClientSystemMessages,

    /// A system prompt put before every conversation, ahead of any system
    /// messages the client sends.
    #[arg(long, env = "REINS_SYSTEM_PROMPT")]
    pub system_prompt: Option<String>,

    /// Most tokens one reply may use: sent upstream as `max_tokens`, and the
    /// cap on what a client may ask for.
    #[arg(long, env = "REINS_MAX_TOKENS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: u32,

    /// Most bytes one reply may send of its text and reasoning, each delta
    /// counted with the 46 bytes of the part around it. A model API that
    /// sends more (stuck in a loop, or hostile) has the reply cut there,
    /// with an `error` part, and its request dropped: it bounds what a reply
    /// costs the client, and what it holds for resuming, in memory and in
    /// Redis.
    #[arg(long, env = "REINS_MAX_REPLY_BYTES", default_value_t = crate::relay::DEFAULT_MAX_REPLY_BYTES,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_reply_bytes: u64,

    #[command(flatten)]
    pub timeouts: Timeouts,

    #[command(flatten)]
    pub limits: Limits,

    #[command(flatten)]
    pub connections: ConnectionLimits,

    #[command(flatten)]
    pub replicas: Replicas,

    /// Directory of the built site (the wasm, JS and CSS under `pkg/`), as
    /// written by `cargo leptos build`.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Seconds to wait for open streams to end after SIGTERM or Ctrl-C.
    #[arg(long, env = "REINS_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,

    /// The most log lines held for a log reader that has fallen behind;
    /// lines past it are dropped and counted in `/metrics`
    /// (`reins_log_lines_dropped_total`). Two per chat: a burst of 5,000
    /// chats fits in the default. At most 1,048,576: the buffer's slots are
    /// allocated at start-up (about 32 bytes each), and four billion of
    /// them stalled the start on allocating 128 GB.
    #[arg(long, env = "REINS_LOG_BUFFER_LINES", default_value_t = 16_384,
        value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub log_buffer_lines: u32,

    #[command(flatten)]
    pub demo: DemoConfig,
}

/// Which API an upstream speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum UpstreamKind {
    /// OpenAI Chat Completions (OpenAI, Ollama, vLLM, llama.cpp, DeepSeek, ...).
    Openai,
    /// Anthropic Messages.
    Anthropic,
}

/// What happens to system messages sent by a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientSystemMessages {
    /// Relay them after the operator's system prompt.
    Allow,
    /// Refuse a request that carries one, with 422.
    Refuse,
}

/// How long Reins waits on the upstream. Each ends the reply with an `error`
/// part and drops the upstream request.
#[derive(Clone, Copy, Debug, Args)]
pub struct Timeouts {
    /// Most milliseconds to open the connection to the upstream.
    #[arg(long = "connect-timeout-ms", env = "REINS_CONNECT_TIMEOUT_MS", default_value = "10000",
          value_parser = parse_millis)]
    pub connect: Millis,

    /// Most milliseconds from sending the request to the upstream's response head.
    #[arg(long = "first-byte-timeout-ms", env = "REINS_FIRST_BYTE_TIMEOUT_MS", default_value = "60000",
          value_parser = parse_millis)]
    pub first_byte: Millis,

    /// Most milliseconds of silence between two chunks of the upstream's reply
    /// (its keep-alive comments count as chunks).
    #[arg(long = "idle-timeout-ms", env = "REINS_IDLE_TIMEOUT_MS", default_value = "120000",
          value_parser = parse_millis)]
    pub idle: Millis,

    /// Most milliseconds for one whole reply.
    #[arg(long = "total-timeout-ms", env = "REINS_TOTAL_TIMEOUT_MS", default_value = "600000",
          value_parser = parse_millis)]
    pub total: Millis,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Millis(10_000),
            first_byte: Millis(60_000),
            idle: Millis(120_000),
            total: Millis(600_000),
        }
    }
}

/// A positive number of milliseconds, as given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Millis(pub u64);

impl Millis {
    /// As a duration.
    pub fn duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for Millis {
    fn from(millis: u64) -> Self {
        Self(millis)
    }
}

fn parse_millis(text: &str) -> Result<Millis, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(millis) => Ok(Millis(millis)),
        Err(error) => Err(error.to_string()),
    }
}

/// What one request may contain, and how many streams may be open.
#[derive(Clone, Copy, Debug, Args)]
pub struct Limits {
    /// Largest request body, in bytes.
    #[arg(long, env = "REINS_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most messages in one conversation.
    #[arg(long, env = "REINS_MAX_MESSAGES", default_value_t = 500)]
    pub max_messages: usize,

    /// Most characters in one message.
    #[arg(long, env = "REINS_MAX_MESSAGE_CHARS", default_value_t = 100_000)]
    pub max_message_chars: usize,

    /// Most streams open at once, over all clients; more get 503.
    #[arg(long, env = "REINS_MAX_STREAMS", default_value_t = 1000)]
    pub max_streams: usize,

    /// Most streams open at once for one user (or, without auth, one client
    /// address, IPv6 by /64); more get 429.
    #[arg(long, env = "REINS_MAX_STREAMS_PER_CLIENT", default_value_t = 8)]
    pub max_streams_per_client: usize,

    /// Most chat requests one user or client may make in a minute; more get
    /// 429 with `Retry-After`.
    #[arg(long, env = "REINS_MAX_REQUESTS_PER_MINUTE", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_requests_per_minute: u32,

    /// Most output tokens one user or client may be sent in an hour (as the
    /// model API reports them, else one per relayed delta); past it, new
    /// chats get 429 with `Retry-After` until the hour is over. A reply holds
    /// what it may use of it while it streams (and asks the model API for no
    /// more), and gives back the rest when it ends.
    #[arg(long, env = "REINS_MAX_OUTPUT_TOKENS_PER_HOUR", default_value_t = 200_000)]
    pub max_output_tokens_per_hour: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_messages: 500,
            max_message_chars: 100_000,
            max_streams: 1000,
            max_streams_per_client: 8,
            max_requests_per_minute: 60,
            max_output_tokens_per_hour: 200_000,
        }
    }
}

/// What one connection may take, so slow or silent clients cannot hold the
/// server's sockets.
#[derive(Clone, Copy, Debug, Args)]
pub struct ConnectionLimits {
    /// Most connections open at once. Default: what the process's descriptor
    /// limit leaves room for, with one upstream connection per client
    /// connection (see the README's "Deploy").
    #[arg(long, env = "REINS_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Most connections open at once from one address; more are closed at
    /// once. Trusted proxies are not limited.
    #[arg(long, env = "REINS_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 64)]
    pub max_connections_per_address: usize,

    /// Most milliseconds to receive a request's head; a connection that takes
    /// longer (or sits idle that long between requests) is closed.
    #[arg(long = "header-read-timeout-ms", env = "REINS_HEADER_READ_TIMEOUT_MS", default_value = "10000",
          value_parser = parse_millis)]
    pub header_read: Millis,

    /// Most milliseconds to receive a request's body.
    #[arg(long = "body-read-timeout-ms", env = "REINS_BODY_READ_TIMEOUT_MS", default_value = "30000",
          value_parser = parse_millis)]
    pub body_read: Millis,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: None,
            max_connections_per_address: 64,
            header_read: Millis(10_000),
            body_read: Millis(30_000),
        }
    }
}

/// Several replicas behind one load balancer.
#[derive(Args, Clone, Debug)]
pub struct Replicas {
    /// Redis, shared by every replica: a stop sent to any replica reaches
    /// the one holding the stream, and receipts are readable from any. Unset,
    /// replies are registered in this process's memory.
    #[arg(long, env = "REINS_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Put before every Redis key and channel, so deployments can share one.
    #[arg(long, env = "REINS_REDIS_PREFIX", default_value = "reins")]
    pub redis_prefix: String,

    /// How long a reply's receipt is kept after it ends, in seconds.
    #[arg(long, env = "REINS_RECEIPT_TTL_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub receipt_ttl_secs: u64,

    /// With Redis, where every replica counts each client's limits: how
    /// long an open stream keeps its client's slot and tokens after its
    /// replica last renewed them (which it does a third of this apart). A
    /// replica that dies gives them back this long after.
    #[arg(long, env = "REINS_LIMITS_LEASE_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(300..=600_000))]
    pub limits_lease_ms: u64,

    /// How long a reply keeps generating after its client has gone, so a
    /// reload or a dropped connection can resume it, on any replica with
    /// Redis. 0, the default, drops the model's request the moment the
    /// client goes; a tab closed for good costs at most this long of
    /// generation.
    #[arg(long, env = "REINS_RESUME_WINDOW_MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(..=3_600_000))]
    pub resume_window_ms: u64,
}

/// How the built-in demo model writes.
#[derive(Clone, Debug, Args)]
pub struct DemoConfig {
    /// Pace of the demo model, in tokens per second.
    #[arg(id = "demo_tokens_per_second", long = "demo-tokens-per-second", env = "REINS_DEMO_TOKENS_PER_SECOND", default_value_t = 30.0,
          value_parser = parse_positive_rate)]
    pub tokens_per_second: f64,

    /// Most tokens the demo model writes in one reply.
    #[arg(
        id = "demo_max_tokens",
        long = "demo-max-tokens",
        env = "REINS_DEMO_MAX_TOKENS",
        default_value_t = 400
    )]
    pub max_tokens: u32,

    /// How long the demo model "thinks" before its first token, in milliseconds.
    #[arg(
        id = "demo_first_token_delay_ms",
        long = "demo-first-token-delay-ms",
        env = "REINS_DEMO_FIRST_TOKEN_DELAY_MS",
        default_value_t = 300
    )]
    pub first_token_delay_ms: u64,
}

impl DemoConfig {
    /// The time between two tokens.
    pub fn token_interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.tokens_per_second)
    }

    /// The time before the first token.
    pub fn first_token_delay(&self) -> Duration {
        Duration::from_millis(self.first_token_delay_ms)
    }
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self { tokens_per_second: 30.0, max_tokens: 400, first_token_delay_ms: 300 }
    }
}

fn parse_secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text.to_owned()))
}

fn parse_positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 100_000.0 => Ok(rate),
        Ok(_) => Err("must be a number above 0 and at most 100000".into()),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_arguments() {
        let config = Config::try_parse_from(["reins"]).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:3000");
        assert!(config.upstream_url.is_none());
        assert_eq!(config.demo.max_tokens, 400);
        assert_eq!(config.demo.first_token_delay(), Duration::from_millis(300));
        assert_eq!(config.upstream_kind, UpstreamKind::Openai);
        assert_eq!(config.timeouts.idle.duration(), Duration::from_secs(120));
        assert_eq!(config.limits.max_body_bytes, 1 << 20);
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let error = Config::try_parse_from(["reins", "--demo-tokens-per-second", "0"]).unwrap_err();
        assert!(error.to_string().contains("above 0"), "{error}");
        assert!(Config::try_parse_from(["reins", "--upstream-url", "not a url"]).is_err());
        assert!(Config::try_parse_from(["reins", "--addr", "nowhere"]).is_err());
        assert!(Config::try_parse_from(["reins", "--idle-timeout-ms", "0"]).is_err());
        assert!(Config::try_parse_from(["reins", "--log-buffer-lines", "0"]).is_err());
        assert!(Config::try_parse_from(["reins", "--log-buffer-lines", "1048577"]).is_err());
        assert!(Config::try_parse_from(["reins", "--log-buffer-lines", "1048576"]).is_ok());
        assert!(Config::try_parse_from(["reins", "--max-tokens", "0"]).is_err());
        assert!(Config::try_parse_from(["reins", "--upstream-kind", "gemini"]).is_err());
        assert!(
            Config::try_parse_from(["reins", "--api-key", "k", "--api-key-file", "/k"]).is_err()
        );
    }

    #[test]
    fn the_api_key_never_shows_in_debug_output() {
        let config = Config::try_parse_from(["reins", "--api-key", "sk-very-secret"]).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("sk-very-secret"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
    }
}
