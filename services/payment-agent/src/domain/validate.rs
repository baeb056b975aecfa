//! Validation of a payment: amount (> 0, at most the maximum, no more decimals than the currency
//! has), ISO 4217 currency, order id.

use std::sync::LazyLock;

use intentmesh_core::{AgentError, ErrorCode, money};
use intentmesh_proto::pb;
use iso_currency::Currency;
use regex::Regex;
use rust_decimal::Decimal;

/// Limits a payment must respect.
#[derive(Debug, Clone)]
pub struct PaymentPolicy {
    /// The largest amount accepted, in the payment's currency.
    pub max_amount: Decimal,
}

impl Default for PaymentPolicy {
    fn default() -> Self {
        Self {
            max_amount: Decimal::from(1_000_000),
        }
    }
}

/// A payment that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPayment {
    pub amount: Decimal,
    /// The amount in the currency's minor unit (cents for USD, yen for JPY).
    pub amount_minor: i64,
    pub currency: &'static str,
    /// Decimal places of the currency.
    pub exponent: u32,
    pub order_id: Option<String>,
}

// A literal pattern: it compiles, or every test of this module fails.
#[allow(clippy::expect_used)]
static ORDER_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$").expect("a literal, tested pattern")
});

/// Validates the payment entities against the policy.
pub fn validate(
    entities: &pb::Entities,
    policy: &PaymentPolicy,
) -> Result<ValidPayment, AgentError> {
    let money = entities.amount.as_ref().ok_or_else(|| {
        AgentError::new(
            ErrorCode::MissingAmount,
            "no amount was given for the payment",
        )
        .with("field", "amount")
    })?;
    let amount = money::from_money(money).map_err(|e| {
        AgentError::new(
            ErrorCode::InvalidAmount,
            format!("the amount is not valid: {e}"),
        )
        .with("field", "amount")
    })?;
    let code = entities
        .currency
        .as_deref()
        .filter(|c| !c.is_empty())
        .or(Some(money.currency_code.as_str()).filter(|c| !c.is_empty()))
        .ok_or_else(|| {
            AgentError::new(
                ErrorCode::MissingCurrency,
                "no currency was given: use an ISO 4217 code such as USD or a symbol such as $",
            )
            .with("field", "currency")
        })?;
    let (currency, exponent) = currency(code)?;

    if amount <= Decimal::ZERO {
        return Err(AgentError::new(
            ErrorCode::InvalidAmount,
            format!("the amount must be greater than zero, got {amount}"),
        )
        .with("field", "amount"));
    }
    if amount > policy.max_amount {
        return Err(AgentError::new(
            ErrorCode::AmountTooLarge,
            format!(
                "the amount exceeds the maximum of {} {currency}",
                policy.max_amount
            ),
        )
        .with("field", "amount")
        .with("max", policy.max_amount));
    }
    if amount.normalize().scale() > exponent {
        return Err(AgentError::new(
            ErrorCode::InvalidAmount,
            format!("{currency} allows {exponent} decimal places, got {amount}"),
        )
        .with("field", "amount")
        .with("max_decimals", exponent));
    }
    let amount_minor = minor_units(amount, exponent).ok_or_else(|| {
        AgentError::new(ErrorCode::AmountTooLarge, "the amount is too large")
            .with("field", "amount")
    })?;

    let order_id = match entities.order_id.as_deref() {
        None | Some("") => None,
        Some(id) if ORDER_ID.is_match(id) => Some(id.to_owned()),
        Some(id) => {
            return Err(AgentError::new(
                ErrorCode::InvalidOrderId,
                "an order id is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
            .with("field", "order_id")
            .with("value", truncate(id, 80)));
        }
    };

    Ok(ValidPayment {
        amount: amount.normalize(),
        amount_minor,
        currency,
        exponent,
        order_id,
    })
}

/// An ISO 4217 code with a minor unit (funds and metals such as XAU have none and are refused).
fn currency(code: &str) -> Result<(&'static str, u32), AgentError> {
    let invalid = || {
        AgentError::new(
            ErrorCode::InvalidCurrency,
            format!(
                "{} is not an ISO 4217 currency code that can be paid in",
                truncate(code, 16)
            ),
        )
        .with("field", "currency")
        .with("value", truncate(code, 16))
    };
    let currency = Currency::from_code(&code.to_ascii_uppercase()).ok_or_else(invalid)?;
    if currency.is_fund() {
        return Err(invalid());
    }
    let exponent = currency.exponent().ok_or_else(invalid)?;
    Ok((currency.code(), u32::from(exponent)))
}

fn minor_units(amount: Decimal, exponent: u32) -> Option<i64> {
    let scaled = amount.checked_mul(Decimal::from(10i64.checked_pow(exponent)?))?;
    i64::try_from(scaled.trunc()).ok()
}

/// Converts minor units back to a decimal amount.
pub(crate) fn from_minor_units(minor: i64, exponent: u32) -> Decimal {
    Decimal::new(minor, exponent)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
