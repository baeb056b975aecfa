//! Wire ⇄ domain, once. `From` where every domain value has a message; `TryFrom` where a message
//! may hold what the domain refuses (an amount whose units and nanos disagree), with a
//! [`WireError`] naming the field.

mod card;
mod reply;
mod request;
mod route;

use intentmesh_core::{
    AgentError, ErrorCode,
    money::{Decimal, Money},
};

use crate::pb;

pub use reply::{response_from_wire, response_to_wire};

/// A message that does not fit the domain: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct WireError {
    /// The field's path (`entities.amount`, `result.payment.amount`).
    pub field: String,
    pub reason: String,
}

impl WireError {
    pub(crate) fn new(field: &str, reason: impl ToString) -> Self {
        Self {
            field: field.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// The same error, one level down: `entities` + `amount` → `entities.amount`.
    pub fn under(self, parent: &str) -> Self {
        Self {
            field: format!("{parent}.{}", self.field),
            reason: self.reason,
        }
    }

    /// The answer for a caller whose request held it: the code of the entity it is about
    /// (`invalid_amount`, `invalid_price_range`), else `invalid_request`, naming the field.
    pub fn into_request_error(self) -> AgentError {
        let leaf = self.field.rsplit('.').next().unwrap_or_default();
        let code = match leaf {
            "amount" => ErrorCode::InvalidAmount,
            "min_price" | "max_price" => ErrorCode::InvalidPriceRange,
            _ => ErrorCode::InvalidRequest,
        };
        AgentError::new(
            code,
            format!("{} is not valid: {}", self.field, self.reason),
        )
        .with("field", leaf)
    }

    /// The answer when another service's answer held it: `upstream_error`.
    pub fn into_upstream_error(self, agent: &str) -> AgentError {
        AgentError::new(
            ErrorCode::UpstreamError,
            format!("the {agent} agent answered something this one cannot use"),
        )
        .with("agent", agent)
        .caused_by(self)
    }
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;

impl From<&Money> for pb::Money {
    fn from(money: &Money) -> Self {
        // `Money` holds at most nine decimals and units within 64 bits (its constructor checks),
        // so neither conversion below can fail.
        let amount = money.amount();
        let total_nanos = amount.mantissa() * 10i128.pow(9 - amount.scale().min(9));
        Self {
            currency_code: money.currency().unwrap_or_default().to_owned(),
            units: i64::try_from(total_nanos / NANOS_PER_UNIT).unwrap_or(i64::MAX),
            nanos: i32::try_from(total_nanos % NANOS_PER_UNIT).unwrap_or(0),
        }
    }
}

impl From<Money> for pb::Money {
    fn from(money: Money) -> Self {
        Self::from(&money)
    }
}

impl TryFrom<&pb::Money> for Money {
    type Error = WireError;

    fn try_from(money: &pb::Money) -> Result<Self, WireError> {
        if money.nanos.unsigned_abs() >= 1_000_000_000
            || (money.units > 0 && money.nanos < 0)
            || (money.units < 0 && money.nanos > 0)
        {
            return Err(WireError::new(
                "",
                "units and nanos have different signs or nanos is out of range",
            ));
        }
        let total = i128::from(money.units) * NANOS_PER_UNIT + i128::from(money.nanos);
        let amount = Decimal::try_from_i128_with_scale(total, 9)
            .map_err(|_| WireError::new("", "amount does not fit in 64-bit units"))?;
        let currency = Some(money.currency_code.clone()).filter(|c| !c.is_empty());
        Money::new(amount, currency).map_err(|e| WireError::new("", e))
    }
}

/// An optional money field: `None` stays `None`, a bad one names `field`.
pub(crate) fn money_field(
    money: Option<&pb::Money>,
    field: &str,
) -> Result<Option<Money>, WireError> {
    money
        .map(|m| {
            Money::try_from(m).map_err(|e| WireError {
                field: field.to_owned(),
                reason: e.reason,
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    fn money(amount: &str, currency: &str) -> Money {
        Money::new(
            Decimal::from_str(amount).unwrap(),
            Some(currency.to_owned()),
        )
        .unwrap()
    }

    #[test]
    fn known_values_convert() {
        let m = pb::Money::from(money("100.25", "USD"));
        assert_eq!(
            (m.units, m.nanos, m.currency_code.as_str()),
            (100, 250_000_000, "USD")
        );
        let m = pb::Money::from(money("-0.5", "EUR"));
        assert_eq!((m.units, m.nanos), (0, -500_000_000));
        let none = Money::new(Decimal::from(5), None).unwrap();
        assert_eq!(pb::Money::from(&none).currency_code, "");
        assert_eq!(Money::try_from(&pb::Money::from(&none)).unwrap(), none);
    }

    #[test]
    fn malformed_money_is_refused() {
        let bad = pb::Money {
            currency_code: "USD".into(),
            units: 1,
            nanos: -1,
        };
        assert!(Money::try_from(&bad).is_err());
        let err = money_field(Some(&bad), "amount").unwrap_err();
        assert_eq!(err.field, "amount");
        assert_eq!(
            err.under("entities").into_request_error().code,
            ErrorCode::InvalidAmount
        );
    }

    proptest! {
        #[test]
        fn money_survives_the_wire(total_nanos in -(10i128.pow(27))..10i128.pow(27)) {
            let amount = Decimal::from_i128_with_scale(total_nanos, 9);
            let m = Money::new(amount, Some("USD".into())).unwrap();
            let back = Money::try_from(&pb::Money::from(&m)).unwrap();
            prop_assert_eq!(back, m);
        }
    }
}
