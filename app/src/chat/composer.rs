//! The composer: the message box and the one button that sends and stops.

use leptos::html::Textarea;
use leptos::prelude::*;

use crate::conversation::Phase;

/// The message box and the send/stop toggle. The button sits beside the box,
/// outside the scrolling log, so it never moves while text streams in.
#[component]
pub fn Composer(
    draft: RwSignal<String>,
    phase: Memo<Phase>,
    textarea: NodeRef<Textarea>,
    placeholder: String,
    on_send: Callback<()>,
    on_stop: Callback<()>,
) -> impl IntoView {
    let busy = move || phase.get().is_busy();
    let label = move || if busy() { "Stop" } else { "Send" };
    let toggle = move |_| {
        if busy() { on_stop.run(()) } else { on_send.run(()) }
    };
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        // Enter sends and Shift+Enter is a newline, as in every chat. While an
        // IME is composing, Enter confirms the composition instead.
        if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
            event.prevent_default();
            if !busy() {
                on_send.run(());
            }
        }
    };

    view! {
        <div class="reins-composer">
            <textarea
                node_ref=textarea
                class="reins-input"
                aria-label="Message"
                placeholder=placeholder
                rows="1"
                prop:value=move || draft.get()
                on:input=move |event| draft.set(event_target_value(&event))
                on:keydown=on_keydown
            ></textarea>
            <button
                type="button"
                class="reins-toggle"
                data-phase=move || if busy() { "stop" } else { "send" }
                aria-label=label
                title=label
                // Stop is never disabled; Send is, while there is nothing to send.
                disabled=move || !busy() && draft.with(|text| text.trim().is_empty())
                on:click=toggle
            >
                <Show when=busy fallback=|| view! { <SendIcon/> }>
                    <StopIcon/>
                </Show>
            </button>
        </div>
    }
}

#[component]
fn SendIcon() -> impl IntoView {
    view! {
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
            <path d="M12 19V5M5 12l7-7 7 7" fill="none" stroke="currentColor" stroke-width="2.2"
                stroke-linecap="round" stroke-linejoin="round"/>
        </svg>
    }
}

#[component]
fn StopIcon() -> impl IntoView {
    view! {
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
            <rect x="6" y="6" width="12" height="12" rx="2" fill="currentColor"/>
        </svg>
    }
}
