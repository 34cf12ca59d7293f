//! The `Chat` component: a message list over a composer whose one button sends
//! and stops.

mod composer;
mod inflight;
mod message_list;

use leptos::html::Textarea;
use leptos::prelude::*;

use crate::conversation::Conversation;
use composer::Composer;
use inflight::{InFlight, request_stop};
use message_list::MessageList;

/// The endpoint a [`Chat`] posts to unless told otherwise.
pub const DEFAULT_ENDPOINT: &str = "/api/chat";

/// A streaming chat that talks to any backend speaking the AI SDK UI message
/// stream, with a Send button that turns into Stop while a reply is in flight.
#[component]
pub fn Chat(
    /// The URL the conversation is POSTed to.
    #[prop(into, default = DEFAULT_ENDPOINT.into())]
    endpoint: String,
) -> impl IntoView {
    let conversation = RwSignal::new(Conversation::new(new_chat_id()));
    let draft = RwSignal::new(String::new());
    let textarea = NodeRef::<Textarea>::new();
    // The abort handle is a browser object, so it lives in local (not
    // thread-safe) storage; the `StoredValue` handle itself is `Copy`.
    let in_flight = StoredValue::new_local(None::<InFlight>);
    let phase = Memo::new(move |_| conversation.with(|chat| chat.phase()));

    let abort = move || {
        if let Some(request) = in_flight.try_update_value(Option::take).flatten() {
            request.abort();
        }
    };
    let focus_composer = move || {
        if let Some(textarea) = textarea.get_untracked() {
            let _ = textarea.focus();
        }
    };
    let stop_endpoint = endpoint.clone();
    let send = Callback::new(move |()| {
        let text = draft.get_untracked();
        let Some(Ok(pending)) = conversation.try_update(|chat| chat.submit(&text)) else {
            return;
        };
        draft.set(String::new());
        abort();
        let request = InFlight::start(endpoint.clone(), pending, conversation);
        in_flight.set_value(request);
        focus_composer();
    });
    // Freeze the reply first, then cancel the request: whatever is still in
    // flight after this line can no longer change the text on screen.
    let stop = Callback::new(move |()| {
        let stopped = conversation.try_update(|chat| {
            let reply = chat.stop()?;
            chat.message(&reply)?.server_id.clone()
        });
        abort();
        if let Some(message_id) = stopped.flatten() {
            request_stop(&stop_endpoint, &message_id);
        }
        focus_composer();
    });
    on_cleanup(abort);

    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Escape" && phase.get_untracked().is_busy() {
            event.prevent_default();
            stop.run(());
        }
    };

    // Effects run only in the browser, so this turns true once the chat is
    // hydrated and interactive: a hook for tests and for host page styles.
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));

    view! {
        <section
            class="reins-chat"
            aria-label="Chat"
            data-ready=move || ready.get().to_string()
            on:keydown=on_keydown
        >
            <MessageList conversation/>
            <Composer draft phase textarea on_send=send on_stop=stop/>
        </section>
    }
}

/// An id for a new chat; it also prefixes the ids of the chat's messages.
fn new_chat_id() -> String {
    #[cfg(feature = "hydrate")]
    {
        format!("chat-{:x}", (js_sys::Math::random() * f64::from(u32::MAX)) as u32)
    }
    // Server rendering never sends, so the id is never seen.
    #[cfg(not(feature = "hydrate"))]
    {
        "chat".to_owned()
    }
}
