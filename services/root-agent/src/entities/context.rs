//! The caller's `context` object, merged over the parsed entities: context fields always win.
//! Recognised keys: `amount`, `currency`, `order_id`, `query`, `category`, `price_range`
//! (`{min, max}`), `min_price`, `max_price`, `page`, `page_size`. Wrong types are client errors.

use std::str::FromStr;

use intentmesh_core::{AgentError, ErrorCode, money as wire};
use intentmesh_proto::pb;
use prost_types::{Struct, Value, value::Kind};
use rust_decimal::Decimal;

use super::number::{self, Number};

fn field_error(code: ErrorCode, field: &str, expected: &str) -> AgentError {
    AgentError::new(code, format!("context.{field} must be {expected}"))
        .with("field", format!("context.{field}"))
}

fn kind(v: &Value) -> Option<&Kind> {
    v.kind.as_ref().filter(|k| !matches!(k, Kind::NullValue(_)))
}

/// A decimal from a JSON number or a numeric string (either separator convention).
fn decimal(v: &Value, field: &str, code: ErrorCode) -> Result<Decimal, AgentError> {
    let invalid = || field_error(code, field, "a number");
    match kind(v) {
        Some(Kind::NumberValue(n)) if n.is_finite() => {
            // `{}` prints the shortest text that reads back as the same f64: 100.1, not 100.0999…
            Decimal::from_str(&format!("{n}")).map_err(|_| {
                AgentError::new(
                    ErrorCode::AmountTooLarge,
                    format!("context.{field} is too large"),
                )
                .with("field", format!("context.{field}"))
            })
        }
        Some(Kind::StringValue(s)) => {
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
    match kind(v) {
        Some(Kind::StringValue(s)) => Ok(s.trim()),
        _ => Err(field_error(code, field, "a string")),
    }
}

fn positive_int(v: &Value, field: &str) -> Result<u32, AgentError> {
    match kind(v) {
        Some(Kind::NumberValue(n))
            if n.fract() == 0.0 && *n >= 1.0 && *n <= f64::from(u32::MAX) =>
        {
            Ok(*n as u32)
        }
        _ => Err(field_error(
            ErrorCode::InvalidField,
            field,
            "a positive integer",
        )),
    }
}

fn money(amount: Decimal, currency: &str, field: &str) -> Result<pb::Money, AgentError> {
    wire::to_money(amount, currency).map_err(|e| {
        AgentError::new(ErrorCode::InvalidAmount, format!("context.{field}: {e}"))
            .with("field", format!("context.{field}"))
    })
}

/// Merges `context` over `entities`.
pub(crate) fn merge(context: Option<&Struct>, e: &mut pb::Entities) -> Result<(), AgentError> {
    let Some(context) = context else {
        return Ok(());
    };
    let get = |k: &str| context.fields.get(k).filter(|v| kind(v).is_some());

    if let Some(v) = get("currency") {
        let code = string(v, "currency", ErrorCode::InvalidCurrency)?.to_ascii_uppercase();
        if code.is_empty() {
            return Err(field_error(
                ErrorCode::InvalidCurrency,
                "currency",
                "an ISO 4217 code",
            ));
        }
        if let Some(a) = e.amount.as_mut() {
            a.currency_code.clone_from(&code);
        }
        e.currency = Some(code);
    }
    let currency = e.currency.clone().unwrap_or_default();
    if let Some(v) = get("amount") {
        let amount = decimal(v, "amount", ErrorCode::InvalidAmount)?;
        e.amount = Some(money(amount, &currency, "amount")?);
    }
    if let Some(v) = get("order_id") {
        let id = match kind(v) {
            Some(Kind::StringValue(s)) => s.trim().trim_start_matches('#').trim().to_owned(),
            Some(Kind::NumberValue(n)) if n.fract() == 0.0 && *n >= 0.0 && *n < 9.0e15 => {
                format!("{}", *n as u64)
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
    let bound_currency = |parsed: &Option<pb::Money>| {
        e.currency
            .clone()
            .or_else(|| parsed.as_ref().map(|m| m.currency_code.clone()))
            .unwrap_or_default()
    };
    let mut min = None;
    let mut max = None;
    if let Some(v) = get("price_range") {
        let Some(Kind::StructValue(range)) = kind(v) else {
            return Err(field_error(
                ErrorCode::InvalidField,
                "price_range",
                "an object such as {\"min\": 10, \"max\": 50}",
            ));
        };
        let field = |k: &str| range.fields.get(k).filter(|v| kind(v).is_some());
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
        e.min_price = Some(money(m, &c, "price_range.min")?);
    }
    if let Some(m) = max {
        let c = bound_currency(&e.max_price);
        e.max_price = Some(money(m, &c, "price_range.max")?);
    }
    if let Some(v) = get("page") {
        e.page = Some(positive_int(v, "page")?);
    }
    if let Some(v) = get("page_size") {
        e.page_size = Some(positive_int(v, "page_size")?);
    }
    // Checked here, where the request is still at hand: queued work must not fail later for it.
    if let (Some(lo), Some(hi)) = (&e.min_price, &e.max_price)
        && lo.currency_code == hi.currency_code
        && let (Ok(lo), Ok(hi)) = (wire::from_money(lo), wire::from_money(hi))
        && lo > hi
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
    use super::*;
    use intentmesh_core::money::from_money;
    use std::collections::BTreeMap;

    fn obj(fields: &[(&str, Kind)]) -> Struct {
        Struct {
            fields: fields
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_owned(),
                        Value {
                            kind: Some(v.clone()),
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn context_wins_over_parsed_values() {
        let mut e = pb::Entities {
            amount: Some(wire::to_money(Decimal::from(100), "EUR").unwrap()),
            currency: Some("EUR".into()),
            order_id: Some("1".into()),
            ..Default::default()
        };
        let ctx = obj(&[
            ("order_id", Kind::StringValue("#12345".into())),
            ("currency", Kind::StringValue("usd".into())),
        ]);
        merge(Some(&ctx), &mut e).unwrap();
        assert_eq!(e.order_id.as_deref(), Some("12345"));
        assert_eq!(e.currency.as_deref(), Some("USD"));
        assert_eq!(e.amount.unwrap().currency_code, "USD");
    }

    #[test]
    fn price_range_max_is_max_price() {
        let range = obj(&[("max", Kind::NumberValue(50.0))]);
        let ctx = obj(&[("price_range", Kind::StructValue(range))]);
        let mut e = pb::Entities::default();
        merge(Some(&ctx), &mut e).unwrap();
        assert_eq!(
            from_money(e.max_price.as_ref().unwrap()).unwrap(),
            Decimal::from(50)
        );
        assert!(e.min_price.is_none());
    }

    #[test]
    fn amounts_keep_their_decimal_text() {
        let ctx = obj(&[
            ("amount", Kind::NumberValue(100.1)),
            ("currency", Kind::StringValue("USD".into())),
        ]);
        let mut e = pb::Entities::default();
        merge(Some(&ctx), &mut e).unwrap();
        assert_eq!(
            from_money(e.amount.as_ref().unwrap()).unwrap().to_string(),
            "100.1"
        );
        let ctx = obj(&[("amount", Kind::StringValue("1.234,50".into()))]);
        merge(Some(&ctx), &mut e).unwrap();
        assert_eq!(
            from_money(e.amount.as_ref().unwrap()).unwrap().to_string(),
            "1234.5"
        );
    }

    #[test]
    fn wrong_types_are_named_errors() {
        let cases = [
            (
                "amount",
                Kind::StringValue("abc".into()),
                ErrorCode::InvalidAmount,
            ),
            ("amount", Kind::BoolValue(true), ErrorCode::InvalidAmount),
            (
                "currency",
                Kind::NumberValue(1.0),
                ErrorCode::InvalidCurrency,
            ),
            ("order_id", Kind::BoolValue(true), ErrorCode::InvalidOrderId),
            (
                "price_range",
                Kind::NumberValue(5.0),
                ErrorCode::InvalidField,
            ),
            ("page", Kind::NumberValue(0.5), ErrorCode::InvalidField),
        ];
        for (key, value, code) in cases {
            let ctx = obj(&[(key, value)]);
            let err = merge(Some(&ctx), &mut pb::Entities::default()).unwrap_err();
            assert_eq!(err.code, code, "{key}");
            assert_eq!(err.details["field"], format!("context.{key}"));
        }
    }

    #[test]
    fn nulls_are_absent() {
        let ctx = obj(&[("order_id", Kind::NullValue(0))]);
        let mut e = pb::Entities::default();
        merge(Some(&ctx), &mut e).unwrap();
        assert!(e.order_id.is_none());
    }
}
