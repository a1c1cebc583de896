//! GET /health: `{status, version}`, 503 when the store cannot be read.

use crate::server::error::ApiError;
use crate::server::respond::{json, Body};
use crate::server::state::AppState;
use hyper::{Response, StatusCode};
use serde_json::json;

/// Liveness and store health.
pub fn get(state: &AppState) -> Result<Response<Body>, ApiError> {
    if !state.auth.is_healthy() {
        return Err(ApiError::Unavailable);
    }
    Ok(json(StatusCode::OK, &json!({"status": "healthy", "version": env!("CARGO_PKG_VERSION")})))
}
