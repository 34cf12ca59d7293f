//! The message list: the conversation as a `role="log"` region.

use leptos::prelude::*;

use crate::conversation::{Conversation, Message, MessageStatus};

/// Every message of the conversation, oldest first.
#[component]
pub fn MessageList(conversation: RwSignal<Conversation>) -> impl IntoView {
    let ids = Memo::new(move |_| {
        conversation.with(|chat| chat.messages().iter().map(|m| m.id.clone()).collect::<Vec<_>>())
    });
    // A log is a live region: keep assistive technology from reading the
    // reply token by token while it is still being written.
    let busy = move || conversation.with(|chat| chat.phase().is_busy()).to_string();

    view! {
        <div class="reins-log" role="log" aria-label="Conversation" aria-busy=busy>
            <For each=move || ids.get() key=String::clone let:id>
                <MessageView conversation id/>
            </For>
        </div>
    }
}

/// One message. It redraws only when its own revision changes, not on every
/// update of the conversation.
#[component]
fn MessageView(conversation: RwSignal<Conversation>, id: String) -> impl IntoView {
    let id = StoredValue::new(id);
    let revision = Memo::new(move |_| {
        conversation.with(|chat| id.with_value(|id| chat.message(id).map(|m| m.revision)))
    });
    let field = move |read: fn(&Message) -> Option<String>| {
        move || {
            // Read, not just `track()`: a memo recomputes only when read, and
            // one never recomputed stops passing changes on.
            revision.get()?;
            conversation.with_untracked(|chat| id.with_value(|id| chat.message(id).and_then(read)))
        }
    };
    let text = field(|message| Some(message.text.clone()));
    let status = field(|message| Some(message.status.as_str().to_owned()));
    let error = field(|message| message.error.clone());
    let is = move |wanted: MessageStatus| move || status().as_deref() == Some(wanted.as_str());
    let role = conversation
        .with_untracked(|chat| id.with_value(|id| chat.message(id).map(|m| m.role.as_str())))
        .unwrap_or("assistant");

    view! {
        <article class="reins-message" data-role=role data-status=status>
            <div class="reins-text">{text}</div>
            <Show when=is(MessageStatus::Pending)>
                <p class="reins-pending" aria-label="Waiting for the reply">
                    <span></span>
                    <span></span>
                    <span></span>
                </p>
            </Show>
            <Show when=is(MessageStatus::Stopped)>
                <p class="reins-note reins-stopped">"Stopped"</p>
            </Show>
            <Show when=is(MessageStatus::Error)>
                <p class="reins-note reins-error" role="alert">
                    {error}
                </p>
            </Show>
        </article>
    }
}
