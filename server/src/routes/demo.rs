//! `GET /api/demo/generations`: what the demo model did, newest first.

use axum::Json;
use axum::extract::State;

use crate::demo::Generation;
use crate::error::ApiError;
use crate::state::AppState;

/// Every generation the demo model remembers, newest first.
pub async fn generations(State(state): State<AppState>) -> Result<Json<Vec<Generation>>, ApiError> {
    let generations = state.demo.ok_or_else(|| {
        ApiError::NotFound(
            "The demo model is not running: this server relays to an upstream model API.".into(),
        )
    })?;
    Ok(Json(generations.newest_first()))
}
