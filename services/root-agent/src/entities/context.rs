//! The caller's `context` object, merged over the parsed entities: context fields always win.
//! Recognised keys: `amount`, `currency`, `order_id`, `query`, `category`, `price_range`
//! (`{min, max}`), `min_price`, `max_price`, `page`, `page_size`. Wrong types are client errors.

use std::str::FromStr;

use intentmesh_core::{
    AgentError, ErrorCode,
    agent::{Context, Entities},
    money::{Decimal, Money},
};
use intentmesh_entities::number::{self, Number};
use serde_json::Value;

fn field_error(code: ErrorCode, field: &str, expected: &str) -> AgentError {
    AgentError::new(code, format!("context.{field} must be {expected}"))
        .with("field", format!("context.{field}"))
}

/// The value, unless it is null (a null field counts as absent).
fn present(v: &Value) -> Option<&Value> {
    (!v.is_null()).then_some(v)
}

/// A decimal from a JSON number or a numeric string (either separator convention).
fn decimal(v: &Value, field: &str, code: ErrorCode) -> Result<Decimal, AgentError> {
    let invalid = || field_error(code, field, "a number");
    match present(v) {
        Some(Value::Number(n)) => {
            let n = n.as_f64().filter(|n| n.is_finite()).ok_or_else(invalid)?;
            // `{}` prints the shortest text that reads back as the same f64: 100.1, not 100.0999…
            Decimal::from_str(&format!("{n}")).map_err(|_| {
                AgentError::new(
                    ErrorCode::AmountTooLarge,
                    format!("context.{field} is too large"),
                )
                .with("field", format!("context.{field}"))
            })
        }
        Some(Value::String(s)) => {
            let s = s.trim();
            let (negative, digits) = match s.strip_prefix('-') {
                Some(rest) => (true, rest.trim_start()),
                None => (false, s),
            };
            match number::parse(digits) {
                Some(Number::Value(d))
                    if digits
                        .chars()
                        .all(|c| c.is_ascii_digit() || ",.' ".contains(c)) =>
                {
                    Ok(if negative { -d } else { d })
                }
                Some(Number::TooLarge) => Err(AgentError::new(
                    ErrorCode::AmountTooLarge,
                    format!("context.{field} is too large"),
                )
                .with("field", format!("context.{field}"))),
                _ => Err(invalid()),
            }
        }
        _ => Err(invalid()),
    }
}

fn string<'a>(v: &'a Value, field: &str, code: ErrorCode) -> Result<&'a str, AgentError> {
    match present(v) {
        Some(Value::String(s)) => Ok(s.trim()),
        _ => Err(field_error(code, field, "a string")),
    }
}

fn positive_int(v: &Value, field: &str) -> Result<u32, AgentError> {
    match present(v).and_then(Value::as_f64) {
        Some(n) if n.fract() == 0.0 && n >= 1.0 && n <= f64::from(u32::MAX) => Ok(n as u32),
        _ => Err(field_error(
            ErrorCode::InvalidField,
            field,
            "a positive integer",
        )),
    }
}

fn money(amount: Decimal, currency: Option<String>, field: &str) -> Result<Money, AgentError> {
    Money::new(amount, currency).map_err(|e| {
        AgentError::new(ErrorCode::InvalidAmount, format!("context.{field}: {e}"))
            .with("field", format!("context.{field}"))
    })
}

