//! Validation of a payment: amount (> 0, at most the maximum, no more decimals than the currency
//! has), ISO 4217 currency, order id.

use std::sync::LazyLock;

use intentmesh_core::{agent::Entities, money::Decimal};
use iso_currency::Currency;
use regex::Regex;

use super::error::PaymentError;

/// Limits a payment must respect.
#[derive(Debug, Clone)]
pub struct PaymentPolicy {
    /// The largest amount accepted, in the payment's currency.
    pub max_amount: Decimal,
    /// The most one user may pay per UTC day, by currency (`PAYMENT_DAILY_LIMITS`); a currency
    /// not named has no daily limit.
    pub daily_limits: std::collections::BTreeMap<&'static str, Decimal>,
}

impl PaymentPolicy {
    /// `payment`'s currency's daily limit in minor units, if it has one.
    pub fn daily_limit_minor(&self, payment: &ValidPayment) -> Option<i64> {
        let limit = *self.daily_limits.get(payment.currency)?;
        // A limit too large to count in minor units is no limit.
        minor_units(limit, payment.exponent).or(Some(i64::MAX))
    }

    /// Parses `PAYMENT_DAILY_LIMITS`: `USD=5000,EUR=5000` (ISO 4217 codes, amounts > 0).
    pub fn parse_daily_limits(
        raw: &str,
    ) -> Result<std::collections::BTreeMap<&'static str, Decimal>, String> {
        let mut limits = std::collections::BTreeMap::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (code, amount) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not CURRENCY=AMOUNT"))?;
            let (code, _) = currency(code.trim()).map_err(|e| e.to_string())?;
            let amount: Decimal = amount
                .trim()
                .parse()
                .map_err(|_| format!("{amount:?} is not an amount"))?;
            if amount <= Decimal::ZERO {
                return Err(format!("the {code} limit must be greater than zero"));
            }
            if limits.insert(code, amount).is_some() {
                return Err(format!("{code} is named twice"));
            }
        }
        Ok(limits)
    }
}

impl Default for PaymentPolicy {
    fn default() -> Self {
        Self {
            max_amount: Decimal::from(1_000_000),
            daily_limits: std::collections::BTreeMap::new(),
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
pub fn validate(entities: &Entities, policy: &PaymentPolicy) -> Result<ValidPayment, PaymentError> {
    let money = entities
        .amount
        .as_ref()
        .ok_or(PaymentError::MissingAmount)?;
    let amount = money.amount();
    let code = entities
        .currency
        .as_deref()
        .filter(|c| !c.is_empty())
        .or(money.currency())
        .ok_or(PaymentError::MissingCurrency)?;
    let (currency, exponent) = currency(code)?;

    if amount <= Decimal::ZERO {
        return Err(PaymentError::NotPositive(amount));
    }
    if amount > policy.max_amount {
        return Err(PaymentError::AboveMaximum {
            max: policy.max_amount,
            currency,
        });
    }
    if amount.normalize().scale() > exponent {
        return Err(PaymentError::TooPrecise {
            currency,
            exponent,
            amount,
        });
    }
    let amount_minor = minor_units(amount, exponent).ok_or(PaymentError::Unrepresentable)?;

    let order_id = match entities.order_id.as_deref() {
        None | Some("") => None,
        Some(id) if ORDER_ID.is_match(id) => Some(id.to_owned()),
        Some(id) => return Err(PaymentError::InvalidOrderId(id.to_owned())),
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
fn currency(code: &str) -> Result<(&'static str, u32), PaymentError> {
    let invalid = || PaymentError::InvalidCurrency(code.to_owned());
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

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
