//! `POST /api/chat`: the conversation in, the reply out as a UI message
//! stream; `POST /api/chat/{message_id}/stop`, which ends one on whichever
//! replica holds it; `GET /api/chat/{message_id}`, its receipt; and the AI
//! SDK's resume route.

mod request;

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::{Stream, StreamExt, stream};

use app::protocol::{DONE_MARKER, RESUME_WINDOW_HEADER, Receipt, STREAM_HEADER};

use crate::connections::ConnectionCloser;
use crate::error::{ApiError, brief};
use crate::registry::{StopElsewhere, unix_us};
use crate::relay::reply::{self, Reply};
use crate::resume::Found;
use crate::state::AppState;
use crate::streams::{Refusal, random_id};
use crate::trust::Client;
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
    Extension(client): Extension<Client>,
    connection: Option<Extension<ConnectionCloser>>,
    request: Result<Json<IncomingChatRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = request?;
    let chat_id = request.chat_id();
    let mut request = request.into_model_request(
        &state.limits,
        state.max_tokens,
        state.client_system_messages,
    )?;
    // The message id is the capability to stop the reply: 128 random bits,
    // sent to this client only. The model API gets an id of its own, which
    // matches its logs with Reins' but can stop nothing.
    let message_id = random_id("msg");
    let request_id = random_id("req");
    let (admission, stop) = state
        .streams
        .admit(client.clone(), message_id.clone(), request.max_tokens.into())
        .await
        .map_err(|refusal| {
            state.metrics.stream_rejected();
            tracing::warn!(%client, ?refusal, "stream refused");
            match refusal {
                Refusal::ServerFull => ApiError::Busy,
                Refusal::ClientFull { limit } => ApiError::TooManyStreams { limit },
                Refusal::TooManyRequests { limit, retry_after } => {
                    ApiError::TooManyRequests { limit, retry_after }
                }
                Refusal::TokensSpent { limit, retry_after } => {
                    ApiError::TokensSpent { limit, retry_after }
                }
                Refusal::TokensHeld { limit } => ApiError::TokensHeld { limit },
                Refusal::Unavailable => ApiError::RegistryUnavailable,
            }
        })?;
    // The model is asked for no more than the client has left this hour.
    request.max_tokens = u32::try_from(admission.tokens_held()).unwrap_or(request.max_tokens);
    // Registered before the client learns the id, so that a stop sent to
    // any replica finds it; without the registry that cannot be promised.
    if !admission.is_recorded() {
        state.registry.open(&message_id).await.map_err(|_| ApiError::RegistryUnavailable)?;
    }
    let admission = match connection {
        Some(Extension(ConnectionCloser(closer))) => admission.on_connection(closer),
        None => admission,
    };
    tracing::info!(message_id, request_id, %client, messages = request.messages.len(), "chat request");

    let reply = Reply {
        upstream: state.upstream.clone(),
        request,
        request_id: request_id.clone(),
        admission,
        stop,
        metrics: state.metrics.clone(),
        registry: state.registry.clone(),
    };
    let reply = reply::stream(reply);
    // The request id lets a client find its generation in the demo model's
    // record; it cannot stop anything.
    let request_id = ("x-request-id", request_id);
    let Some(window) = state.replays.window() else {
        // The reply is the response body: a client that leaves drops it.
        return Ok((
            [request_id],
            event_stream(reply.map(|part| Event::default().data(reply::json(&part)))),
        )
            .into_response());
    };
    // Kept for the window after its client goes; the header tells the
    // chat not to stop it when its page is reloaded.
    let frames = state.replays.keep(message_id, client, chat_id, reply);
    let window = (RESUME_WINDOW_HEADER, window.as_millis().to_string());
    Ok(([request_id, window], event_stream(frames.map(|frame| Event::default().data(&*frame))))
        .into_response())
}