/// Merges `context` over `entities`.
pub(crate) fn merge(context: &Context, e: &mut Entities) -> Result<(), AgentError> {
    if context.is_empty() {
        return Ok(());
    }
    let get = |k: &str| context.get(k).and_then(present);

    if let Some(v) = get("currency") {
        let code = string(v, "currency", ErrorCode::InvalidCurrency)?.to_ascii_uppercase();
        if code.is_empty() {
            return Err(field_error(
                ErrorCode::InvalidCurrency,
                "currency",
                "an ISO 4217 code",
            ));
        }
        e.amount = e.amount.take().map(|a| a.in_currency(Some(code.clone())));
        e.currency = Some(code);
    }
    if let Some(v) = get("amount") {
        let amount = decimal(v, "amount", ErrorCode::InvalidAmount)?;
        e.amount = Some(money(amount, e.currency.clone(), "amount")?);
    }
    if let Some(v) = get("order_id") {
        let id = match v {
            Value::String(s) => s.trim().trim_start_matches('#').trim().to_owned(),
            Value::Number(n)
                if n.as_f64()
                    .is_some_and(|n| n.fract() == 0.0 && (0.0..9.0e15).contains(&n)) =>
            {
                format!("{}", n.as_f64().unwrap_or_default() as u64)
            }
            _ => {
                return Err(field_error(
                    ErrorCode::InvalidOrderId,
                    "order_id",
                    "a string",
                ));
            }
        };
        e.order_id = Some(id);
    }
    if let Some(v) = get("query") {
        e.query = Some(string(v, "query", ErrorCode::InvalidField)?.to_lowercase());
    }
    if let Some(v) = get("category") {
        e.category = Some(string(v, "category", ErrorCode::InvalidField)?.to_lowercase());
    }
    let bound_currency = |parsed: &Option<Money>| {
        e.currency.clone().or_else(|| {
            parsed
                .as_ref()
                .and_then(|m| m.currency().map(str::to_owned))
        })
    };
    let mut min = None;
    let mut max = None;
    if let Some(v) = get("price_range") {
        let Value::Object(range) = v else {
            return Err(field_error(
                ErrorCode::InvalidField,
                "price_range",
                "an object such as {\"min\": 10, \"max\": 50}",
            ));
        };
        let field = |k: &str| range.get(k).and_then(present);
        min = field("min")
            .map(|v| decimal(v, "price_range.min", ErrorCode::InvalidPriceRange))
            .transpose()?;
        max = field("max")
            .map(|v| decimal(v, "price_range.max", ErrorCode::InvalidPriceRange))
            .transpose()?;
    }
    if let Some(v) = get("min_price") {
        min = Some(decimal(v, "min_price", ErrorCode::InvalidPriceRange)?);
    }
    if let Some(v) = get("max_price") {
        max = Some(decimal(v, "max_price", ErrorCode::InvalidPriceRange)?);
    }
    if let Some(m) = min {
        let c = bound_currency(&e.min_price);
        e.min_price = Some(money(m, c, "price_range.min")?);
    }
    if let Some(m) = max {
        let c = bound_currency(&e.max_price);
        e.max_price = Some(money(m, c, "price_range.max")?);
    }
    if let Some(v) = get("page") {
        e.page = Some(positive_int(v, "page")?);
    }
    if let Some(v) = get("page_size") {
        e.page_size = Some(positive_int(v, "page_size")?);
    }
    // Checked here, where the request is still at hand: queued work must not fail later for it.
    if let (Some(lo), Some(hi)) = (&e.min_price, &e.max_price)
        && lo.currency() == hi.currency()
        && lo.amount() > hi.amount()
    {
        return Err(AgentError::new(
            ErrorCode::InvalidPriceRange,
            "min_price is greater than max_price",
        )
        .with("field", "min_price"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(value: Value) -> Context {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn usd(amount: i64, currency: &str) -> Money {
        Money::new(Decimal::from(amount), Some(currency.into())).unwrap()
    }

    #[test]
    fn context_wins_over_parsed_values() {
        let mut e = Entities {
            amount: Some(usd(100, "EUR")),
            currency: Some("EUR".into()),
            order_id: Some("1".into()),
            ..Default::default()
        };
        merge(
            &obj(json!({"order_id": "#12345", "currency": "usd"})),
            &mut e,
        )
        .unwrap();
        assert_eq!(e.order_id.as_deref(), Some("12345"));
        assert_eq!(e.currency.as_deref(), Some("USD"));
        assert_eq!(e.amount.unwrap().currency(), Some("USD"));
    }

    #[test]
    fn price_range_max_is_max_price() {
        let mut e = Entities::default();
        merge(&obj(json!({"price_range": {"max": 50.0}})), &mut e).unwrap();
        assert_eq!(e.max_price.unwrap().amount(), Decimal::from(50));
        assert!(e.min_price.is_none());
    }

    #[test]
    fn amounts_keep_their_decimal_text() {
        let mut e = Entities::default();
        merge(&obj(json!({"amount": 100.1, "currency": "USD"})), &mut e).unwrap();
        assert_eq!(e.amount.as_ref().unwrap().amount().to_string(), "100.1");
        merge(&obj(json!({"amount": "1.234,50"})), &mut e).unwrap();
        assert_eq!(e.amount.as_ref().unwrap().amount().to_string(), "1234.5");
    }

    #[test]
    fn wrong_types_are_named_errors() {
        let cases = [
            ("amount", json!("abc"), ErrorCode::InvalidAmount),
            ("amount", json!(true), ErrorCode::InvalidAmount),
            ("currency", json!(1.0), ErrorCode::InvalidCurrency),
            ("order_id", json!(true), ErrorCode::InvalidOrderId),
            ("price_range", json!(5.0), ErrorCode::InvalidField),
            ("page", json!(0.5), ErrorCode::InvalidField),
        ];
        for (key, value, code) in cases {
            let mut context = Context::new();
            context.insert(key.to_owned(), value);
            let err = merge(&context, &mut Entities::default()).unwrap_err();
            assert_eq!(err.code, code, "{key}");
            assert_eq!(err.details["field"], format!("context.{key}"));
        }
    }

    #[test]
    fn nulls_are_absent() {
        let mut e = Entities::default();
        merge(&obj(json!({"order_id": null})), &mut e).unwrap();
        assert!(e.order_id.is_none());
    }
}
