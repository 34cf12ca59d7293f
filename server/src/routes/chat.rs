//! `POST /api/chat`: the conversation in, the reply out as a UI message stream.

mod request;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, stream};

use crate::error::ApiError;
use crate::relay::{Upstream, relay};
use app::protocol::{DONE_MARKER, STREAM_HEADER, UiMessageChunk};
use request::IncomingChatRequest;

/// How often a comment is sent while the upstream is silent, so proxies and
/// browsers keep the connection open while the model thinks.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// Streams the reply to the posted conversation.
///
/// The response (with the `start` part) goes out before the upstream answers,
/// so a client that leaves while the model is still thinking is noticed and
/// the upstream request dropped.
pub async fn chat(
    State(upstream): State<Arc<Upstream>>,
    request: Result<Json<IncomingChatRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = request?;
    let messages = request.into_messages()?;
    let message_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    tracing::info!(message_id, messages = messages.len(), "chat request");

    let frames = relay(upstream, messages, message_id)
        .map(|part| frame(&part))
        .chain(stream::once(async { Event::default().data(DONE_MARKER) }))
        .map(Ok::<_, Infallible>);
    let sse = Sse::new(frames).keep_alive(KeepAlive::new().interval(KEEP_ALIVE_INTERVAL));
    // `Sse` sets the content type and `cache-control: no-cache`; nginx needs
    // to be told not to buffer.
    Ok(([STREAM_HEADER, ("x-accel-buffering", "no")], sse).into_response())
}

/// One part as an SSE `data:` frame.
fn frame(part: &UiMessageChunk) -> Event {
    // Every part is a plain struct of strings and enums: it always serializes.
    let json = serde_json::to_string(part).expect("UI message parts always serialize");
    Event::default().data(json)
}