/// An SSE response of `events` then `[DONE]`, with keep-alive comments
/// while the model is silent.
fn event_stream(events: impl Stream<Item = Event> + Send + 'static) -> Response {
    let events = events
        .chain(stream::once(async { Event::default().data(DONE_MARKER) }))
        .map(Ok::<_, Infallible>);
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE_INTERVAL));
    // `Sse` sets the content type and `cache-control: no-cache`; nginx needs
    // to be told not to buffer.
    ([STREAM_HEADER, ("x-accel-buffering", "no")], sse).into_response()
}

/// Stops the streaming reply with this message id, on whichever replica
/// holds it: its upstream request is dropped and its stream ends with
/// `abort` and `[DONE]`. A reply that already ended stopped (its client may
/// have left first) answers 204 too: stopping is idempotent.
///
/// The message id, long and random, is the capability: only whoever received
/// the `start` part knows it.
pub async fn stop(
    State(state): State<AppState>,
    message_id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let message_id = message_id_from(message_id)?;
    let noticed_at_us = unix_us();
    if state.streams.stop(&message_id, noticed_at_us) {
        tracing::info!(message_id, "stop requested");
        return Ok(StatusCode::NO_CONTENT);
    }
    let elsewhere = state.registry.stop_elsewhere(&message_id, noticed_at_us).await;
    match elsewhere.map_err(|_| ApiError::RegistryUnavailable)? {
        StopElsewhere::Sent => {
            state.metrics.stop_passed_on();
            tracing::info!(message_id, "stop passed on to the replica holding the stream");
            Ok(StatusCode::NO_CONTENT)
        }
        StopElsewhere::AlreadyStopped => Ok(StatusCode::NO_CONTENT),
        StopElsewhere::NobodyListening => Err(ApiError::ReplicaUnreachable),
        StopElsewhere::Ended => Err(ApiError::NotFound(
            "This reply is no longer streaming: it was completed or failed.".into(),
        )),
        StopElsewhere::Unknown => {
            tracing::debug!(message_id = %brief(&message_id), "stop for an unknown reply");
            Err(ApiError::NotFound(
                "No reply with this id is streaming; it may have been completed already.".into(),
            ))
        }
    }
}

/// `GET /api/chat/{message_id}`: the reply's receipt, from any replica: how
/// it ended, what was relayed, and when a stop reached the server and the
/// model API's connection was dropped. The id is the capability here too.
pub async fn receipt(
    State(state): State<AppState>,
    message_id: Result<Path<String>, PathRejection>,
) -> Result<Json<Receipt>, ApiError> {
    let message_id = message_id_from(message_id)?;
    match state.registry.receipt(&message_id).await.map_err(|_| ApiError::RegistryUnavailable)? {
        Some(receipt) => Ok(Json(receipt)),
        None => Err(ApiError::NotFound(
            "No reply with this id is known here; receipts are kept for a limited time.".into(),
        )),
    }
}

/// `GET /api/chat/{id}/stream`: a kept reply, its parts from the first and
/// then the rest as they come, on any replica. `id` is the reply's message
/// id (the capability: whoever has it may read the reply) or, as the AI
/// SDK's `useChat({ resume: true })` asks, the chat's id, which finds only
/// the asking client's latest reply. 204 when there is none to resume
/// (the window is off, or passed): the protocol's answer, where a 404
/// would leave the SDK in its error state.
pub async fn resume(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = message_id_from(id)?;
    let found =
        state.replays.find(&id, &client).await.map_err(|_| ApiError::RegistryUnavailable)?;
    match found {
        Found::Nothing => Ok(StatusCode::NO_CONTENT.into_response()),
        Found::Parts(frames) => {
            tracing::info!(id = %brief(&id), %client, "reply resumed");
            Ok(event_stream(frames.map(|frame| Event::default().data(&*frame))))
        }
    }
}

fn message_id_from(message_id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(message_id) = message_id.map_err(|_| {
        ApiError::BadRequest("The message id in the address is not valid UTF-8.".into())
    })?;
    Ok(message_id)
}
