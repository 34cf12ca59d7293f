//! The `Chat` component: a message list over a composer whose one button sends
//! and stops, with the actions people expect on replies.

mod composer;
#[cfg(feature = "demo-report")]
mod demo_report;
mod inflight;
mod markdown_view;
mod message;
mod message_list;
mod token;

use std::time::Duration;

use leptos::html::Textarea;
use leptos::prelude::*;

use crate::browser;
use crate::conversation::{ActionError, Conversation, PendingReply};
use composer::Composer;
#[cfg(feature = "demo-report")]
use inflight::RequestIds;
use inflight::{Ask, InFlight, request_stop};
use message_list::MessageList;
pub use token::TokenSource;

/// The endpoint a [`Chat`] posts to unless told otherwise.
pub const DEFAULT_ENDPOINT: &str = "/api/chat";

/// The local storage key a [`Chat`] keeps its conversation under unless told otherwise.
pub const DEFAULT_STORAGE_KEY: &str = "reins-chat";

/// How long after a change the conversation is saved (it is also saved when
/// the page is hidden or closed), plus a millisecond per kilobyte of its
/// text: writing it is synchronous, so a megabyte streaming in is saved
/// every 1.3 s rather than every 0.3 s.
const SAVE_DELAY: Duration = Duration::from_millis(300);

