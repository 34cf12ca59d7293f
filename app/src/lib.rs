//! Reins' user interface and the types it shares with the server.
//!
//! [`Chat`] is the embeddable component; [`App`] is the hosted chat page that
//! the `reins` server renders and the `frontend` crate hydrates.

mod browser;
pub mod chat;
pub mod conversation;
pub mod markdown;
pub mod protocol;
pub mod sse;
#[cfg(feature = "hydrate")]
mod transport;

use leptos::prelude::*;

pub use chat::Chat;

/// The HTML document around the hosted chat page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    hosted_shell(options, false)
}

/// The hosted chat page's document; `demo` marks a page answered by the
/// built-in demo model, whose chat then reports what the model did on Stop.
pub fn hosted_shell(options: LeptosOptions, demo: bool) -> impl IntoView {
    let stylesheet = format!("/{}/{}.css", options.site_pkg_dir, options.output_name);
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
                <link rel="stylesheet" href=stylesheet/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
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
            <Chat/>
        </main>
    }
}
