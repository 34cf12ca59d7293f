//! `GET /api/demo/generations?request_id=…`: what the demo model did for one
//! request.
//!
//! Only the generation whose request id the caller already has (the chat
//! response's `x-request-id`) is shown: a list would hand every visitor the
//! others' ids. With several replicas, a generation another replica's demo
//! model ran is found once it has ended (shared through Redis).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;

use crate::demo::{Generation, MAX_REQUEST_ID_CHARS};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct GenerationQuery {
    request_id: Option<String>,
}

/// The generation behind one request.
pub async fn generations(
    State(state): State<AppState>,
    query: Result<Query<GenerationQuery>, QueryRejection>,
) -> Result<Json<Generation>, ApiError> {
    let generations = state.demo.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "The demo model is not running: this server relays to an upstream model API.".into(),
        )
    })?;
    let request_id = query.ok().and_then(|Query(query)| query.request_id).unwrap_or_default();
    if request_id.is_empty() {
        return Err(ApiError::BadRequest(
            "Give the request id of your reply: ?request_id= with the chat response's x-request-id."
                .into(),
        ));
    }
    if let Some(generation) = generations.find(&request_id) {
        return Ok(Json(generation));
    }
    // The demo model records at most this much of a request id: a longer
    // one was never written anywhere.
    let shared = if request_id.chars().count() <= MAX_REQUEST_ID_CHARS {
        // With several replicas, another one's demo model may have run it.
        state
            .registry
            .demo_generation(&request_id)
            .await
            .map_err(|_| ApiError::RegistryUnavailable)?
    } else {
        None
    };
    shared.map(Json).ok_or_else(|| {
        ApiError::NotFound("The demo model has no generation with this request id.".into())
    })
}
