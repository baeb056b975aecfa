//! Exact decimal amounts ([`Decimal`]) and their wire form, [`pb::Money`] (`units` + `nanos`).

use intentmesh_proto::pb;
pub use rust_decimal::Decimal;

const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// Why a decimal cannot travel as `Money`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount has more than 9 decimal places")]
    TooPrecise,
    #[error("amount does not fit in 64-bit units")]
    OutOfRange,
    #[error("units and nanos have different signs or nanos is out of range")]
    Malformed,
}

/// Converts a decimal and a currency code into `Money`.
pub fn to_money(amount: Decimal, currency_code: &str) -> Result<pb::Money, MoneyError> {
    let normalized = amount.normalize();
    if normalized.scale() > 9 {
        return Err(MoneyError::TooPrecise);
    }
    let total_nanos = normalized
        .mantissa()
        .checked_mul(10i128.pow(9 - normalized.scale()))
        .ok_or(MoneyError::OutOfRange)?;
    let units = i64::try_from(total_nanos / NANOS_PER_UNIT).map_err(|_| MoneyError::OutOfRange)?;
    let nanos = i32::try_from(total_nanos % NANOS_PER_UNIT).map_err(|_| MoneyError::Malformed)?;
    Ok(pb::Money {
        currency_code: currency_code.to_owned(),
        units,
        nanos,
    })
}

/// Reads `Money` back into an exact decimal, rejecting malformed sign/range combinations.
pub fn from_money(money: &pb::Money) -> Result<Decimal, MoneyError> {
    if money.nanos.unsigned_abs() >= 1_000_000_000
        || (money.units > 0 && money.nanos < 0)
        || (money.units < 0 && money.nanos > 0)
    {
        return Err(MoneyError::Malformed);
    }
    let total = i128::from(money.units) * NANOS_PER_UNIT + i128::from(money.nanos);
    Decimal::try_from_i128_with_scale(total, 9)
        .map(|d| d.normalize())
        .map_err(|_| MoneyError::OutOfRange)
}

/// The amount as an `f64` for JSON output (`100.0`). Exactness stays in the ledger.
pub fn to_f64(money: &pb::Money) -> f64 {
    money.units as f64 + f64::from(money.nanos) / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    #[test]
    fn known_values_convert() {
        let m = to_money(Decimal::from_str("100.25").unwrap(), "USD").unwrap();
        assert_eq!((m.units, m.nanos), (100, 250_000_000));
        let m = to_money(Decimal::from_str("-0.5").unwrap(), "EUR").unwrap();
        assert_eq!((m.units, m.nanos), (0, -500_000_000));
        assert_eq!(
            to_money(Decimal::from_str("0.0000000001").unwrap(), "USD"),
            Err(MoneyError::TooPrecise)
        );
    }

    #[test]
    fn malformed_money_is_rejected() {
        let bad = pb::Money {
            currency_code: "USD".into(),
            units: 1,
            nanos: -1,
        };
        assert_eq!(from_money(&bad), Err(MoneyError::Malformed));
    }

    proptest! {
        #[test]
        fn decimal_money_round_trip(total_nanos in -(10i128.pow(27))..10i128.pow(27)) {
            let d = Decimal::from_i128_with_scale(total_nanos, 9);
            let m = to_money(d, "USD").unwrap();
            prop_assert_eq!(from_money(&m).unwrap(), d.normalize());
        }
    }
}
