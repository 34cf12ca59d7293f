//! Browser I/O: POST the conversation and read the reply as a UI message stream.
//!
//! The request goes out through `fetch` with an `AbortController`'s signal, and
//! the body is read as a `ReadableStream`, so aborting the controller cancels
//! the request at whatever point it has reached: before the response headers,
//! while the model is thinking, or mid-reply. The server sees its connection
//! close and stops the model.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_net::http::{Method, RequestBuilder};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, UnderlyingSink, WritableStream};

use crate::conversation::StreamEnd;
use crate::protocol::{ChatRequest, DONE_MARKER, UiMessageChunk};
use crate::sse::SseDecoder;

/// Why a reply could not be read. The message is meant for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportError(pub String);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sends `request` to `url` (with `token` as a bearer token, if any), or
/// without one asks `url` for a kept reply (`GET`, to resume it); shows the
/// response head to `on_response`, and hands every batch of parts to
/// `on_parts` as it arrives, until the stream ends or `signal` aborts it.
///
/// Parts decoded from one network chunk are handed over together: the chat
/// takes them in at once, and tells its views of text once a frame.
pub async fn stream_reply(
    url: &str,
    token: Option<&str>,
    request: Option<&ChatRequest>,
    signal: &AbortSignal,
    on_response: impl FnOnce(&gloo_net::http::Response),
    on_parts: impl FnMut(Vec<UiMessageChunk>) -> bool + 'static,
) -> Result<StreamEnd, TransportError> {
    let mut builder = RequestBuilder::new(url).header("accept", "text/event-stream");
    // One call builds either request: gloo's `json` and `build` would each
    // bring a copy of its request building into the embed (0.9 KB).
    let body = match request {
        Some(request) => {
            builder = builder.method(Method::POST).header("content-type", "application/json");
            let json = serde_json::to_string(request)
                .map_err(|_| TransportError("Could not encode the request.".into()))?;
            JsValue::from(json)
        }
        None => JsValue::NULL,
    };
    if let Some(token) = token {
        builder = builder.header("authorization", &format!("Bearer {token}"));
    }
    let response = builder
        .abort_signal(Some(signal))
        .body(body)
        .map_err(|_| TransportError("Could not encode the request.".into()))?
        .send()
        .await
        .map_err(|error| {
            // The browser's own words ("Failed to fetch") only: formatting
            // gloo's other errors would bring serde_json's error messages
            // into the embed (0.5 KB gzipped) for errors that cannot happen
            // here.
            let reason = match error {
                gloo_net::Error::JsError(error) => error.message,
                _ => "the request failed".into(),
            };
            TransportError(format!("Could not reach the chat server: {reason}"))
        })?;

    on_response(&response);
    // What a server that keeps replies says when it has none for this one.
    if response.status() == 204 {
        return Ok(StreamEnd::Gone);
    }
    if !response.ok() {
        let status = response.status();
        let body = match response.body() {
            Some(body) => read_to_limit(&body, MAX_ERROR_BODY).await,
            None => Vec::new(),
        };
        return Err(TransportError(error_message(status, &String::from_utf8_lossy(&body))));
    }
    let body = response
        .body()
        .ok_or_else(|| TransportError("The chat server sent an empty response.".into()))?;

    pipe_reply(&body, on_parts).await
}

/// Reads the reply's `body` into the conversation through [`pipe`], until
/// the stream ends or `on_parts` says the reply is closed.
async fn pipe_reply(
    body: &web_sys::ReadableStream,
    mut on_parts: impl FnMut(Vec<UiMessageChunk>) -> bool + 'static,
) -> Result<StreamEnd, TransportError> {
    // How the reply ended, when a chunk ended it.
    let ended = Rc::new(RefCell::new(None));
    let mut decoder = SseDecoder::default();
    let take = {
        let ended = ended.clone();
        move |chunk: &[u8]| match take_chunk(&mut decoder, chunk, &mut on_parts) {
            Ok(None) => true,
            end => {
                *ended.borrow_mut() = end.transpose();
                false
            }
        }
    };
    let ran_out = pipe(body, Box::new(take)).await;
    match ended.take() {
        Some(end) => end,
        None if ran_out => Ok(StreamEnd::Closed),
        None => Err(TransportError("The connection to the chat server was interrupted.".into())),
    }
}

/// Takes one network chunk of the reply in: its parts to `on_parts`. Says
/// how the reply ended if it did: `[DONE]`, or `on_parts` closing it (it
/// finished, failed, or grew past its limit), which reads it no further.
fn take_chunk(
    decoder: &mut SseDecoder,
    chunk: &[u8],
    on_parts: &mut impl FnMut(Vec<UiMessageChunk>) -> bool,
) -> Result<Option<StreamEnd>, TransportError> {
    let events = decoder
        .feed(chunk)
        .map_err(|error| TransportError(format!("The reply could not be read: {error}")))?;
    let mut parts = Vec::with_capacity(events.len());
    let mut done = false;
    for event in events {
        if event.data == DONE_MARKER {
            done = true;
            break;
        }
        let part = serde_json::from_str(&event.data)
            .map_err(|_| TransportError("The server sent a part this chat cannot read.".into()))?;
        parts.push(part);
    }
    if (!parts.is_empty() && !on_parts(parts)) || done {
        return Ok(Some(StreamEnd::Done));
    }
    Ok(None)
}

