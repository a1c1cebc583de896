//! /api/v1/users/me/mfa: the caller's second factors (SPEC §10): state, TOTP
//! enrollment with its QR code, confirmation, removal, and recovery codes; and
//! the admin's reset. Enrollment accepts an enrollment token too (see the route
//! table's `Enrolling`), so a user whose role requires a factor can enroll before
//! they have a session.

use super::UserResponse;
use crate::server::error::ApiError;
use crate::server::extract::{json_object, Fields};
use crate::server::request::Req;
use crate::server::respond::{json, no_store, Body};
use crate::server::state::AppState;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::json;

/// GET /users/me/mfa → where the caller stands.
pub async fn status(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let who = req.caller()?.clone();
    let s = state.blocking(move |auth| auth.mfa_status(&who)).await?;
    Ok(no_store(json(
        StatusCode::OK,
        &json!({
            "totp": s.totp,
            "totp_pending": s.totp_pending,
            "recovery_codes_left": s.recovery_codes_left,
            "passkeys": s.passkeys,
            "required": s.required,
        }),
    )))
}

/// POST /users/me/mfa/totp → `{secret, otpauth_uri}`: a new secret, not active
/// until confirmed. Any body is ignored.
pub async fn totp_begin(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let who = req.caller()?.clone();
    let e = state.blocking(move |auth| auth.totp_begin(&who)).await?;
    Ok(no_store(json(StatusCode::OK, &json!({"secret": e.secret, "otpauth_uri": e.otpauth_uri}))))
}

/// GET /users/me/mfa/totp/qr → the pending secret's `otpauth://` URI as an SVG
/// QR code, for the account page to show inline (404 when nothing is pending).
pub async fn totp_qr(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let who = req.caller()?.clone();
    let uri = state.blocking(move |auth| auth.totp_pending_uri(&who)).await?;
    let Some(uri) = uri else {
        return Err(crate::domain::Error::NotFound("No TOTP enrollment in progress").into());
    };
    let svg = qr_svg(&uri).ok_or_else(|| crate::domain::Error::Internal("QR code too large".into()))?;
    let mut r = Response::new(Full::new(Bytes::from(svg)));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `data` as a QR code in SVG (black on white, with its quiet zone).
fn qr_svg(data: &str) -> Option<String> {
    use qrcode::{render::svg, EcLevel, QrCode};
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

/// The `code` field of a JSON body.
fn code_field(req: &Req) -> Result<String, ApiError> {
    let mut f = Fields::new(json_object(&req.head, &req.body)?);
    let code = f.required("code");
    f.finish()?;
    Ok(code)
}

fn recovery_codes(codes: &[String]) -> Response<Body> {
    no_store(json(StatusCode::OK, &json!({ "recovery_codes": codes })))
}

/// POST /users/me/mfa/totp/confirm `{code}` → `{recovery_codes}` (shown once).
pub async fn totp_confirm(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let code = code_field(&req)?;
    let (ctx, who) = (req.ctx(), req.caller()?.clone());
    let codes = state.blocking(move |auth| auth.totp_confirm(&ctx, &who, &code)).await?;
    Ok(recovery_codes(&codes))
}

/// DELETE /users/me/mfa/totp `{code}` (a current or a recovery code) → 204.
pub async fn totp_remove(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let code = code_field(&req)?;
    let (ctx, who) = (req.ctx(), req.caller()?.clone());
    state.blocking(move |auth| auth.totp_remove(&ctx, &who, &code)).await?;
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

/// POST /users/me/mfa/recovery-codes `{code}` → `{recovery_codes}`: new ones
/// replace the old.
pub async fn regenerate(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let code = code_field(&req)?;
    let (ctx, who) = (req.ctx(), req.caller()?.clone());
    let codes = state.blocking(move |auth| auth.regenerate_recovery_codes(&ctx, &who, &code)).await?;
    Ok(recovery_codes(&codes))
}

/// POST /admin/users/{user_id}/reset-mfa → UserResponse.
pub async fn admin_reset(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let target = super::admin::user_id(&req)?;
    let (ctx, who) = (req.ctx(), req.caller()?.clone());
    let user = state.blocking(move |auth| auth.reset_mfa(&ctx, &who, target)).await?;
    Ok(json(StatusCode::OK, &UserResponse::from(&user)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn qr_code_is_an_svg() {
        let svg = super::qr_svg("otpauth://totp/example.com:alice?secret=ABC&issuer=example.com").unwrap();
        assert!(
            svg.starts_with("<?xml") && svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
    }
}
