//! The Reins server: hosts the chat page and relays replies from an upstream
//! model API as a Vercel AI SDK UI message stream, dropping the upstream
//! request the moment the client disconnects.
//!
//! The binary in `main.rs` only reads the configuration and calls [`run`];
//! everything else is here so that tests can build the real router with
//! [`app`] and serve it with [`serve`].

pub mod assets;
pub mod auth;
pub mod config;
pub mod connections;
pub mod demo;
pub mod error;
pub mod log;
pub mod metrics;
pub mod registry;
pub mod relay;
pub mod resume;
mod routes;
pub mod signal;
pub mod state;
pub mod streams;
pub mod trust;

use std::sync::Arc;
use std::time::Duration;

use leptos::config::LeptosOptions;

use auth::{Auth, AuthConfigError};
use config::Config;
use connections::ConnectionSettings;
pub use connections::serve;
use metrics::Metrics;
use registry::{MemoryRegistry, RedisRegistry, RedisSettings, Registry};
use relay::{Upstream, UpstreamSettings, loggable_url};
use resume::Replays;
pub use routes::app;
use secrecy::SecretString;
use state::{AppState, Shared};
use streams::Streams;
use trust::{Trust, TrustError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("--model (REINS_MODEL) is required with --upstream-url (REINS_UPSTREAM_URL)")]
    MissingModel,
    #[error("could not start the demo model: {0}")]
    Demo(std::io::Error),
    #[error("{0}")]
    Trust(#[from] TrustError),
    #[error("{0}")]
    Auth(#[from] AuthConfigError),
    #[error("could not read REINS_API_KEY_FILE {path}: {source}")]
    ApiKeyFile { path: std::path::PathBuf, source: std::io::Error },
    #[error("the API key holds characters that cannot be sent in a header")]
    ApiKeyNotAHeader,
    #[error("REINS_REDIS_URL is not a Redis URL: {0}")]
    RedisUrl(String),
    #[error(
        "REINS_REDIS_URL asks for TLS (rediss://), which this build does not speak: use redis:// on a private network, or a TLS tunnel"
    )]
    RedisTls,
    #[error("could not listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// Builds the shared state from the configuration, starting the demo model
/// when no upstream is configured.
///
/// `config.addr` must be the address actually listened on: it is the
/// default public origin.
pub async fn state_from_config(config: &Config) -> Result<AppState, StartupError> {
    let trust = Trust::new(
        config.addr,
        &config.public_origin,
        &config.allowed_origins,
        &config.trusted_proxies,
    )?;
    let auth = Auth::from_config(&config.auth).await?;
    let (settings, demo) = match &config.upstream_url {
        Some(url) => {
            let model = config.model.clone().ok_or(StartupError::MissingModel)?;
            tracing::info!(url = loggable_url(url), model, kind = ?config.upstream_kind, "relaying to an upstream model API");
            if matches!(auth, Auth::None) {
                tracing::warn!(
                    "REINS_AUTH=none with a real model API: anyone who can reach this server can spend its API key"
                );
            }
            let settings = UpstreamSettings {
                kind: config.upstream_kind,
                base_url: url.clone(),
                api_key: api_key(config)?,
                model,
                system_prompt: config.system_prompt.clone(),
                anthropic_version: config.anthropic_version.clone(),
                timeouts: config.timeouts,
                max_reply_bytes: config.max_reply_bytes,
            };
            (settings, None)
        }
        None => {
            let demo = demo::spawn(config.demo.clone()).await.map_err(StartupError::Demo)?;
            tracing::info!("no upstream configured: the built-in demo model answers");
            let settings = UpstreamSettings {
                system_prompt: config.system_prompt.clone(),
                timeouts: config.timeouts,
                max_reply_bytes: config.max_reply_bytes,
                ..UpstreamSettings::openai(demo.base_url, demo::MODEL_NAME)
            };
            (settings, Some(demo.generations))
        }
    };
    if config.public_origin.is_empty() && config.addr.ip().is_unspecified() {
        tracing::warn!(
            "listening on every interface without REINS_PUBLIC_ORIGIN: only localhost names are served; set it to the address people use"
        );
    }
    let public: Vec<String> = trust.public_origins().iter().map(ToString::to_string).collect();
    tracing::info!(public_origins = public.join(", "), "serving the page under these origins");
    let metrics = Metrics::default();
    let registry = registry(config, &metrics)?;
    if let Some(generations) = &demo {
        registry.share_demo_generations(generations);
    }
    // With Redis, a client's limits are counted for every replica at once.
    let lease = Duration::from_millis(config.replicas.limits_lease_ms);
    let shared_limits = registry.shared_limits(config.limits, lease);
    let streams = Streams::with_shared_limits(&config.limits, shared_limits.clone());
    if let Some(shared_limits) = shared_limits {
        tokio::spawn(shared_limits.keep_leases(streams.clone()));
    }
    registry.listen_for_stops(streams.clone(), metrics.clone());
    // A reader elsewhere that hears nothing for longer than the model may
    // think or pause is following a replica that is gone.
    let silence_limit = config.timeouts.first_byte.duration().max(config.timeouts.idle.duration())
        + Duration::from_secs(5);
    let replays = Replays::new(
        Duration::from_millis(config.replicas.resume_window_ms),
        silence_limit,
        registry.clone(),
        metrics.clone(),
    );
    Ok(AppState::new(Shared {
        replays,
        leptos_options: leptos_options(config),
        upstream: Arc::new(Upstream::new(settings)),
        demo,
        streams,
        registry,
        metrics,
        limits: config.limits,
        max_tokens: config.max_tokens,
        trust: Arc::new(trust),
        auth,
        client_system_messages: config.client_system_messages,
        body_read_timeout: config.connections.body_read.duration(),
        metrics_apart: config.metrics_addr.is_some(),
    }))
}

