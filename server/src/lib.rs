//! The Reins server: hosts the chat page and relays replies from an upstream
//! model API as a Vercel AI SDK UI message stream, dropping the upstream
//! request the moment the client disconnects.
//!
//! The binary in `main.rs` only reads the configuration and calls [`run`];
//! everything else is here so that tests can build the real router with
//! [`app`] and serve it with [`serve`].

pub mod config;
pub mod demo;
pub mod error;
pub mod relay;
mod routes;
pub mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use config::Config;
use relay::Upstream;
pub use routes::app;
use state::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("--model (REINS_MODEL) is required with --upstream-url (REINS_UPSTREAM_URL)")]
    MissingModel,
    #[error("could not start the demo model: {0}")]
    Demo(std::io::Error),
    #[error("could not listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// Builds the shared state from the configuration, starting the demo model
/// when no upstream is configured.
pub async fn state_from_config(config: &Config) -> Result<AppState, StartupError> {
    let (upstream, demo) = match &config.upstream_url {
        Some(url) => {
            let model = config.model.clone().ok_or(StartupError::MissingModel)?;
            tracing::info!(%url, model, "relaying to an upstream model API");
            (Upstream::new(url, config.api_key.clone(), model), None)
        }
        None => {
            let demo = demo::spawn(config.demo.clone())
                .await
                .map_err(StartupError::Demo)?;
            tracing::info!("no upstream configured: the built-in demo model answers");
            let upstream = Upstream::new(&demo.base_url, None, demo::MODEL_NAME.into());
            (upstream, Some(demo.generations))
        }
    };
    Ok(AppState {
        leptos_options: leptos_options(config),
        upstream: Arc::new(upstream),
        demo,
    })
}

/// The settings Leptos needs to render the page and find the built assets.
pub fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("reins")
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .build()
}

/// Reads the configuration's address, serves until a shutdown signal, then
/// gives open streams the configured time to end.
pub async fn run(config: Config) -> Result<(), StartupError> {
    let state = state_from_config(&config).await?;
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| StartupError::Listen {
            addr: config.addr,
            source,
        })?;
    tracing::info!("listening on http://{}", config.addr);
    let deadline = Duration::from_secs(config.shutdown_timeout_secs);
    serve(listener, app(state), shutdown_signal(), deadline)
        .await
        .map_err(StartupError::Serve)
}

/// Serves `router` on `listener` until `shutdown` completes, then waits at
/// most `deadline` for open connections before returning.
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
    let graceful = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections");
        let _ = signalled.send(true);
    });
    let give_up = async move {
        let _ = on_signal.wait_for(|signalled| *signalled).await;
        tokio::time::sleep(deadline).await;
        tracing::warn!(
            ?deadline,
            "connections still open after the shutdown deadline; exiting"
        );
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
