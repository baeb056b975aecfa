use super::*;
use intentmesh_core::{AgentError, ErrorCode, money::Money};
use proptest::prelude::*;
use std::str::FromStr;

fn entities(amount: &str, currency: &str, order: Option<&str>) -> Entities {
    Entities {
        amount: Some(
            Money::new(
                Decimal::from_str(amount).unwrap(),
                Some(currency.to_owned()),
            )
            .unwrap(),
        ),
        order_id: order.map(str::to_owned),
        ..Default::default()
    }
}

fn code_of(r: Result<ValidPayment, PaymentError>) -> ErrorCode {
    AgentError::from(r.unwrap_err()).code
}

#[test]
fn a_plain_payment_is_valid() {
    let p = validate(
        &entities("100", "USD", Some("12345")),
        &PaymentPolicy::default(),
    )
    .unwrap();
    assert_eq!(p.amount_minor, 10_000);
    assert_eq!(p.currency, "USD");
    assert_eq!(p.order_id.as_deref(), Some("12345"));
}

#[test]
fn bad_amounts_are_refused_with_precise_codes() {
    let policy = PaymentPolicy::default();
    assert_eq!(
        code_of(validate(&entities("0", "USD", None), &policy)),
        ErrorCode::InvalidAmount
    );
    assert_eq!(
        code_of(validate(&entities("-5", "USD", None), &policy)),
        ErrorCode::InvalidAmount
    );
    assert_eq!(
        code_of(validate(&entities("1000000.01", "USD", None), &policy)),
        ErrorCode::AmountTooLarge
    );
    assert_eq!(
        code_of(validate(&entities("1.5", "JPY", None), &policy)),
        ErrorCode::InvalidAmount
    );
    assert_eq!(
        code_of(validate(&entities("1.001", "USD", None), &policy)),
        ErrorCode::InvalidAmount
    );
    assert!(validate(&entities("1.001", "BHD", None), &policy).is_ok());
    let none = Entities::default();
    assert_eq!(code_of(validate(&none, &policy)), ErrorCode::MissingAmount);
}

#[test]
fn currencies_must_be_payable_iso_codes() {
    let policy = PaymentPolicy::default();
    assert_eq!(
        code_of(validate(&entities("5", "XYZ", None), &policy)),
        ErrorCode::InvalidCurrency
    );
    assert_eq!(
        code_of(validate(&entities("5", "XAU", None), &policy)),
        ErrorCode::InvalidCurrency
    );
    assert_eq!(
        code_of(validate(&entities("5", "", None), &policy)),
        ErrorCode::MissingCurrency
    );
    let mut e = entities("5", "", None);
    e.currency = Some("eur".into());
    assert_eq!(validate(&e, &policy).unwrap().currency, "EUR");
}

#[test]
fn order_ids_are_checked() {
    let policy = PaymentPolicy::default();
    assert!(validate(&entities("5", "USD", Some("A-77812")), &policy).is_ok());
    assert_eq!(
        code_of(validate(&entities("5", "USD", Some("12 34")), &policy)),
        ErrorCode::InvalidOrderId
    );
    assert_eq!(
        code_of(validate(
            &entities("5", "USD", Some(&"9".repeat(65))),
            &policy
        )),
        ErrorCode::InvalidOrderId
    );
}

proptest! {
    #[test]
    fn any_valid_cent_amount_round_trips_through_minor_units(cents in 1i64..=100_000_000) {
        let amount = Decimal::new(cents, 2);
        let p = validate(&entities(&amount.to_string(), "USD", None), &PaymentPolicy::default()).unwrap();
        prop_assert_eq!(p.amount_minor, cents);
        prop_assert_eq!(from_minor_units(p.amount_minor, p.exponent), amount.normalize());
    }

    #[test]
    fn amounts_above_the_maximum_are_always_refused(extra in 1i64..1_000_000_000_000) {
        let amount = Decimal::from(1_000_000) + Decimal::new(extra, 2);
        let code = code_of(validate(&entities(&amount.to_string(), "EUR", None), &PaymentPolicy::default()));
        prop_assert_eq!(code, ErrorCode::AmountTooLarge);
    }

    #[test]
    fn unknown_three_letter_codes_are_refused(code in "[A-Z]{3}") {
        let known = Currency::from_code(&code).is_some_and(|c| !c.is_fund() && c.exponent().is_some());
        let result = validate(&entities("1", &code, None), &PaymentPolicy::default());
        prop_assert_eq!(result.is_ok(), known);
    }
}