/// The registry of replies: in Redis when `REINS_REDIS_URL` is set, shared
/// by every replica; otherwise in this process's memory.
fn registry(config: &Config, metrics: &Metrics) -> Result<Registry, StartupError> {
    let ttl = Duration::from_secs(config.replicas.receipt_ttl_secs);
    let Some(url) = &config.replicas.redis_url else {
        return Ok(Registry::Memory(MemoryRegistry::new(ttl, MEMORY_RECEIPTS)));
    };
    let settings =
        RedisSettings { url: url.clone(), prefix: config.replicas.redis_prefix.clone(), ttl };
    if url.starts_with("rediss:") {
        return Err(StartupError::RedisTls);
    }
    let redis = RedisRegistry::new(&settings, metrics.clone())
        // The URL may hold a password: the error says what is wrong, the
        // URL is not repeated.
        .map_err(|error| StartupError::RedisUrl(format!("{:?}", error.kind())))?;
    tracing::info!(prefix = settings.prefix, "replies are registered in Redis, shared by replicas");
    Ok(Registry::Redis(Box::new(redis)))
}

/// The most receipts one process keeps in memory.
const MEMORY_RECEIPTS: usize = 100_000;

/// The API key, from `--api-key` or read from `--api-key-file`.
fn api_key(config: &Config) -> Result<Option<SecretString>, StartupError> {
    use secrecy::ExposeSecret;
    let key = match (&config.api_key, &config.api_key_file) {
        (Some(key), _) => Some(key.clone()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| StartupError::ApiKeyFile { path: path.clone(), source })?;
            Some(SecretString::from(text.trim().to_owned()))
        }
        (None, None) => None,
    };
    if let Some(key) = &key
        && axum::http::HeaderValue::from_str(key.expose_secret()).is_err()
    {
        return Err(StartupError::ApiKeyNotAHeader);
    }
    Ok(key)
}

/// The settings Leptos needs to render the page and find the built assets.
pub fn leptos_options(config: &Config) -> LeptosOptions {
    let mut options = LeptosOptions::builder()
        .output_name("reins")
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .build();
    options.hash_files = hash_file_beside_binary(&options.hash_file);
    options
}

/// Whether cargo-leptos named the site's files by their content: it then
/// writes their hashes to the hash file beside the server binary, which is
/// where Leptos reads them. A binary built otherwise (`cargo build`, the
/// tests) serves the plain names.
fn hash_file_beside_binary(hash_file: &str) -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(hash_file)))
        .is_some_and(|hashes| hashes.is_file())
}

/// Reads the configuration's address, serves until a shutdown signal, then
/// ends every open stream and exits within the configured deadline.
pub async fn run(mut config: Config) -> Result<(), StartupError> {
    let listener = connections::listen(config.addr)
        .map_err(|source| StartupError::Listen { addr: config.addr, source })?;
    let addr = listener.local_addr().map_err(StartupError::Serve)?;
    config.addr = addr;
    let state = state_from_config(&config).await?;
    let settings = ConnectionSettings::from_config(&config, &state);
    tracing::info!(
        max_connections = settings.max_connections,
        per_address = settings.max_per_address,
        "connection limits"
    );
    if let Some(metrics_addr) = config.metrics_addr {
        serve_metrics(metrics_addr, &state, &settings).await?;
    }
    tracing::info!("listening on http://{addr}");
    let deadline = Duration::from_secs(config.shutdown_timeout_secs);
    let streams = state.streams.clone();
    let shutdown = async move {
        shutdown_signal().await;
        streams.shut_down();
    };
    serve(listener, app(state), shutdown, deadline, settings).await.map_err(StartupError::Serve)
}

/// Serves [`routes::metrics_app`] on `addr` for as long as the process
/// runs (through a shutdown's drain too), each connection held to the
/// public address's timeouts, and few of them: one scraper or two.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    state: &AppState,
    public: &ConnectionSettings,
) -> Result<(), StartupError> {
    let listener =
        connections::listen(addr).map_err(|source| StartupError::Listen { addr, source })?;
    let addr = listener.local_addr().map_err(StartupError::Serve)?;
    let settings = ConnectionSettings {
        max_connections: METRICS_CONNECTIONS,
        max_per_address: METRICS_CONNECTIONS,
        trust: None,
        ..public.clone()
    };
    let app = routes::metrics_app(state.clone());
    tokio::spawn(async move {
        let forever = std::future::pending::<()>();
        if let Err(error) = serve(listener, app, forever, Duration::ZERO, settings).await {
            tracing::error!(%error, "the metrics address stopped serving");
        }
    });
    tracing::info!("metrics on http://{addr}/metrics");
    Ok(())
}

/// How many connections the metrics address holds at once.
const METRICS_CONNECTIONS: usize = 16;

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
