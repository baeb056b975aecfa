//! What handlers take from a request, each checked once, here: the `POST /process` body, the
//! `Idempotency-Key` header and the `Prefer` header (the request id has its own module). A bad one
//! is rejected with the API error.

mod body;
mod prefer;

use axum::{extract::FromRequestParts, http::request::Parts};
use intentmesh_core::ErrorCode;

pub use body::ProcessBody;
pub use prefer::Prefer;

use crate::error::ApiError;

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(raw) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let key =
            raw.to_str().ok().map(str::trim).filter(|k| {
                !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic())
            });
        key.map(|k| Self(Some(k.to_owned()))).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidField,
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
            .with("field", "Idempotency-Key")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idempotency_keys_are_checked() {
        let parts = |value: &str| {
            let (parts, ()) = axum::http::Request::builder()
                .header("idempotency-key", value)
                .body(())
                .unwrap()
                .into_parts();
            parts
        };
        let mut too_long = parts(&"k".repeat(300));
        assert!(
            IdempotencyKey::from_request_parts(&mut too_long, &())
                .await
                .is_err()
        );
        let mut fine = parts("order-1");
        assert_eq!(
            IdempotencyKey::from_request_parts(&mut fine, &())
                .await
                .unwrap()
                .0
                .as_deref(),
            Some("order-1")
        );
    }
}
