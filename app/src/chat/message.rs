//! One message: its text (Markdown for replies), its status, how it went, and
//! the buttons that act on it.

use leptos::prelude::*;

use super::ChatActions;
#[cfg(feature = "demo-report")]
use super::demo_report::DemoReport;
use super::markdown_view::Markdown;
use crate::browser;
use crate::conversation::{Conversation, Message, MessageStatus, ReplyStats};
use crate::protocol::Role;

/// One message. It redraws only when its own revision changes, not on every
/// update of the conversation: `changed` is notified when it may have.
#[component]
pub fn MessageView(
    conversation: RwSignal<Conversation>,
    id: String,
    /// The id of the conversation's last message, and whether no reply is
    /// on its way (so the actions may be used).
    last_and_idle: ReadSignal<(Option<String>, bool)>,
    /// Notified when this message may have changed.
    changed: Trigger,
) -> impl IntoView {
    let id = StoredValue::new(id);
    let revision = Memo::new(move |_| {
        changed.track();
        conversation.with_untracked(|chat| id.with_value(|id| chat.message(id).map(|m| m.revision)))
    });
    let text = reader(conversation, id, revision, |message| Some(message.text.clone()));
    let error = reader(conversation, id, revision, |message| message.error.clone());
    let status = reader(conversation, id, revision, |message| Some(message.status));
    let stats = reader(conversation, id, revision, |message| message.stats);
    let receipt = reader(conversation, id, revision, |message| message.receipt.clone());
    let is = move |wanted: MessageStatus| move || status() == Some(wanted);
    let is_open = move || status().is_some_and(MessageStatus::is_open);
    let role = conversation
        .with_untracked(|chat| id.with_value(|id| chat.message(id).map(|m| m.role)))
        .unwrap_or(Role::Assistant);
    let idle = move || last_and_idle.with(|(_, idle)| *idle);
    let is_last =
        move || last_and_idle.with(|(last, _)| id.with_value(|id| last.as_ref() == Some(id)));

    let body = match role {
        Role::Assistant => {
            let with_text = move |read: &mut dyn FnMut(&str)| {
                if revision.get().is_some() {
                    conversation.with_untracked(|chat| {
                        id.with_value(|id| chat.message(id).map(|message| read(&message.text)))
                    });
                }
            };
            view! { <Markdown with_text is_open=Signal::derive(is_open)/> }.into_any()
        }
        _ => view! { <UserText id text idle/> }.into_any(),
    };
    // Only the hosted page can be the demo page the report is for, so every
    // other build (the embed, other apps) leaves it out, and its code with it.
    #[cfg(feature = "demo-report")]
    let demo_report = move || view! { <DemoReport conversation id/> };
    #[cfg(not(feature = "demo-report"))]
    let demo_report = || ();

    view! {
        <article
            class="reins-message"
            data-role=role.as_str()
            data-status=move || status().map(MessageStatus::as_str)
        >
            {body}
            <Show when=is(MessageStatus::Pending)>
                <p class="reins-pending" role="status" aria-label="Waiting for the reply">
                    <span></span>
                    <span></span>
                    <span></span>
                </p>
            </Show>
            <Show when=is(MessageStatus::Stopped)>
                <p class="reins-note reins-stopped">"Stopped"</p>
                {move || receipt().map(|text| view! { <p class="reins-stats reins-receipt">{text}</p> })}
                {demo_report()}
            </Show>
            <Show when=is(MessageStatus::Error)>
                <p class="reins-note reins-error" role="alert">
                    {error}
                </p>
            </Show>
            <Show when=move || role == Role::Assistant && !is_open()>
                <Stats stats/>
                <ReplyActions text status idle is_last/>
            </Show>
        </article>
    }
}

/// Reads one field of message `id`, tracking only the message's revision,
/// so that a change elsewhere in the conversation does not re-run it.
fn reader<T: 'static>(
    conversation: RwSignal<Conversation>,
    id: StoredValue<String>,
    revision: Memo<Option<u64>>,
    read: fn(&Message) -> Option<T>,
) -> impl Fn() -> Option<T> + Copy + Send + Sync + 'static {
    move || {
        // Read, not just `track()`: a memo recomputes only when read, and one
        // never recomputed stops passing changes on.
        revision.get()?;
        conversation.with_untracked(|chat| id.with_value(|id| chat.message(id).and_then(read)))
    }
}

