//! The HTTP surface: the chat API, the demo model's record, and the hosted page.

mod chat;
mod demo;

use axum::Router;
use axum::routing::{get, post};
use leptos_axum::{LeptosRoutes, generate_route_list};

use crate::error::ApiError;
use crate::state::AppState;
use app::{App, shell};

/// The whole application. Kept apart from `main` so tests run the real router.
pub fn app(state: AppState) -> Router {
    let api = Router::<AppState>::new()
        .route("/chat", post(chat::chat))
        .route("/demo/generations", get(demo::generations))
        .fallback(async || ApiError::NotFound("There is no such API route.".into()));
    let page_routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    Router::new()
        .nest("/api", api)
        .leptos_routes(&state, page_routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .with_state(state)
}
