//! Deadlines across hops: read the caller's `grpc-timeout` and give the next hop what is left.

use std::time::Duration;

/// The `grpc-timeout` the caller sent, if any (`"100m"`, `"10S"`, ...).
pub fn incoming_timeout(metadata: &tonic::metadata::MetadataMap) -> Option<Duration> {
    metadata
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
}

/// Parses the gRPC wire format: up to 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
pub fn parse_grpc_timeout(raw: &str) -> Option<Duration> {
    if raw.len() < 2 || raw.len() > 9 {
        return None;
    }
    let (digits, unit) = raw.split_at(raw.len() - 1);
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value.checked_mul(3600)?),
        "M" => Duration::from_secs(value.checked_mul(60)?),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// The budget for the next hop: the caller's remaining time, capped by our own limit.
pub fn budget(metadata: &tonic::metadata::MetadataMap, own_limit: Duration) -> Duration {
    incoming_timeout(metadata).map_or(own_limit, |t| t.min(own_limit))
}

/// When the answer to a request is needed: now plus its [`budget`].
pub fn from_metadata(
    metadata: &tonic::metadata::MetadataMap,
    own_limit: Duration,
) -> tokio::time::Instant {
    tokio::time::Instant::now() + budget(metadata, own_limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_parses() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None);
        assert_eq!(parse_grpc_timeout("S"), None);
    }

    #[test]
    fn budget_takes_the_smaller() {
        let mut md = tonic::metadata::MetadataMap::new();
        assert_eq!(budget(&md, Duration::from_secs(3)), Duration::from_secs(3));
        md.insert("grpc-timeout", "500m".parse().unwrap());
        assert_eq!(
            budget(&md, Duration::from_secs(3)),
            Duration::from_millis(500)
        );
    }
}
