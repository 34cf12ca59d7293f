//! `GET /api/demo/generations?request_id=…`: what the demo model did for one
//! request.
//!
//! Only the generation whose request id the caller already has (the chat
//! response's `x-request-id`) is shown: a list would hand every visitor the
//! others' ids.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;

use crate::demo::Generation;
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
    generations.find(&request_id).map(Json).ok_or_else(|| {
        ApiError::NotFound("The demo model has no generation with this request id.".into())
    })
}