/// A streaming chat that talks to any backend speaking the AI SDK UI message
/// stream, with a Send button that turns into Stop while a reply is in flight.
#[component]
pub fn Chat(
    /// The URL the conversation is POSTed to.
    #[prop(into, default = DEFAULT_ENDPOINT.into())]
    endpoint: String,
    /// The local storage key the conversation is kept under, so it survives a
    /// reload; give each chat on a page its own.
    #[prop(into, default = DEFAULT_STORAGE_KEY.into())]
    storage_key: String,
    /// The message box's placeholder.
    #[prop(into, default = "Message Reins".into())]
    placeholder: String,
    /// A title shown above the conversation.
    #[prop(default = None)]
    title: Option<String>,
    /// Lets the code around the chat send a message or stop the reply.
    #[prop(optional)]
    controller: Option<ChatController>,
    /// Told when the chat's status changes, a reply ends, or a reply fails.
    #[prop(into, optional)]
    on_event: Option<Callback<ChatEvent>>,
    /// The bearer token sent with each request, asked for before each one
    /// (for a server that checks who is chatting).
    #[prop(optional)]
    token: Option<TokenSource>,
) -> impl IntoView {
    let conversation = RwSignal::new(Conversation::new(new_chat_id()));
    let draft = RwSignal::new(String::new());
    let textarea = NodeRef::<Textarea>::new();
    // The abort handle is a browser object, so it lives in local (not
    // thread-safe) storage; the `StoredValue` handle itself is `Copy`.
    let in_flight = StoredValue::new_local(None::<InFlight>);
    let phase = Memo::new(move |_| conversation.with(|chat| chat.phase()));
    let endpoint = StoredValue::new(endpoint);
    let storage_key = StoredValue::new(storage_key);
    let token = StoredValue::new_local(token);
    // Only the hosted page reports what the demo model did; no other build
    // carries code for it (the `demo-report` feature).
    #[cfg(feature = "demo-report")]
    let request_ids = {
        let ids = RequestIds(RwSignal::new(Default::default()));
        provide_context(ids);
        Some(ids)
    };
    #[cfg(not(feature = "demo-report"))]
    let request_ids = None;

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
    // Every request for a reply, new or resumed, goes out here.
    let launch = move |ask: Ask| {
        abort();
        let request = InFlight::start(
            endpoint.get_value(),
            token.get_value(),
            ask,
            conversation,
            request_ids,
        );
        in_flight.set_value(request);
    };
    // Every action that asks for a reply ends here.
    let start =
        move |action: &dyn Fn(&mut Conversation, f64) -> Result<PendingReply, ActionError>| {
            let now = browser::now_ms();
            let Some(Ok(pending)) = conversation.try_update(|chat| action(chat, now)) else {
                return false;
            };
            launch(Ask::Reply(pending));
            true
        };
    let send = Callback::new(move |()| {
        let text = draft.get_untracked();
        if start(&|chat, now| chat.submit(&text, now)) {
            draft.set(String::new());
        }
        focus_composer();
    });
    // Freeze the reply first, then cancel the request: whatever is still in
    // flight after this line can no longer change the text on screen.
    let stop = Callback::new(move |()| {
        let stopped = conversation.try_update(|chat| {
            let reply = chat.stop(browser::now_ms())?;
            let server_id = chat.message(&reply)?.server_id.clone();
            Some((reply, server_id))
        });
        abort();
        if let Some((reply, Some(message_id))) = stopped.flatten() {
            request_stop(&endpoint.get_value(), &message_id);
            // Ask the server what the stop did, and show it under the reply.
            #[cfg(feature = "browser")]
            leptos::task::spawn_local(async move {
                let endpoint = endpoint.get_value();
                if let Some(note) = crate::transport::fetch_receipt(&endpoint, &message_id).await {
                    conversation.try_update(|chat| chat.note_receipt(&reply, note));
                }
            });
            #[cfg(not(feature = "browser"))]
            let _ = reply;
        }
        focus_composer();
    });
    let actions = ChatActions {
        regenerate: Callback::new(move |()| {
            start(&|chat, now| chat.regenerate(now));
            focus_composer();
        }),
        continue_reply: Callback::new(move |()| {
            start(&|chat, now| chat.continue_reply(now));
            focus_composer();
        }),
        edit_and_resend: Callback::new(move |(id, text): (String, String)| {
            start(&|chat, now| chat.edit_and_resend(&id, &text, now));
            focus_composer();
        }),
        phase,
    };
    provide_context(actions);
    if let Some(controller) = controller {
        controller.send.set_value(Some(Callback::new(move |text: String| {
            start(&|chat, now| chat.submit(&text, now));
        })));
        controller.stop.set_value(Some(stop));
    }
    if let Some(on_event) = on_event {
        report_events(conversation, phase, on_event);
    }
    let new_chat = move |_| {
        abort();
        conversation.update(|chat| chat.clear(new_chat_id()));
        // Removed here, not by a save of an empty chat: a page left empty
        // would then remove, as it leaves, what another tab saved.
        browser::store(&storage_key.get_value(), None);
        draft.set(String::new());
        focus_composer();
    };
    on_cleanup(abort);

    // The saved conversation is loaded once the page is interactive: loading
    // it while hydrating would not match what the server rendered.
    let ready = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(saved) = storage_key.with_value(|key: &String| browser::load(key))
            && let Ok(saved) = serde_json::from_str::<Conversation>(&saved)
        {
            let saved = saved.restored();
            // A reply the server kept while the page was away is read again
            // from its start; if the server no longer has it, it ends stopped.
            let resuming = saved.resuming();
            conversation.set(saved);
            if let Some((reply_id, message_id)) = resuming {
                launch(Ask::Resume { reply_id, message_id });
            }
        }
        ready.set(true);
    });
    let save = move || {
        // `try_`: a save scheduled just before the chat was removed finds it gone.
        if ready.try_get_untracked() != Some(true) {
            return;
        }
        // An empty chat is not saved (New chat removes the saved one).
        let Some(Some(json)) = conversation.try_with_untracked(|chat| {
            (!chat.messages().is_empty()).then(|| serde_json::to_string(chat).ok()).flatten()
        }) else {
            return;
        };
        storage_key.try_with_value(|key: &String| browser::store(key, Some(&json)));
    };
    let save_scheduled = StoredValue::new(false);
    Effect::new(move |_| {
        // Tracked: every change schedules a save. The text is measured only
        // when one is scheduled: its sum over every message, on every
        // token, grew with the conversation.
        conversation.track();
        if ready.get() && !save_scheduled.get_value() {
            let text_bytes = conversation.with_untracked(Conversation::text_bytes);
            save_scheduled.set_value(true);
            set_timeout(
                move || {
                    let _ = save_scheduled.try_update_value(|scheduled| *scheduled = false);
                    save();
                },
                SAVE_DELAY + Duration::from_millis(text_bytes as u64 / 1024),
            );
        }
    });
    // A reply streaming when the page goes away is saved as it stands, and
    // its model stopped: nothing will read it, and a proxy that keeps its
    // connection to the server open after the browser's has gone would
    // otherwise let it run to the end. A reply the server keeps for
    // resuming is left to run: the reload picks it up, and the server's
    // window bounds what it costs if nobody does. (Only a browser has a page to hide;
    // rendered outside leptos_axum, the listener would not know it runs on
    // a server.)
    #[cfg(feature = "browser")]
    {
        let pagehide = window_event_listener(leptos::ev::pagehide, move |_| {
            save();
            let streaming = conversation
                .try_with_untracked(|chat| chat.to_stop_on_leaving().map(str::to_owned))
                .flatten();
            if let Some(message_id) = streaming {
                request_stop(&endpoint.get_value(), &message_id);
            }
        });
        on_cleanup(move || pagehide.remove());
    }

    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Escape" && phase.get_untracked().is_busy() {
            event.prevent_default();
            stop.run(());
        }
    };

    view! {
        <section
            class="reins-chat"
            aria-label="Chat"
            data-ready=move || ready.get().to_string()
            on:keydown=on_keydown
        >
            <div class="reins-toolbar">
                {title.map(|title| view! { <h2 class="reins-title">{title}</h2> })}
                <button type="button" class="reins-action" on:click=new_chat>
                    "New chat"
                </button>
            </div>
            <MessageList conversation/>
            <Composer draft phase textarea placeholder on_send=send on_stop=stop/>
        </section>
    }
}

