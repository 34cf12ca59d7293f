//! Built files whose names carry a hash of their content, which browsers may
//! therefore keep for a year without asking again.
//!
//! The `<reins-chat>` element's files, as `scripts/build-embed` lays them out
//! in the site root: `embed.js`, the address pages include, and under
//! `embed/` the files it names, hashed. `embed.js` keeps its address across
//! releases, so browsers revalidate it on every use and pick up new names at
//! once. Both are sent in the brotli or gzip form built next to them,
//! compressed once at the highest level instead of on every request.
//!
//! The hosted page's wasm, JS and CSS under `pkg/`, hashed by cargo-leptos
//! (`hash-files`); the page names them afresh on every load.

use std::path::Path;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, VARY};
use axum::middleware::map_response;
use axum::response::Response;
use leptos::config::LeptosOptions;
use tower_http::services::{ServeDir, ServeFile};

/// How long browsers may keep a file whose name carries its content's hash.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// For a file whose address stays while its content changes.
pub const REVALIDATE: &str = "no-cache";

/// Routes for `/embed.js` and `/embed/*` under `site_root`.
pub fn embed_routes<S: Clone + Send + Sync + 'static>(site_root: &Path) -> Router<S> {
    let script = ServeFile::new(site_root.join("embed.js")).precompressed_br().precompressed_gzip();
    let hashed = ServeDir::new(site_root.join("embed")).precompressed_br().precompressed_gzip();
    Router::new()
        .route_service("/embed.js", script)
        .layer(map_response(|response| cache_control(response, REVALIDATE)))
        .merge(
            Router::new()
                .nest_service("/embed", hashed)
                .layer(map_response(|response| cache_control(response, IMMUTABLE))),
        )
        .layer(map_response(vary_encoding))
}

/// Says that the body depends on `Accept-Encoding`: these files are sent
/// brotli, gzip or plain by what the client accepts, and a shared cache that
/// was not told would keep brotli bytes for a year and hand them to a client
/// that cannot read them. (The compression layer says so for what it
/// compresses itself; these are compressed ahead of time.)
async fn vary_encoding(mut response: Response) -> Response {
    response.headers_mut().append(VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// Routes for `/pkg/*`, the hosted page's files, when the build named them
/// by their content. Otherwise there are none, and the fallback serves the
/// plain names with validators only.
pub fn page_routes<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    if !options.hash_files {
        return Router::new();
    }
    let pkg = Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    Router::new()
        .nest_service(&format!("/{}", options.site_pkg_dir), ServeDir::new(pkg))
        .layer(map_response(|response| cache_control(response, IMMUTABLE)))
}

/// Sets `Cache-Control` on a file that was found: a 404 kept for a year
/// would outlive the deploy that fixes it.
async fn cache_control(mut response: Response, value: &'static str) -> Response {
    if response.status().is_success() || response.status().is_redirection() {
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static(value));
    }
    response
}
