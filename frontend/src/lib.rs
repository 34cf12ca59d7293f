//! The wasm entry crate of the hosted page: everything the browser runs lives
//! in `app`; this crate only exports `hydrate`, which cargo-leptos' generated
//! script calls. The `<reins-chat>` element has its own, smaller entry crate,
//! `embed`, built without hydration.

use wasm_bindgen::prelude::*;

/// Hydrates the server-rendered hosted chat page.
#[wasm_bindgen]
pub fn hydrate() {
    // Panic messages in the console while developing. The release build
    // (scripts/build-hosted-wasm) aborts on a panic at once, without running
    // a hook, so there the hook would be dead weight in the wasm.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
