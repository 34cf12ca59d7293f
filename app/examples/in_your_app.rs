//! The Reins chat inside another Leptos app: the `Chat` component with its
//! props, a controller the page drives it with, and the events it reports.
//!
//! Run it on the server side to see the HTML it renders:
//! `cargo run -p app --features ssr --example in_your_app`. In the app's
//! browser crate (with `app`'s `hydrate` feature) the same view hydrates and
//! streams; with `csr`, it renders in the browser alone, as the hosted page
//! and the `<reins-chat>` element do.

// An example prints what it renders.
#![allow(clippy::print_stdout)]

use app::{Chat, ChatController, ChatEvent};
use leptos::prelude::*;

/// A support page with a chat, a shortcut button, and a status line.
#[component]
fn SupportPage() -> impl IntoView {
    let controller = ChatController::new();
    let status = RwSignal::new(String::from("idle"));
    let on_event = Callback::new(move |event: ChatEvent| match event {
        ChatEvent::Status(now) => status.set(now.to_owned()),
        ChatEvent::Finished { stopped: true, .. } => status.set("stopped".into()),
        ChatEvent::Finished { .. } => status.set("answered".into()),
        ChatEvent::Error { message } => status.set(format!("failed: {message}")),
    });

    view! {
        <main class="support">
            <h1>"Support"</h1>
            <Chat
                endpoint="https://reins.example/api/chat"
                storage_key="support-chat"
                placeholder="How can we help?"
                title=Some("Ask us anything".to_owned())
                controller
                on_event
            />
            <button on:click=move |_| controller.send("Where is my order?")>
                "Ask about my order"
            </button>
            <p>"Chat: " {move || status.get()}</p>
        </main>
    }
}

fn main() {
    let html = Owner::new().with(|| view! { <SupportPage/> }.to_html());
    println!("{html}");
}