/// A user's message: its text as written, with Copy and Edit.
#[component]
fn UserText(
    id: StoredValue<String>,
    text: impl Fn() -> Option<String> + Copy + Send + Sync + 'static,
    idle: impl Fn() -> bool + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let edited = RwSignal::new(String::new());
    let actions = expect_context::<ChatActions>();
    let start_editing = move |_| {
        edited.set(text().unwrap_or_default());
        editing.set(true);
    };
    let resend = move || {
        editing.set(false);
        actions.edit_and_resend.run((id.get_value(), edited.get_untracked()));
    };
    let on_keydown = move |event: leptos::ev::KeyboardEvent| match event.key().as_str() {
        "Enter" if !event.shift_key() && !event.is_composing() => {
            event.prevent_default();
            resend();
        }
        "Escape" => {
            event.stop_propagation();
            editing.set(false);
        }
        _ => {}
    };

    view! {
        <Show
            when=move || editing.get()
            fallback=move || {
                view! {
                    <div class="reins-text">{text}</div>
                    <div class="reins-actions">
                        <CopyButton text=Signal::derive(move || text().unwrap_or_default()) label="Copy message"/>
                        <button
                            type="button"
                            class="reins-action"
                            aria-label="Edit message"
                            disabled=move || !idle()
                            on:click=start_editing
                        >
                            "Edit"
                        </button>
                    </div>
                }
            }
        >
            <div class="reins-edit">
                <textarea
                    class="reins-input"
                    aria-label="Edit message"
                    prop:value=move || edited.get()
                    on:input=move |event| edited.set(event_target_value(&event))
                    on:keydown=on_keydown
                    autofocus
                ></textarea>
                <div class="reins-actions">
                    <button
                        type="button"
                        class="reins-action reins-primary"
                        disabled=move || !idle() || edited.with(|t| t.trim().is_empty())
                        on:click=move |_| resend()
                    >
                        "Save and send"
                    </button>
                    <button type="button" class="reins-action" on:click=move |_| editing.set(false)>
                        "Cancel"
                    </button>
                </div>
            </div>
        </Show>
    }
}

/// The buttons under a finished reply: Copy always; Regenerate, Continue or
/// Retry on the last reply, when nothing is streaming.
#[component]
fn ReplyActions(
    text: impl Fn() -> Option<String> + Copy + Send + Sync + 'static,
    status: impl Fn() -> Option<MessageStatus> + Copy + Send + Sync + 'static,
    idle: impl Fn() -> bool + Copy + Send + Sync + 'static,
    is_last: impl Fn() -> bool + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let actions = expect_context::<ChatActions>();
    let text = Signal::derive(move || text().unwrap_or_default());
    let offer = move |wanted: &'static [MessageStatus]| {
        move || idle() && is_last() && status().is_some_and(|s| wanted.contains(&s))
    };

    view! {
        <div class="reins-actions">
            <CopyButton text label="Copy reply"/>
            <Show when=offer(&[MessageStatus::Done, MessageStatus::Stopped])>
                <button type="button" class="reins-action" on:click=move |_| actions.regenerate.run(())>
                    "Regenerate"
                </button>
            </Show>
            <Show when=offer(&[MessageStatus::Stopped])>
                <button type="button" class="reins-action" on:click=move |_| actions.continue_reply.run(())>
                    "Continue"
                </button>
            </Show>
            <Show when=offer(&[MessageStatus::Error])>
                <button type="button" class="reins-action reins-primary" on:click=move |_| actions.regenerate.run(())>
                    "Retry"
                </button>
            </Show>
        </div>
    }
}

/// A button that copies `text` and says so for a moment.
#[component]
pub fn CopyButton(text: Signal<String>, label: &'static str) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        browser::copy_to_clipboard(&text.get_untracked());
        copied.set(true);
        // `try_`: the message may be gone by then.
        set_timeout(
            move || {
                let _ = copied.try_set(false);
            },
            std::time::Duration::from_secs(2),
        );
    };
    view! {
        <button type="button" class="reins-action" aria-label=label on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}

/// The quiet line under a reply: time to first token, pace, and tokens used.
#[component]
fn Stats(stats: impl Fn() -> Option<ReplyStats> + Send + Sync + 'static) -> impl IntoView {
    move || {
        stats()
            .and_then(|stats| describe(&stats))
            .map(|line| view! { <p class="reins-stats">{line}</p> })
    }
}

/// `0.42 s to first token · 31 tokens/s · 12 in, 230 out`, with what is known.
fn describe(stats: &ReplyStats) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(ttft) = stats.time_to_first_token() {
        // Whole numbers only: formatting floats would add their code to the
        // embed's wasm for two figures.
        let centiseconds = (ttft / 10.0).round() as u64;
        parts.push(format!("{}.{:02} s to first token", centiseconds / 100, centiseconds % 100));
    }
    if let Some(rate) = stats.tokens_per_second() {
        parts.push(format!("{} tokens/s", rate.round() as u64));
    }
    if let Some(usage) = stats.usage {
        parts.push(format!("{} in, {} out", usage.input_tokens, usage.output_tokens));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Usage;

    #[test]
    fn the_stats_line_says_what_is_known() {
        let mut stats = ReplyStats { asked_at: 0.0, ..ReplyStats::default() };
        assert_eq!(describe(&stats), None);
        stats.first_token_at = Some(420.0);
        stats.ended_at = Some(1_420.0);
        stats.deltas = 31;
        assert_eq!(describe(&stats).unwrap(), "0.42 s to first token · 31 tokens/s");
        stats.usage = Some(Usage {
            input_tokens: 12,
            output_tokens: 230,
            total_tokens: 242,
            reasoning_tokens: None,
        });
        assert_eq!(
            describe(&stats).unwrap(),
            "0.42 s to first token · 230 tokens/s · 12 in, 230 out"
        );
    }
}