/// A handle to drive a [`Chat`] from the code around it.
#[derive(Clone, Copy)]
pub struct ChatController {
    send: StoredValue<Option<Callback<String>>>,
    stop: StoredValue<Option<Callback<()>>>,
}

impl Default for ChatController {
    fn default() -> Self {
        Self { send: StoredValue::new(None), stop: StoredValue::new(None) }
    }
}

impl ChatController {
    /// A controller to hand to one [`Chat`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `text` as the user's message, unless a reply is in flight.
    pub fn send(&self, text: impl Into<String>) {
        if let Some(Some(send)) = self.send.try_get_value() {
            send.run(text.into());
        }
    }

    /// Stops the reply in flight, if any.
    pub fn stop(&self) {
        if let Some(Some(stop)) = self.stop.try_get_value() {
            stop.run(());
        }
    }
}

/// What a [`Chat`] tells the code around it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatEvent {
    /// The status is now `idle`, `submitted` or `streaming`.
    Status(&'static str),
    /// A reply ended, complete or stopped, with its text.
    Finished { text: String, stopped: bool },
    /// A reply failed; the message says why.
    Error { message: String },
}

/// Calls `on_event` on every change of status, and once at the end of each
/// reply with how it ended.
fn report_events(
    conversation: RwSignal<Conversation>,
    phase: Memo<crate::conversation::Phase>,
    on_event: Callback<ChatEvent>,
) {
    use crate::conversation::{MessageStatus, Phase};

    Effect::new(move |previous: Option<Phase>| {
        let now = phase.get();
        if previous.is_some_and(|previous| previous != now) {
            on_event.run(ChatEvent::Status(match now {
                Phase::Idle => "idle",
                Phase::Submitted => "submitted",
                Phase::Streaming => "streaming",
            }));
            if now == Phase::Idle {
                let last = conversation.with_untracked(|chat| {
                    chat.messages().last().map(|m| (m.status, m.text.clone(), m.error.clone()))
                });
                match last {
                    Some((MessageStatus::Done, text, _)) => {
                        on_event.run(ChatEvent::Finished { text, stopped: false })
                    }
                    Some((MessageStatus::Stopped, text, _)) => {
                        on_event.run(ChatEvent::Finished { text, stopped: true })
                    }
                    Some((MessageStatus::Error, _, error)) => {
                        on_event.run(ChatEvent::Error { message: error.unwrap_or_default() })
                    }
                    _ => {}
                }
            }
        }
        now
    });
}

/// What a message's buttons can ask the chat to do.
#[derive(Clone, Copy)]
pub(crate) struct ChatActions {
    pub regenerate: Callback<()>,
    pub continue_reply: Callback<()>,
    /// The id of a user message and its new text.
    pub edit_and_resend: Callback<(String, String)>,
    /// Whether a reply is in flight; buttons that start one wait for idle.
    pub phase: Memo<crate::conversation::Phase>,
}

/// An id for a new chat; it also prefixes the ids of the chat's messages.
fn new_chat_id() -> String {
    #[cfg(feature = "browser")]
    {
        format!("chat-{:x}", (js_sys::Math::random() * f64::from(u32::MAX)) as u32)
    }
    // Server rendering never sends, so the id is never seen.
    #[cfg(not(feature = "browser"))]
    {
        "chat".to_owned()
    }
}
