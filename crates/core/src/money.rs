//! Money: an exact [`Decimal`] amount and, once known, its ISO 4217 currency.
//!
//! An amount is exact from the message text to the ledger: the parsers read it as a decimal, it
//! crosses gRPC as `google.type.Money` (`units` + `nanos`, see the proto crate) and the JSON of
//! queued work as a decimal string. [`Money::new`] admits only what that wire form can carry (at
//! most nine decimal places, whole units within 64 bits), so every conversion after it is total.

use std::fmt;

pub use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The largest number of decimal places an amount may have (`nanos`).
pub const MAX_SCALE: u32 = 9;

/// Why an amount is not money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount has more than 9 decimal places")]
    TooPrecise,
    #[error("amount does not fit in 64-bit units")]
    OutOfRange,
}

/// An amount, exact, and its currency when one was given (`$100` has one, `100` not yet).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Unchecked")]
pub struct Money {
    amount: Decimal,
    /// ISO 4217, upper case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
}

#[derive(Deserialize)]
struct Unchecked {
    amount: Decimal,
    #[serde(default)]
    currency: Option<String>,
}

impl TryFrom<Unchecked> for Money {
    type Error = MoneyError;

    fn try_from(raw: Unchecked) -> Result<Self, MoneyError> {
        Self::new(raw.amount, raw.currency)
    }
}

impl Money {
    /// `amount` (normalised: `100.00` is `100`) in `currency` (upper-cased; empty means none).
    pub fn new(amount: Decimal, currency: Option<String>) -> Result<Self, MoneyError> {
        let amount = amount.normalize();
        if amount.scale() > MAX_SCALE {
            return Err(MoneyError::TooPrecise);
        }
        if amount.trunc().abs() > Decimal::from(i64::MAX) {
            return Err(MoneyError::OutOfRange);
        }
        Ok(Self {
            amount,
            currency: currency.and_then(|mut c| {
                // In place: most currencies arrive trimmed and upper case already.
                if c.trim().len() != c.len() {
                    c = c.trim().to_owned();
                }
                c.make_ascii_uppercase();
                (!c.is_empty()).then_some(c)
            }),
        })
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Option<&str> {
        self.currency.as_deref()
    }

    /// The same amount in `currency` (a currency given apart from the amount: `context.currency`).
    #[must_use]
    pub fn in_currency(mut self, currency: Option<String>) -> Self {
        self.currency = currency
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty());
        self
    }

    /// The amount as the nearest `f64`, for JSON answers that show a number (`100.0`). Exactness
    /// stays in the ledger.
    pub fn to_f64(&self) -> f64 {
        // Through the decimal text: the nearest double to the exact value, so 49.99 prints 49.99.
        self.amount.to_string().parse().unwrap_or(f64::NAN)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.currency {
            Some(c) => write!(f, "{} {c}", self.amount),
            None => write!(f, "{}", self.amount),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn only_what_the_wire_carries_is_money() {
        let m = Money::new(d("100.250"), Some("usd".into())).unwrap();
        assert_eq!((m.amount(), m.currency()), (d("100.25"), Some("USD")));
        assert_eq!(
            Money::new(d("0.0000000001"), None),
            Err(MoneyError::TooPrecise)
        );
        assert_eq!(
            Money::new(d("10000000000000000000"), None),
            Err(MoneyError::OutOfRange)
        );
        assert_eq!(
            Money::new(d("5"), Some(" ".into())).unwrap().currency(),
            None
        );
    }

    #[test]
    fn json_keeps_every_digit_and_checks_on_the_way_in() {
        let m = Money::new(d("999999.999999999"), Some("EUR".into())).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"999999.999999999","currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        assert!(serde_json::from_str::<Money>(r#"{"amount":"0.0000000001"}"#).is_err());
    }

    #[test]
    fn shown_as_the_nearest_number() {
        assert_eq!(Money::new(d("49.99"), None).unwrap().to_f64(), 49.99);
        assert_eq!(Money::new(d("100"), None).unwrap().to_f64(), 100.0);
    }
}
