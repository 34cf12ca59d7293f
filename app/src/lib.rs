//! Reins' user interface and the types it shares with the server.
//!
//! [`Chat`] is the embeddable component; [`App`] is the hosted chat page that
//! the `reins` server renders, and whose [`HostedChat`] the `embed` crate's
//! wasm renders again in the browser.

mod browser;
pub mod chat;
pub mod conversation;
/// The reply's Markdown as a safe, bounded tree (the `markdown` crate).
pub use markdown;
pub mod protocol;
pub mod sse;
#[cfg(feature = "browser")]
mod transport;

use leptos::prelude::*;

pub use chat::{Chat, ChatController, ChatEvent, TokenSource};

/// The HTML document around the hosted chat page.
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    hosted_shell(options, false)
}

/// The hosted chat page's document; `demo` marks a page answered by the
/// built-in demo model, whose chat then reports what the model did on Stop.
#[cfg(feature = "ssr")]
pub fn hosted_shell(options: LeptosOptions, demo: bool) -> impl IntoView {
    use leptos_meta::HashedStylesheet;

    set_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <title>"Reins"</title>
                {demo.then(|| view! { <meta name="reins-demo" content="on"/> })}
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // Both read the hashed file names of the build, if any.
                <HashedStylesheet options=options.clone()/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The Content Security Policy of the hosted page: its own scripts (the inline
/// script of Leptos's `HydrationScripts`, which loads the wasm, by its
/// nonce), its wasm, its styles, and requests to
/// itself; nothing else, and no framing.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Sends [`content_security_policy`] with this response's nonce, which
/// leptos_axum makes for every page and puts on that inline script.
#[cfg(feature = "ssr")]
fn set_content_security_policy() {
    use leptos_axum::ResponseOptions;

    if let (Some(nonce), Some(response)) =
        (leptos::nonce::use_nonce(), use_context::<ResponseOptions>())
        && let Ok(value) = content_security_policy(&nonce.to_string()).parse()
    {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The hosted chat page.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <main class="reins-page">
            <header class="reins-header">
                <h1>"Reins"</h1>
                <p>"A streaming chat you can stop."</p>
            </header>
            <HostedChat/>
        </main>
    }
}

/// The hosted page's chat. The server renders it inside [`App`]; in the
/// browser, the `embed` crate's `hosted` entry renders it again in its place,
/// on the client.
#[component]
pub fn HostedChat() -> impl IntoView {
    view! { <Chat/> }
}
