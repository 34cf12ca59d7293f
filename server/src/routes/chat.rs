//! `POST /api/chat`: the conversation in, the reply out as a UI message
//! stream; and `POST /api/chat/{message_id}/stop`, which ends one.

mod request;

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::{StreamExt, stream};

use app::protocol::{DONE_MARKER, STREAM_HEADER, UiMessageChunk};

use crate::error::ApiError;
use crate::relay::reply::{self, Reply};
use crate::state::AppState;
use crate::streams::Refusal;
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
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    request: Result<Json<IncomingChatRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = request?;
    let request = request.into_model_request(&state.limits, state.max_tokens)?;
    // One address per client: behind a reverse proxy, every client shares
    // the proxy's, so raise the per-client limit there.
    let client =
        peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(ConnectInfo(addr))| addr.ip());
    let message_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let admission = state.streams.admit(client, message_id.clone()).map_err(|refusal| {
        state.metrics.stream_rejected();
        tracing::warn!(%client, ?refusal, "stream refused");
        match refusal {
            Refusal::ServerFull => ApiError::Busy,
            Refusal::ClientFull { limit } => ApiError::TooManyStreams { limit },
        }
    })?;
    tracing::info!(message_id, %client, messages = request.messages.len(), "chat request");

    let reply = Reply { upstream: state.upstream, request, admission, metrics: state.metrics };
    let frames = reply::stream(reply)
        .map(|part| frame(&part))
        .chain(stream::once(async { Event::default().data(DONE_MARKER) }))
        .map(Ok::<_, Infallible>);
    let sse = Sse::new(frames).keep_alive(KeepAlive::new().interval(KEEP_ALIVE_INTERVAL));
    // `Sse` sets the content type and `cache-control: no-cache`; nginx needs
    // to be told not to buffer.
    Ok(([STREAM_HEADER, ("x-accel-buffering", "no")], sse).into_response())
}

/// Stops the streaming reply with this message id: its upstream request is
/// dropped and its stream ends with `abort` and `[DONE]`. A reply that was
/// stopped a moment ago (its client may have left first) answers 204 too.
///
/// The message id, long and random, is the capability: only whoever received
/// the `start` part knows it.
pub async fn stop(
    State(state): State<AppState>,
    Path(message_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.streams.stop(&message_id) {
        tracing::info!(message_id, "stop requested");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(
            "No reply with this id is streaming; it may have been completed already.".into(),
        ))
    }
}

/// One part as an SSE `data:` frame.
fn frame(part: &UiMessageChunk) -> Event {
    // Every part is a plain struct of strings and enums: it always serializes.
    let json = serde_json::to_string(part).expect("UI message parts always serialize");
    Event::default().data(json)
}
