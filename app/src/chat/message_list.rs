//! The message list: the conversation as a `role="log"` region that follows
//! the newest text while, and only while, the reader is at the bottom.

use leptos::html::Div;
use leptos::prelude::*;

use super::ChatActions;
use super::message::MessageView;
use crate::conversation::{Conversation, Seen};

/// How close to the bottom (in CSS pixels) still counts as at the bottom.
const AT_BOTTOM_SLACK: f64 = 24.0;

/// Every message of the conversation, oldest first.
#[component]
pub fn MessageList(conversation: RwSignal<Conversation>) -> impl IntoView {
    // The ids are read again only when messages were added or removed, not
    // on every token.
    let shape = Memo::new(move |_| conversation.with(Conversation::shape));
    let ids = Memo::new(move |_| {
        // Read, not just tracked: a memo recomputes only when read.
        shape.get();
        conversation
            .with_untracked(|chat| chat.messages().iter().map(|m| m.id.clone()).collect::<Vec<_>>())
    });
    // Each message view is told when its own message changed, from one look
    // over the messages' revisions per update. A memo per message, each
    // reading the conversation and finding its message in it, made every
    // update cost O(n²) in the messages: 5.4 s of script over a 2,000-token
    // reply after 400 messages (README, "Browser benchmark").
    let watchers = StoredValue::new(Vec::<(String, Trigger)>::new());
    let seen = StoredValue::new(Seen::default());
    Effect::new(move |_| {
        conversation.with(|chat| {
            watchers.with_value(|watchers| {
                // From the newest: the message that changes is nearly
                // always the reply being written, the last one.
                let notify = |id: &str| {
                    if let Some((_, changed)) =
                        watchers.iter().rev().find(|(watched, _)| watched == id)
                    {
                        changed.notify();
                    }
                };
                let reshaped = seen.try_update_value(|seen| seen.look(chat, notify));
                if reshaped == Some(true) {
                    watchers.iter().for_each(|(_, changed)| changed.notify());
                }
            });
        });
    });
    let watch = move |id: &String| {
        let changed = Trigger::new();
        watchers.update_value(|watchers| watchers.push((id.clone(), changed)));
        let id = id.clone();
        on_cleanup(move || {
            let _ = watchers
                .try_update_value(|watchers| watchers.retain(|(watched, _)| *watched != id));
        });
        changed
    };
    // The last message's id (only it offers Regenerate and Continue), and
    // whether no reply is on its way: what every message view asks of the
    // whole conversation. Both change when a message is added or removed or
    // a reply starts or ends, not on every token.
    let phase = expect_context::<ChatActions>().phase;
    let last_and_idle =
        follow(move || (ids.with(|ids| ids.last().cloned()), !phase.get().is_busy()));
    // A log is a polite live region: `aria-busy` keeps assistive technology
    // from reading a reply token by token; it announces it once, when done.
    let busy = move || conversation.with(|chat| chat.phase().is_busy()).to_string();
    let log = NodeRef::<Div>::new();
    let content = NodeRef::<Div>::new();
    let following = RwSignal::new(true);

    let scroll_to_bottom = move || {
        if let Some(log) = log.get_untracked() {
            log.set_scroll_top(log.scroll_height());
        }
    };
    let at_bottom = move || {
        log.get_untracked().is_none_or(|log| {
            let distance = f64::from(log.scroll_height() - log.scroll_top() - log.client_height());
            distance <= AT_BOTTOM_SLACK
        })
    };
    // Any scroll, by wheel, keyboard, scrollbar or touch: back at the bottom,
    // follow again; moved up, stop. Only a move up stops it: text can arrive
    // between a scroll to the bottom and its event, so "not at the bottom"
    // alone does not mean the reader left.
    let last_top = StoredValue::new(0);
    let on_scroll = move |_| {
        let Some(top) = log.get_untracked().map(|log| log.scroll_top()) else { return };
        if at_bottom() {
            following.set(true);
        } else if top < last_top.get_value() {
            following.set(false);
        }
        last_top.set_value(top);
    };
    // A wheel turned upwards stops following at once, before the scroll
    // itself lands, so a token arriving meanwhile cannot pull the view back.
    let on_wheel = move |event: leptos::ev::WheelEvent| {
        let scrollable =
            log.get_untracked().is_some_and(|log| log.scroll_height() > log.client_height());
        if event.delta_y() < 0.0 && scrollable {
            following.set(false);
        }
    };
    let jump = move |_| {
        following.set(true);
        scroll_to_bottom();
    };
    follow_growth(content, move || {
        if following.get_untracked() {
            scroll_to_bottom();
        }
    });

    view! {
        <div class="reins-log-frame">
            <div
                node_ref=log
                class="reins-log"
                role="log"
                aria-label="Conversation"
                aria-busy=busy
                tabindex="0"
                on:scroll=on_scroll
                on:wheel=on_wheel
            >
                <div node_ref=content class="reins-log-content">
                    <Show when=move || ids.with(Vec::is_empty)>
                        <p class="reins-empty">
                            "Ask anything. If the reply goes the wrong way, press Stop (or Esc): "
                            "the text stops at once and so does the model."
                        </p>
                    </Show>
                    <For
                        each=move || ids.get()
                        key=String::clone
                        children=move |id| {
                            let changed = watch(&id);
                            view! { <MessageView conversation id last_and_idle changed/> }
                        }
                    />
                </div>
            </div>
            <Show when=move || !following.get()>
                <button type="button" class="reins-jump" on:click=jump>
                    "Jump to latest"
                </button>
            </Show>
        </div>
    }
}

/// A signal that follows `compute`, set only when its value changes.
///
/// Every message view reads one, and a memo would not do: whenever a
/// memo's sources change (the conversation, on every token) Leptos marks each
/// of its subscribers for a check, cloning the list of them on the way, which
/// was most of the script over a reply after 400 messages. A signal has no
/// sources: its subscribers hear of it only when it is set.
fn follow<T>(compute: impl Fn() -> T + Send + Sync + 'static) -> ReadSignal<T>
where
    T: Clone + PartialEq + Send + Sync + 'static,
{
    let (value, set_value) = signal(untrack(&compute));
    Effect::new(move |_| {
        let now = compute();
        if value.with_untracked(|was| *was != now) {
            set_value.set(now);
        }
    });
    value
}

/// Calls `on_grow` whenever the element's size changes, after layout and
/// before paint, so following the text never shows a frame out of place.
#[cfg_attr(not(feature = "browser"), allow(unused_variables))]
fn follow_growth(element: NodeRef<Div>, on_grow: impl Fn() + Clone + 'static) {
    #[cfg(feature = "browser")]
    {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;

        Effect::new(move |_| {
            let Some(element) = element.get() else { return };
            let on_grow = on_grow.clone();
            let callback = Closure::<dyn Fn()>::new(on_grow);
            let Ok(observer) = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref())
            else {
                return;
            };
            observer.observe(&element);
            let observer = send_wrapper::SendWrapper::new((observer, callback));
            on_cleanup(move || observer.take().0.disconnect());
        });
    }
}
