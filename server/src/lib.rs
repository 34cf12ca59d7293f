//! The Reins server: hosts the chat page and relays replies from an upstream
//! model API as a Vercel AI SDK UI message stream, dropping the upstream
//! request the moment the client disconnects.
//!
//! The binary in `main.rs` only reads the configuration and calls [`run`];
//! everything else is here so that tests can build the real router with
//! [`app`] and serve it with [`serve`].

pub mod assets;
pub mod config;
pub mod cors;
pub mod demo;
pub mod error;
pub mod metrics;
pub mod relay;
mod routes;
pub mod state;
pub mod streams;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use config::Config;
use metrics::Metrics;
use relay::{Upstream, UpstreamSettings};
pub use routes::app;
use state::AppState;
use streams::Streams;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("--model (REINS_MODEL) is required with --upstream-url (REINS_UPSTREAM_URL)")]
    MissingModel,
    #[error("could not start the demo model: {0}")]
    Demo(std::io::Error),
    #[error("could not listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// Builds the shared state from the configuration, starting the demo model
/// when no upstream is configured.
pub async fn state_from_config(config: &Config) -> Result<AppState, StartupError> {
    let (settings, demo) = match &config.upstream_url {
        Some(url) => {
            let model = config.model.clone().ok_or(StartupError::MissingModel)?;
            tracing::info!(%url, model, kind = ?config.upstream_kind, "relaying to an upstream model API");
            let settings = UpstreamSettings {
                kind: config.upstream_kind,
                base_url: url.clone(),
                api_key: config.api_key.clone(),
                model,
                system_prompt: config.system_prompt.clone(),
                anthropic_version: config.anthropic_version.clone(),
                timeouts: config.timeouts,
            };
            (settings, None)
        }
        None => {
            let demo = demo::spawn(config.demo.clone()).await.map_err(StartupError::Demo)?;
            tracing::info!("no upstream configured: the built-in demo model answers");
            let settings = UpstreamSettings {
                system_prompt: config.system_prompt.clone(),
                timeouts: config.timeouts,
                ..UpstreamSettings::openai(demo.base_url, demo::MODEL_NAME)
            };
            (settings, Some(demo.generations))
        }
    };
    Ok(AppState {
        leptos_options: leptos_options(config),
        upstream: Arc::new(Upstream::new(settings)),
        demo,
        streams: Streams::new(&config.limits),
        metrics: Metrics::default(),
        limits: config.limits,
        max_tokens: config.max_tokens,
        allowed_origins: cors::AllowedOrigins::new(config.allowed_origins.clone()),
    })
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
pub async fn run(config: Config) -> Result<(), StartupError> {
    let state = state_from_config(&config).await?;
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| StartupError::Listen { addr: config.addr, source })?;
    let addr = listener.local_addr().map_err(StartupError::Serve)?;
    tracing::info!("listening on http://{addr}");
    let deadline = Duration::from_secs(config.shutdown_timeout_secs);
    let streams = state.streams.clone();
    let shutdown = async move {
        shutdown_signal().await;
        streams.shut_down();
    };
    serve(listener, app(state), shutdown, deadline).await.map_err(StartupError::Serve)
}

/// Serves `router` on `listener` until `shutdown` completes, then waits at
/// most `deadline` for open connections before returning.
///
/// `shutdown` should also end the open streams (see
/// [`Streams::shut_down`]): a stream left open would hold its connection
/// until the deadline.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    deadline: Duration,
) -> std::io::Result<()> {
    // axum leaves Nagle's algorithm on; a token per packet is the point here.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
    });
    let (signalled, mut on_signal) = tokio::sync::watch::channel(false);
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let graceful = axum::serve(listener, service).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, open streams ending");
        let _ = signalled.send(true);
    });
    let give_up = async move {
        let _ = on_signal.wait_for(|signalled| *signalled).await;
        tokio::time::sleep(deadline).await;
        tracing::warn!(?deadline, "connections still open after the shutdown deadline; exiting");
    };
    tokio::select! {
        served = graceful => served,
        () = give_up => Ok(()),
    }
}

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
