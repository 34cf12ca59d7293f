//! The hosted page hydrated: what a Leptos app that renders the chat on its
//! server runs in the browser (`app` with its `hydrate` feature). The hosted
//! page itself renders its chat on the client with the embed's wasm, so this
//! crate exists for `end2end/tests/hydrated.spec.ts` alone, which hydrates
//! the server's real page with it (built by `scripts/build-hydrated`).

use wasm_bindgen::prelude::*;

/// Hydrates the server-rendered hosted page.
#[wasm_bindgen]
pub fn hydrate() {
    leptos::mount::hydrate_body(app::App);
}
