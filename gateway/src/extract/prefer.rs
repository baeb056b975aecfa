//! The `Prefer` request header (RFC 7240): `respond-async` and `wait=N`.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, request::Parts},
};

/// What the client prefers. Unknown or malformed preferences are ignored, as the RFC asks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefer {
    pub respond_async: bool,
    pub wait: Option<Duration>,
}

impl<S: Send + Sync> FromRequestParts<S> for Prefer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self::from_headers(&parts.headers))
    }
}

impl Prefer {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let mut prefer = Self::default();
        for value in headers.get_all("prefer") {
            let Ok(value) = value.to_str() else { continue };
            for preference in value.split(',') {
                // Parameters after ';' do not concern the preferences we know.
                let token = preference.split(';').next().unwrap_or_default().trim();
                let (name, arg) = match token.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (token, None),
                };
                if name.eq_ignore_ascii_case("respond-async") {
                    prefer.respond_async = true;
                } else if name.eq_ignore_ascii_case("wait")
                    && let Some(secs) = arg.and_then(|a| a.parse::<u64>().ok())
                {
                    prefer.wait = Some(Duration::from_secs(secs));
                }
            }
        }
        prefer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn parse(values: &[&str]) -> Prefer {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("prefer", HeaderValue::from_str(v).unwrap());
        }
        Prefer::from_headers(&headers)
    }

    #[test]
    fn reads_respond_async_and_wait_in_any_arrangement() {
        assert_eq!(parse(&[]), Prefer::default());
        assert!(parse(&["respond-async"]).respond_async);
        assert!(parse(&["Respond-Async; foo=bar"]).respond_async);
        let p = parse(&["respond-async, wait=5"]);
        assert_eq!(
            (p.respond_async, p.wait),
            (true, Some(Duration::from_secs(5)))
        );
        assert_eq!(parse(&["wait=\"3\""]).wait, Some(Duration::from_secs(3)));
        let p = parse(&["handling=lenient", "wait=2"]);
        assert_eq!(
            (p.respond_async, p.wait),
            (false, Some(Duration::from_secs(2)))
        );
    }

    #[test]
    fn ignores_what_it_cannot_read() {
        assert_eq!(parse(&["wait=soon"]).wait, None);
        assert_eq!(parse(&["wait=-1"]).wait, None);
        assert_eq!(parse(&["respond-asynchronously"]), Prefer::default());
    }
}
