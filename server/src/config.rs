//! Command-line and environment configuration.
//!
//! Every option can be given as a flag or through its `REINS_*` variable, so
//! the same binary runs from a terminal, a container or a test harness.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};
use reqwest::Url;

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

    /// Base URL of an OpenAI-compatible API, such as http://127.0.0.1:11434/v1
    /// (Ollama) or https://api.openai.com/v1. Reins posts to
    /// `<url>/chat/completions`. When unset, the built-in demo model answers.
    #[arg(long, env = "REINS_UPSTREAM_URL")]
    pub upstream_url: Option<Url>,

    /// API key sent upstream as a bearer token. It never reaches the browser.
    #[arg(long, env = "REINS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Model name sent upstream. Required with --upstream-url; the demo model
    /// ignores it.
    #[arg(long, env = "REINS_MODEL")]
    pub model: Option<String>,

    /// Directory of the built site (the wasm, JS and CSS under `pkg/`), as
    /// written by `cargo leptos build`.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Seconds to wait for open streams to end after SIGTERM or Ctrl-C.
    #[arg(long, env = "REINS_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,

    #[command(flatten)]
    pub demo: DemoConfig,
}

/// How the built-in demo model writes.
#[derive(Clone, Debug, Args)]
pub struct DemoConfig {
    /// Pace of the demo model, in tokens per second.
    #[arg(long = "demo-tokens-per-second", env = "REINS_DEMO_TOKENS_PER_SECOND", default_value_t = 30.0,
          value_parser = parse_positive_rate)]
    pub tokens_per_second: f64,

    /// Most tokens the demo model writes in one reply.
    #[arg(
        long = "demo-max-tokens",
        env = "REINS_DEMO_MAX_TOKENS",
        default_value_t = 400
    )]
    pub max_tokens: u32,

    /// How long the demo model "thinks" before its first token, in milliseconds.
    #[arg(
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
        Self {
            tokens_per_second: 30.0,
            max_tokens: 400,
            first_token_delay_ms: 300,
        }
    }
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
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let error = Config::try_parse_from(["reins", "--demo-tokens-per-second", "0"]).unwrap_err();
        assert!(error.to_string().contains("above 0"), "{error}");
        assert!(Config::try_parse_from(["reins", "--upstream-url", "not a url"]).is_err());
        assert!(Config::try_parse_from(["reins", "--addr", "nowhere"]).is_err());
    }
}
