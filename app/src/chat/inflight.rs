//! The request for the reply in flight, and the one way to cancel it.

use leptos::prelude::*;

use std::collections::HashMap;

use super::TokenSource;
use crate::conversation::{Conversation, PendingReply};

/// The request id (`x-request-id`) of each reply's response, by reply id:
/// how the hosted page's demo report finds the demo model's record.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "demo-report"), allow(dead_code))]
pub struct RequestIds(pub RwSignal<HashMap<String, String>>);

/// The request for the reply in flight. Aborting it cancels the `fetch` at
/// whatever point it has reached, so the server sees its connection close.
pub struct InFlight {
    #[cfg(feature = "browser")]
    controller: web_sys::AbortController,
}

/// What a request in flight asks for.
// Read only by the browser's request; server rendering never sends.
#[cfg_attr(not(feature = "browser"), allow(dead_code))]
pub enum Ask {
    /// A new reply (or more of a stopped one).
    Reply(PendingReply),
    /// A reply the server kept while the page was away, named by the
    /// server's id, from its start.
    Resume { reply_id: String, message_id: String },
}

impl InFlight {
    /// Starts streaming what `ask` asks for from `endpoint` into
    /// `conversation`.
    ///
    /// Only the browser sends: events never fire during server rendering, so
    /// without the `browser` feature this does nothing.
    #[cfg_attr(
        any(not(feature = "browser"), not(feature = "demo-report")),
        allow(unused_variables)
    )]
    pub fn start(
        endpoint: String,
        token: Option<TokenSource>,
        ask: Ask,
        conversation: RwSignal<Conversation>,
        request_ids: Option<RequestIds>,
    ) -> Option<Self> {
        #[cfg(feature = "browser")]
        {
            use crate::transport::stream_reply;

            let controller = web_sys::AbortController::new().ok()?;
            let signal = controller.signal();
            leptos::task::spawn_local(async move {
                let (reply_id, url, request) = match ask {
                    Ask::Reply(PendingReply { reply_id, request }) => {
                        (reply_id, endpoint, Some(request))
                    }
                    Ask::Resume { reply_id, message_id } => {
                        let url = crate::transport::message_url(&endpoint, &message_id, "/stream");
                        (reply_id, url, None)
                    }
                };
                // Text is taken in as it is read, and the views are told of
                // it at most once a frame: at 200 tokens a second a network
                // chunk comes three times a frame, and telling the views of
                // each was 35-50% of the script spent reading a reply
                // (README, "Browser benchmark"). What is more than text (the
                // reply starting, its id, its end) is told at once. The
                // conversation itself is always current: a Stop, a save as
                // the page goes away and the reply's size limit all see every
                // part read.
                let frame_asked = std::rc::Rc::new(std::cell::Cell::new(false));
                // Owned: the reply's body is read by a sink the browser calls.
                let parts_reply_id = reply_id.clone();
                let apply = move |parts: Vec<_>| {
                    let reply_id = &parts_reply_id;
                    let now = crate::browser::now_ms();
                    // `try_`: the chat may have been unmounted meanwhile.
                    let Some((more_than_text, open)) = conversation.try_maybe_update(|chat| {
                        let more_than_text = chat.apply_all(reply_id, parts, now);
                        (more_than_text, (more_than_text, chat.is_open(reply_id)))
                    }) else {
                        return false;
                    };
                    if !more_than_text && !frame_asked.replace(true) {
                        let frame_asked = frame_asked.clone();
                        // In the frame, where the reply's view draws at once
                        // what it is told of. A timer instead (the views'
                        // work outside the frames) spent nearly as much
                        // script as telling them of every chunk (README).
                        // A hidden page draws no frames: its text is told
                        // of when it is shown again, or when the reply ends.
                        request_animation_frame(move || {
                            frame_asked.set(false);
                            // Changes nothing, and tells the views of the
                            // text taken in since (`try_`: the chat may be
                            // gone by then).
                            conversation.try_update(|_| ());
                        });
                    }
                    open
                };
                let token = match &token {
                    Some(source) => source.token().await,
                    None => None,
                };
                // Stopped while the page was fetching a token: the aborted
                // signal fails the request at once, and the reply, closed by
                // the Stop, ignores that.
                // The demo report (hosted page only) finds the demo model's
                // record of this reply by the response's request id.
                // Without the `demo-report` feature that part is compiled away.
                let on_response = |response: &gloo_net::http::Response| {
                    // A reply the server keeps is left running when the page
                    // goes away, for the reload to resume.
                    if response.headers().get(crate::protocol::RESUME_WINDOW_HEADER).is_some() {
                        conversation.try_update(|chat| chat.mark_resumable(&reply_id));
                    }
                    #[cfg(feature = "demo-report")]
                    if let Some(ids) = request_ids
                        && let Some(request_id) = response.headers().get("x-request-id")
                    {
                        ids.0.update(|ids| {
                            ids.insert(reply_id.clone(), request_id);
                        });
                    }
                };
                let outcome = stream_reply(
                    &url,
                    token.as_deref(),
                    request.as_ref(),
                    &signal,
                    on_response,
                    apply,
                )
                .await;
                // After a Stop the reply is already closed and these change nothing.
                let now = crate::browser::now_ms();
                conversation.try_update(|chat| match outcome {
                    Ok(end) => chat.end_stream(&reply_id, end, now),
                    Err(error) => chat.fail(&reply_id, error.0, now),
                });
            });
            Some(Self { controller })
        }
        #[cfg(not(feature = "browser"))]
        None
    }

    /// Cancels the request, wherever it is.
    pub fn abort(self) {
        #[cfg(feature = "browser")]
        self.controller.abort();
    }
}

/// Asks the backend to stop the reply it named `message_id`, with
/// `POST {endpoint}/{message_id}/stop`.
///
/// Aborting the request is what stops the reply when the connection runs
/// straight to the Reins server; this reaches it too when a proxy in between
/// keeps its upstream connection open after the browser's is gone. It goes
/// out as a beacon: queued by the browser without delaying anything, sent even
/// as the page unloads, and with its answer (404 once the reply has already
/// ended, which is the usual case) never reported as an error.
#[cfg_attr(not(feature = "browser"), allow(unused_variables))]
pub fn request_stop(endpoint: &str, message_id: &str) {
    #[cfg(feature = "browser")]
    if let Some(window) = web_sys::window() {
        let url = crate::transport::message_url(endpoint, message_id, "/stop");
        let _ = window.navigator().send_beacon(&url);
    }
}
