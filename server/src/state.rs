//! The state shared by every request handler.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::auth::Auth;
use crate::config::{ClientSystemMessages, Limits};
use crate::demo::Generations;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::relay::Upstream;
use crate::resume::Replays;
use crate::streams::Streams;
use crate::trust::Trust;

/// Everything a handler may need, behind one `Arc`: every `State`
/// extractor takes a clone of it, several times per request. Cloned field by
/// field it was some thirty reference counts shared by both cores, 2.3% of
/// the relay's CPU while streams come and go (`perf`, the relay benchmark's
/// churn, 2026-12-02).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What Leptos reads from the state to render the page.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The fields of [`AppState`].
pub struct Shared {
    /// Where the built site lives and how to render the page.
    pub leptos_options: LeptosOptions,
    /// The model API replies are relayed from.
    pub upstream: Arc<Upstream>,
    /// The demo model's record of generations, when the demo model is running.
    pub demo: Option<Generations>,
    /// The open streams.
    pub streams: Streams,
    /// What is known of every reply, shared by replicas with Redis.
    pub registry: Registry,
    /// Replies kept for resuming, when the resume window is on.
    pub replays: Replays,
    pub metrics: Metrics,
    /// What one request may contain.
    pub limits: Limits,
    /// The most tokens one reply may use.
    pub max_tokens: u32,
    /// Which origins and proxies are trusted.
    pub trust: Arc<Trust>,
    /// Who may chat.
    pub auth: Auth,
    /// Whether clients may send system messages.
    pub client_system_messages: ClientSystemMessages,
    /// How long a request body may take to arrive.
    pub body_read_timeout: Duration,
    /// Whether `/metrics` is served on an address of its own, and so not on
    /// the public one.
    pub metrics_apart: bool,
}