/// The most of a receipt's body that is read: a receipt is a few hundred
/// bytes, and a backend that answers this route with something else must
/// not make the chat read it all.
const MAX_RECEIPT_BODY: usize = 4 * 1024;

/// The summary of a stopped reply's receipt, `GET {endpoint}/{message_id}`,
/// once the server has recorded how it ended; `None` if it has not within
/// about a second, or the backend keeps none (not every AI SDK backend is
/// Reins).
pub async fn fetch_receipt(endpoint: &str, message_id: &str) -> Option<String> {
    let url = message_url(endpoint, message_id, "");
    let window = web_sys::window()?;
    for _ in 0..10 {
        // The browser's `fetch` itself: gloo's request builder for a GET
        // added 0.4 KB gzipped to the embed.
        let response: web_sys::Response =
            JsFuture::from(window.fetch_with_str(&url)).await.ok()?.unchecked_into();
        if !response.ok() {
            return None;
        }
        let body = read_to_limit(&response.body()?, MAX_RECEIPT_BODY).await;
        // Read as the parts' metadata is, text to a JSON value, so the wasm
        // carries one copy of that code: reading from bytes, or straight
        // into a type of its own, added 2-4 KB gzipped.
        let value: serde_json::Value =
            serde_json::from_str(&String::from_utf8_lossy(&body)).ok()?;
        // Only the summary, written once the reply has ended.
        if let Some(serde_json::Value::String(summary)) = value.get("summary") {
            return Some(summary.clone());
        }
        crate::browser::sleep_ms(100).await;
    }
    None
}

/// `{endpoint}/{message_id}{tail}`: where the backend answers for one reply
/// (its receipt, its stop, its stream again). The id comes from the server
/// or from storage: percent-encoded, it can only name a message.
pub fn message_url(endpoint: &str, message_id: &str, tail: &str) -> String {
    let id = String::from(js_sys::encode_uri_component(message_id));
    format!("{}/{id}{tail}", endpoint.trim_end_matches('/'))
}

/// What [`pipe`]'s sink does with each chunk; whether to read on.
type Take = Box<dyn FnMut(&[u8]) -> bool>;

/// Reads `body` through the browser's own pipe (`pipeTo`) into a sink that
/// hands each chunk to `take`, until the body ends (`true`), fails, or
/// `take` wants no more (`false`): then the sink throws, which stops the
/// pipe and cancels the body, so the connection closes at once (and for a
/// reply the server drops the model's request). Should the future be
/// dropped first, the sink's closure goes with it, and the next chunk's
/// `write` throws the same way.
///
/// Why a pipe rather than a `read()` a chunk: each read made a promise, two
/// closures to await it and a microtask to wake the reader's future, and
/// the read was a quarter of the script between the frames (README, "The
/// script between the frames"). One boxed `take` for every caller: one copy
/// of the sink's code in the embed. Over `web-sys` rather than through
/// `wasm-streams`, whose exported JavaScript classes cost the embed 1 KB
/// gzipped.
async fn pipe(body: &web_sys::ReadableStream, mut take: Take) -> bool {
    let write = Closure::<dyn FnMut(js_sys::Uint8Array) -> Result<(), JsValue>>::new(
        move |chunk: js_sys::Uint8Array| {
            if take(&chunk.to_vec()) { Ok(()) } else { Err(JsValue::UNDEFINED) }
        },
    );
    let sink = UnderlyingSink::new();
    sink.set_write(write.as_ref().unchecked_ref());
    let Ok(writable) = WritableStream::new_with_underlying_sink(&sink) else {
        return false;
    };
    JsFuture::from(body.pipe_to(&writable)).await.is_ok()
}

/// The most of an error response's body that is read: enough for any
/// message worth showing, and a hostile server cannot make the chat read
/// more.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The body's first bytes, at most `limit`; the rest is cancelled.
async fn read_to_limit(body: &web_sys::ReadableStream, limit: usize) -> Vec<u8> {
    let bytes = Rc::new(RefCell::new(Vec::new()));
    let take = {
        let bytes = bytes.clone();
        move |chunk: &[u8]| {
            let mut bytes = bytes.borrow_mut();
            bytes.extend_from_slice(chunk);
            bytes.len() < limit
        }
    };
    pipe(body, Box::new(take)).await;
    let mut bytes = bytes.take();
    bytes.truncate(limit);
    bytes
}

/// A readable message for a non-2xx response, preferring the server's own.
fn error_message(status: u16, body: &str) -> String {
    // Read as a JSON value, as receipts are: a reader of `ErrorBody` of its
    // own would add 0.5 KB gzipped to the embed.
    let value = serde_json::from_str::<serde_json::Value>(body).ok();
    match value.as_ref().and_then(|value| value.get("error")?.get("message")?.as_str()) {
        Some(message) => message.to_owned(),
        None => format!("The chat server answered with HTTP status {status}."),
    }
}
