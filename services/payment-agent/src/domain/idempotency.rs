//! The key a payment is recorded under, so that no retry anywhere can charge twice: the
//! caller's `Idempotency-Key`, else one derived from the order, amount and currency when there is
//! an order, else the attempt id the gateway minted for the HTTP request (a retry inside the mesh
//! carries it), else — for callers inside the mesh that send none — their request id. Every key
//! is scoped to the user; the client's `X-Request-Id` never is one.

use super::validate::ValidPayment;

/// Chooses the ledger key for a payment.
pub fn key_for(
    user_id: &str,
    header_key: Option<&str>,
    attempt_id: &str,
    request_id: &str,
    payment: &ValidPayment,
) -> String {
    let user = escape(user_id);
    if let Some(key) = header_key.filter(|k| !k.is_empty()) {
        return format!("key:{user}:{key}");
    }
    if let Some(order) = &payment.order_id {
        return format!(
            "order:{user}:{order}:{}:{}",
            payment.amount_minor, payment.currency
        );
    }
    if !attempt_id.is_empty() {
        return format!("attempt:{user}:{attempt_id}");
    }
    // Not `request:`, which keys written before were scoped to no user.
    format!("rid:{user}:{request_id}")
}

/// What makes two requests "the same payment": a replay must match it exactly.
pub fn fingerprint(user_id: &str, payment: &ValidPayment) -> String {
    format!(
        "{}|{}|{}|{}",
        escape(user_id),
        payment.order_id.as_deref().unwrap_or(""),
        payment.amount_minor,
        payment.currency
    )
}

/// User ids are free text: keep the separators unambiguous.
fn escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace(':', "%3A")
        .replace('|', "%7C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use intentmesh_core::money::Decimal;

    fn payment(order: Option<&str>, minor: i64) -> ValidPayment {
        ValidPayment {
            amount: Decimal::new(minor, 2),
            amount_minor: minor,
            currency: "USD",
            exponent: 2,
            order_id: order.map(str::to_owned),
        }
    }

    #[test]
    fn header_key_wins_then_order_then_attempt_then_request() {
        let p = payment(Some("12345"), 10_000);
        assert_eq!(key_for("u", Some("k1"), "a1", "req-1", &p), "key:u:k1");
        assert_eq!(
            key_for("u", None, "a1", "req-1", &p),
            "order:u:12345:10000:USD"
        );
        let no_order = payment(None, 1);
        assert_eq!(key_for("u", None, "a1", "req-1", &no_order), "attempt:u:a1");
        assert_eq!(key_for("u", None, "", "req-1", &no_order), "rid:u:req-1");
    }

    #[test]
    fn user_ids_cannot_forge_each_others_keys() {
        let p = payment(Some("1"), 1);
        assert_ne!(
            key_for("a:b", None, "", "r", &p),
            key_for("a", None, "", "r", &payment(Some("b:1"), 1))
        );
        assert_ne!(
            key_for("a:b", Some("c"), "", "r", &p),
            key_for("a", Some("b:c"), "", "r", &p)
        );
        // The same request id from two users is two keys.
        let none = payment(None, 1);
        assert_ne!(
            key_for("alice", None, "", "r", &none),
            key_for("bob", None, "", "r", &none)
        );
    }
}
