//! Building successful responses: JSON with an `ETag`, conditional `GET` (`If-None-Match` → 304), and the
//! idempotency record of a `POST`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::problem::ApiError;
use crate::store::idempotency::StoredResponse;

/// A JSON response with an ETag. For a `GET` whose `If-None-Match` already names that ETag, a bodyless 304.
pub fn with_etag<T: Serialize>(req: &HttpRequest, status: StatusCode, body: &T, etag: &str) -> HttpResponse {
    if req.method() == actix_web::http::Method::GET && if_none_match(req, etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.to_string()))
            .finish();
    }
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag.to_string()))
        .json(body)
}

/// A JSON response whose ETag is a digest of the body: for lists and other composite documents.
pub fn hashed<T: Serialize>(req: &HttpRequest, body: &T) -> Result<HttpResponse, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let digest = Sha256::digest(&bytes);
    let etag = format!("W/\"{}\"", hex::encode(&digest[..10]));
    if req.method() == actix_web::http::Method::GET && if_none_match(req, &etag) {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(bytes))
}

/// `If-None-Match` compares weakly (RFC 9110 §13.1.2).
pub(super) fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    let Some(value) = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_string();
    value
        .split(',')
        .any(|candidate| candidate.trim() == "*" || weak(candidate) == weak(etag))
}

/// A response about to be sent, in the form it is remembered for `Idempotency-Key` replays.
pub fn stored<T: Serialize>(
    status: StatusCode,
    body: &T,
    headers: Vec<(String, String)>,
    request_hash: String,
) -> Result<StoredResponse, ApiError> {
    Ok(StoredResponse {
        request_hash,
        status: status.as_u16(),
        body: serde_json::to_string(body).map_err(|e| ApiError::Internal(e.to_string()))?,
        headers,
        created_at: crate::store::now(),
    })
}

/// Turns a stored response into the HTTP response, marking replays.
pub fn replay(r: &StoredResponse, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK));
    response.insert_header((header::CONTENT_TYPE, "application/json"));
    for (name, value) in &r.headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.body(r.body.clone())
}
