//! The wasm entry crate: everything the browser runs lives in `app`; this crate
//! only exports the entry point that cargo-leptos' generated script calls.

/// Hydrates the server-rendered hosted chat page.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
