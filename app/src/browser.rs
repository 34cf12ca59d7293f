//! The few browser facilities the chat uses besides `fetch`: the clock, the
//! clipboard, local storage, and the page's own settings.
//!
//! During server rendering none of them is ever reached (they are called from
//! event handlers and effects, which run only in the browser), so there they
//! are inert.

/// Milliseconds since the Unix epoch (`Date.now()`, whole milliseconds).
///
/// Read for every part of a reply: `performance.timeOrigin + now()` found
/// the window and its `Performance` on each call, five calls out of the wasm
/// where this is one (31 ms of script over a 2,000-token reply in a CDP
/// profile, README "Browser benchmark"), for a precision nothing shown needs.
pub fn now_ms() -> f64 {
    #[cfg(feature = "browser")]
    return js_sys::Date::now();
    #[cfg(not(feature = "browser"))]
    0.0
}

/// Copies `text` to the clipboard; the browser may refuse without a word.
#[cfg_attr(not(feature = "browser"), allow(unused_variables))]
pub fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "browser")]
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(text);
    }
}

/// Resolves after `ms` milliseconds (a `setTimeout`).
#[cfg(feature = "browser")]
pub async fn sleep_ms(ms: u64) {
    let (sender, receiver) = futures::channel::oneshot::channel::<()>();
    leptos::prelude::set_timeout(
        move || {
            let _ = sender.send(());
        },
        std::time::Duration::from_millis(ms),
    );
    let _ = receiver.await;
}

/// The text stored under `key` in local storage, if any.
#[cfg_attr(not(feature = "browser"), allow(unused_variables))]
pub fn load(key: &str) -> Option<String> {
    #[cfg(feature = "browser")]
    {
        let storage = web_sys::window()?.local_storage().ok()??;
        storage.get_item(key).ok()?
    }
    #[cfg(not(feature = "browser"))]
    None
}

/// Stores `value` under `key` in local storage. Storage can be full or
/// switched off; the chat then simply does not survive a reload.
#[cfg_attr(not(feature = "browser"), allow(unused_variables))]
pub fn store(key: &str, value: Option<&str>) {
    #[cfg(feature = "browser")]
    if let Some(Ok(Some(storage))) = web_sys::window().map(|window| window.local_storage()) {
        let _ = match value {
            Some(value) => storage.set_item(key, value),
            None => storage.remove_item(key),
        };
    }
}

/// Whether the page is the hosted chat on the built-in demo model, which the
/// server marks with `<meta name="reins-demo">`.
#[cfg(feature = "demo-report")]
pub fn is_demo_page() -> bool {
    #[cfg(feature = "browser")]
    {
        web_sys::window()
            .and_then(|window| window.document())
            .and_then(|document| document.query_selector("meta[name=\"reins-demo\"]").ok())
            .flatten()
            .is_some()
    }
    #[cfg(not(feature = "browser"))]
    false
}
