//! The key a payment is recorded under, so that no retry anywhere can charge twice:
//! the caller's `Idempotency-Key` (scoped to the user), else one derived from user, order, amount
//! and currency when there is an order, else the request's own id carried on every hop.

use super::validate::ValidPayment;

/// Chooses the ledger key for a payment.
pub fn key_for(
    user_id: &str,
    header_key: Option<&str>,
    request_id: &str,
    payment: &ValidPayment,
) -> String {
    if let Some(key) = header_key.filter(|k| !k.is_empty()) {
        return format!("key:{}:{key}", escape(user_id));
    }
    if let Some(order) = &payment.order_id {
        return format!(
            "order:{}:{order}:{}:{}",
            escape(user_id),
            payment.amount_minor,
            payment.currency
        );
    }
    format!("request:{request_id}")
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
    fn header_key_wins_then_order_then_request() {
        let p = payment(Some("12345"), 10_000);
        assert_eq!(key_for("u", Some("k1"), "req-1", &p), "key:u:k1");
        assert_eq!(key_for("u", None, "req-1", &p), "order:u:12345:10000:USD");
        assert_eq!(
            key_for("u", None, "req-1", &payment(None, 1)),
            "request:req-1"
        );
    }

    #[test]
    fn user_ids_cannot_forge_each_others_keys() {
        let p = payment(Some("1"), 1);
        assert_ne!(
            key_for("a:b", None, "r", &p),
            key_for("a", None, "r", &payment(Some("b:1"), 1))
        );
        assert_ne!(
            key_for("a:b", Some("c"), "r", &p),
            key_for("a", Some("b:c"), "r", &p)
        );
    }
}
