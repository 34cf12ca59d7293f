//! The HTTP surface: the chat API, stop, health and metrics, the demo model's
//! record, and the hosted page.

mod chat;
mod check;
mod demo;
mod health;

use std::path::Path;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leptos_axum::{LeptosRoutes, generate_route_list};

use app::{App, hosted_shell, shell};

use tower::ServiceBuilder;
use tower::util::MapResponseLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use self::check::CheckLayer;
use crate::auth::{self, Auth};
use crate::error::ApiError;
use crate::state::AppState;
use crate::{assets, trust};

/// What `REINS_METRICS_ADDR` serves: `/metrics` and `/healthz`, under any
/// host name (a scraper inside the network asks by the machine's address,
/// which is no public origin), and nothing else.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(health::metrics))
        .route("/healthz", get(health::healthz))
        .fallback(async || ApiError::NotFound("This address serves /metrics and /healthz.".into()))
        .with_state(state)
}

/// The whole application. Kept apart from `main` so tests run the real router.
pub fn app(state: AppState) -> Router {
    // Chatting spends the key: it needs a user when auth is on. Stopping
    // does not: the message id is the capability, and a Stop must work even
    // after the token that started the reply has expired (and a beacon,
    // which the chat sends it as, cannot carry a header).
    let mut authenticated = Router::<AppState>::new()
        .route("/chat", post(chat::chat).layer(DefaultBodyLimit::max(state.limits.max_body_bytes)))
        // Reading a reply again needs what asking for it needed.
        .route("/chat/{id}/stream", get(chat::resume));
    // Without auth there is nothing to check: no layer, rather than one that
    // passes every chat on (`from_fn` clones and boxes for each request).
    if matches!(state.auth, Auth::Jwt(_)) {
        authenticated = authenticated
            .route_layer(middleware::from_fn_with_state(state.auth.clone(), auth::authenticate));
    }
    let api = Router::<AppState>::new()
        .merge(authenticated)
        .route("/chat/{message_id}/stop", post(chat::stop))
        .route("/chat/{message_id}", get(chat::receipt))
        .route("/demo/generations", get(demo::generations))
        // Whether the asking page's origin may use this server: 204 if so,
        // else the trust model's readable 403. `embed.js` asks first.
        .route("/embed/check", get(async || StatusCode::NO_CONTENT))
        .fallback(async || ApiError::NotFound("There is no such API route.".into()));
    let trust = state.trust.clone();
    let body_read_timeout = state.body_read_timeout;
    let page_routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let demo = state.demo.is_some();
    let mut health = Router::new().route("/healthz", get(health::healthz));
    if !state.metrics_apart {
        health = health.route("/metrics", get(health::metrics));
    }
    let routes = health
        .merge(assets::embed_routes(Path::new(&*state.leptos_options.site_root)))
        .merge(assets::page_routes(&state.leptos_options))
        .leptos_routes(&state, page_routes, move || hosted_shell(options.clone(), demo))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // The page and what it loads, not the API: its event streams are
        // never compressed (a compressed stream is a buffered stream), its
        // other answers are a few hundred bytes, and the layer's body, sized
        // for its largest encoder, cost every open stream 5.7 KiB of heap
        // (heaptrack, 2,000 streams, 2026-12-02).
        .layer(CompressionLayer::new())
        .nest("/api", api)
        .with_state(state);
    // Layers run from the first listed inwards: the host is checked before
    // anything else (CORS preflights included), then CORS, then the page's
    // origin, inside CORS so that its refusal carries CORS headers the page
    // can read. They wrap the router once, as one service, rather than
    // through `Router::layer`, which wraps every route in each layer and
    // clones each layer's service, boxed, for every request.
    let every_request = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::if_not_present(
            REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(CheckLayer::new({
            let trust = trust.clone();
            move |request: &mut Request| trust::guard(&trust, request)
        }))
        .layer(cors())
        .layer(CheckLayer::new(move |request: &mut Request| trust::origin_guard(&trust, request)))
        .layer(MapResponseLayer::new(json_refusals))
        .layer(RequestBodyTimeoutLayer::new(body_read_timeout))
        .service(routes);
    Router::new().fallback_service(every_request)
}

/// CORS for every origin's preflight and response headers: which origins
/// may actually be served is the trust model's decision ([`trust::origin_guard`]),
/// which answers a refused origin with a 403 whose JSON reason the page can
/// read, instead of the bare network error a missing header would give.
/// Every response carries `Vary: Origin`, immutable assets included.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([CONTENT_TYPE, AUTHORIZATION])
        .expose_headers([
            axum::http::HeaderName::from_static("x-request-id"),
            axum::http::HeaderName::from_static(app::protocol::RESUME_WINDOW_HEADER),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Gives the refusals axum makes on its own (405 for a wrong method, with
/// an empty body) the API's JSON body.
fn json_refusals(response: Response) -> Response {
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(axum::http::header::CONTENT_TYPE)
    {
        let allow = response.headers().get(axum::http::header::ALLOW).cloned();
        let mut refusal = ApiError::MethodNotAllowed.into_response();
        if let Some(allow) = allow {
            refusal.headers_mut().insert(axum::http::header::ALLOW, allow);
        }
        return refusal;
    }
    response
}
