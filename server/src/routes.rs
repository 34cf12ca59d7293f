//! The HTTP surface: the chat API, stop, health and metrics, the demo model's
//! record, and the hosted page.

mod chat;
mod demo;
mod health;

use std::path::Path;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;
use axum::routing::{get, post};
use leptos_axum::{LeptosRoutes, generate_route_list};

use app::{App, hosted_shell, shell};

use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{assets, cors};

/// The whole application. Kept apart from `main` so tests run the real router.
pub fn app(state: AppState) -> Router {
    let api = Router::<AppState>::new()
        .route("/chat", post(chat::chat).layer(DefaultBodyLimit::max(state.limits.max_body_bytes)))
        .route("/chat/{message_id}/stop", post(chat::stop))
        .route("/demo/generations", get(demo::generations))
        // Whether the asking page's origin may use this server: 204 if so,
        // else the CORS layer's readable 403. `embed.js` asks first.
        .route("/embed/check", get(async || StatusCode::NO_CONTENT))
        .fallback(async || ApiError::NotFound("There is no such API route.".into()));
    let allowed_origins = state.allowed_origins.clone();
    let page_routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let demo = state.demo.is_some();
    Router::new()
        .nest("/api", api)
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .merge(assets::embed_routes(Path::new(&*state.leptos_options.site_root)))
        .merge(assets::page_routes(&state.leptos_options))
        .leptos_routes(&state, page_routes, move || hosted_shell(options.clone(), demo))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .with_state(state)
        .layer(middleware::from_fn_with_state(allowed_origins, cors::cors))
        // The default predicate never compresses `text/event-stream`: a
        // compressed stream is a buffered stream.
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}
