//! The state shared by every request handler.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::config::Limits;
use crate::cors::AllowedOrigins;
use crate::demo::Generations;
use crate::metrics::Metrics;
use crate::relay::Upstream;
use crate::streams::Streams;

/// Everything a handler may need, cloned cheaply into each request.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Where the built site lives and how to render the page.
    pub leptos_options: LeptosOptions,
    /// The model API replies are relayed from.
    pub upstream: Arc<Upstream>,
    /// The demo model's record of generations, when the demo model is running.
    pub demo: Option<Generations>,
    /// The open streams.
    pub streams: Streams,
    pub metrics: Metrics,
    /// What one request may contain.
    pub limits: Limits,
    /// The most tokens one reply may use.
    pub max_tokens: u32,
    /// Other sites that may use the server.
    pub allowed_origins: AllowedOrigins,
}
