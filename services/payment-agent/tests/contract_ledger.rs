//! One contract suite for the `Ledger` port, run against every adapter: SQLite (embedded) and
//! the running PostgreSQL. A missing PostgreSQL fails these tests; nothing is skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;

use intentmesh_core::config::DatabaseUrl;
use intentmesh_payment_agent::{
    ChargeOutcome, Ledger, LedgerError, NewPayment, PaymentStatus, SqlLedger,
};

mod support {
    use super::*;

    pub(super) async fn sqlite() -> (Arc<dyn Ledger>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/ledger.sqlite?mode=rwc", dir.path().display());
        let ledger = SqlLedger::connect(&DatabaseUrl::Sqlite(url), 1)
            .await
            .expect("SQLite ledger opens");
        (Arc::new(ledger), dir)
    }

    pub(super) async fn postgres() -> (Arc<dyn Ledger>, ()) {
        let url = intentmesh_core::test_util::fresh_postgres_database("ledger").await;
        let ledger = SqlLedger::connect(&DatabaseUrl::Postgres(url), 8)
            .await
            .expect("PostgreSQL ledger opens");
        (Arc::new(ledger), ())
    }
}

mod cases {
    use super::*;

    fn payment(key: &str, order: Option<&str>, minor: i64) -> NewPayment {
        NewPayment {
            idempotency_key: key.to_owned(),
            fingerprint: format!("user-1|{}|{minor}|USD", order.unwrap_or("")),
            user_id: "user-1".to_owned(),
            order_id: order.map(str::to_owned),
            amount_minor: minor,
            currency: "USD".to_owned(),
            request_id: format!("req-{key}"),
            daily_limit_minor: None,
        }
    }

    pub(super) async fn charges_once_per_key(ledger: Arc<dyn Ledger>) {
        let first = ledger
            .charge(payment("k1", Some("o1"), 10_000))
            .await
            .unwrap();
        let ChargeOutcome::Charged(p) = &first else {
            panic!("first charge must charge: {first:?}")
        };
        assert!(p.transaction_id.starts_with("txn_"));
        assert_eq!(p.status, PaymentStatus::Completed);
        let again = ledger
            .charge(payment("k1", Some("o1"), 10_000))
            .await
            .unwrap();
        assert_eq!(again, ChargeOutcome::Replayed(p.clone()));
        assert_eq!(ledger.count_for_order("o1").await.unwrap(), 1);
        assert_eq!(
            ledger.get(&p.transaction_id).await.unwrap().as_ref(),
            Some(p)
        );
    }

    pub(super) async fn reusing_a_key_for_another_payment_conflicts(ledger: Arc<dyn Ledger>) {
        ledger.charge(payment("k2", None, 500)).await.unwrap();
        let err = ledger.charge(payment("k2", None, 700)).await.unwrap_err();
        assert!(
            matches!(err, LedgerError::IdempotencyConflict { .. }),
            "{err:?}"
        );
    }

    pub(super) async fn an_order_is_paid_at_most_once(ledger: Arc<dyn Ledger>) {
        let first = ledger.charge(payment("k3", Some("o3"), 100)).await.unwrap();
        // Same order, same payment, another key: the first charge is returned, not repeated.
        let same = ledger
            .charge(payment("k3-bis", Some("o3"), 100))
            .await
            .unwrap();
        assert_eq!(same, ChargeOutcome::Replayed(first.payment().clone()));
        // Same order, another amount: a conflict, and nothing is written.
        let err = ledger
            .charge(payment("k3-ter", Some("o3"), 999))
            .await
            .unwrap_err();
        assert!(
            matches!(err, LedgerError::OrderAlreadyPaid { ref order_id } if order_id == "o3"),
            "{err:?}"
        );
        assert_eq!(ledger.count_for_order("o3").await.unwrap(), 1);
        assert_eq!(ledger.count().await.unwrap(), 1);
    }

    /// Order ids are each user's own: another user's order of the same id is another order,
    /// and paying it neither blocks nor reveals the first.
    pub(super) async fn order_ids_belong_to_their_user(ledger: Arc<dyn Ledger>) {
        let mine = ledger.charge(payment("k5", Some("o5"), 100)).await.unwrap();
        let theirs = NewPayment {
            idempotency_key: "key:user-2:k5".to_owned(),
            fingerprint: "user-2|o5|1|USD".to_owned(),
            user_id: "user-2".to_owned(),
            amount_minor: 1,
            ..payment("k5", Some("o5"), 1)
        };
        let theirs = ledger.charge(theirs).await.unwrap();
        assert!(matches!(theirs, ChargeOutcome::Charged(_)), "{theirs:?}");
        assert_ne!(
            theirs.payment().transaction_id,
            mine.payment().transaction_id
        );
        assert_eq!(ledger.count_for_order("o5").await.unwrap(), 2);
        // Each user's order is still paid at most once.
        let err = ledger
            .charge(payment("k5-bis", Some("o5"), 999))
            .await
            .unwrap_err();
        assert!(
            matches!(err, LedgerError::OrderAlreadyPaid { .. }),
            "{err:?}"
        );
    }

    /// A daily limit holds however the charges interleave: of twenty charges of 1.00 made at
    /// once against a limit of 10.00, ten are charged and ten refused, and nothing of the
    /// refused ones is kept; another user and another currency have their own totals, and a
    /// repeat of a charged payment is still its first answer.
    pub(super) async fn a_daily_limit_is_never_passed_even_at_once(ledger: Arc<dyn Ledger>) {
        let limited = |n: usize, user: &str, currency: &str| NewPayment {
            idempotency_key: format!("key:{user}:{currency}:b{n}"),
            fingerprint: format!("{user}|b{n}|100|{currency}"),
            user_id: user.to_owned(),
            currency: currency.to_owned(),
            daily_limit_minor: Some(1_000),
            ..payment(&format!("b{n}"), None, 100)
        };
        let tasks: Vec<_> = (0..20)
            .map(|n| {
                let ledger = Arc::clone(&ledger);
                tokio::spawn(async move { ledger.charge(limited(n, "user-1", "USD")).await })
            })
            .collect();
        let (mut charged, mut refused) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(ChargeOutcome::Charged(_)) => charged += 1,
                Err(LedgerError::BudgetExceeded {
                    currency,
                    limit_minor,
                }) => {
                    assert_eq!((currency.as_str(), limit_minor), ("USD", 1_000));
                    refused += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((charged, refused), (10, 10));
        assert_eq!(
            ledger.count().await.unwrap(),
            10,
            "refused charges left nothing"
        );
        // One more of the same user and currency is refused; a repeat of a charged one is not.
        let err = ledger
            .charge(limited(99, "user-1", "USD"))
            .await
            .unwrap_err();
        assert!(matches!(err, LedgerError::BudgetExceeded { .. }), "{err:?}");
        let mut replays = 0;
        for n in 0..20 {
            if let Ok(ChargeOutcome::Replayed(_)) = ledger.charge(limited(n, "user-1", "USD")).await
            {
                replays += 1;
            }
        }
        assert_eq!(replays, 10, "each charged payment replays");
        assert!(matches!(
            ledger.charge(limited(0, "user-2", "USD")).await.unwrap(),
            ChargeOutcome::Charged(_)
        ));
        assert!(matches!(
            ledger.charge(limited(0, "user-1", "EUR")).await.unwrap(),
            ChargeOutcome::Charged(_)
        ));
        // More than the limit in one charge is refused whole.
        let big = NewPayment {
            amount_minor: 1_001,
            ..limited(500, "user-3", "USD")
        };
        assert!(matches!(
            ledger.charge(big).await.unwrap_err(),
            LedgerError::BudgetExceeded { .. }
        ));
    }

    pub(super) async fn twenty_concurrent_charges_make_one_row(ledger: Arc<dyn Ledger>) {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let ledger = Arc::clone(&ledger);
                tokio::spawn(async move { ledger.charge(payment("k4", Some("o4"), 2_500)).await })
            })
            .collect();
        let mut charged = 0;
        let mut ids = std::collections::BTreeSet::new();
        for t in tasks {
            let outcome = t.await.unwrap().unwrap();
            if matches!(outcome, ChargeOutcome::Charged(_)) {
                charged += 1;
            }
            ids.insert(outcome.payment().transaction_id.clone());
        }
        assert_eq!(charged, 1, "exactly one of 20 concurrent charges charges");
        assert_eq!(ids.len(), 1, "all 20 answers name the same transaction");
        assert_eq!(ledger.count_for_order("o4").await.unwrap(), 1);
    }

    /// Forty orders, each charged at once by three requests: the same payment twice under one
    /// key, and another amount under another key. However they interleave (on SQLite, in one
    /// batch), each order is charged once, the same payment gets that charge back, and the other
    /// is refused as a conflict.
    pub(super) async fn a_crowd_of_charges_resolves_as_one_at_a_time_would(
        ledger: Arc<dyn Ledger>,
    ) {
        let mut tasks = Vec::new();
        for n in 0..40_i64 {
            let (key, order) = (format!("crowd-{n}"), format!("co-{n}"));
            for variant in 0..3 {
                let p = if variant < 2 {
                    payment(&key, Some(&order), 100 + n)
                } else {
                    payment(&format!("{key}-other"), Some(&order), 999_999)
                };
                let ledger = Arc::clone(&ledger);
                tasks.push((n, tokio::spawn(async move { ledger.charge(p).await })));
            }
        }
        let mut by_order: std::collections::BTreeMap<i64, Vec<_>> = Default::default();
        for (n, t) in tasks {
            by_order.entry(n).or_default().push(t.await.unwrap());
        }
        for (n, outcomes) in by_order {
            let charged: Vec<_> = outcomes
                .iter()
                .filter_map(|o| match o {
                    Ok(ChargeOutcome::Charged(p)) => Some(p.transaction_id.clone()),
                    _ => None,
                })
                .collect();
            assert_eq!(charged.len(), 1, "order {n}: {outcomes:?}");
            for o in &outcomes {
                match o {
                    Ok(o) => assert_eq!(o.payment().transaction_id, charged[0], "order {n}"),
                    Err(LedgerError::OrderAlreadyPaid { order_id }) => {
                        assert_eq!(order_id, &format!("co-{n}"));
                    }
                    Err(other) => panic!("order {n}: {other:?}"),
                }
            }
            assert_eq!(ledger.count_for_order(&format!("co-{n}")).await.unwrap(), 1);
        }
        assert_eq!(ledger.count().await.unwrap(), 40);
    }

    /// Thirty charges at once, one of which the database refuses (its amount breaks the table's
    /// `CHECK`): that one fails with a storage error, and every other is charged (on SQLite,
    /// whatever batch they shared with it).
    pub(super) async fn a_charge_the_database_refuses_fails_alone(ledger: Arc<dyn Ledger>) {
        let tasks: Vec<_> = (0..30_i64)
            .map(|n| {
                let minor = if n == 13 { 0 } else { 100 + n };
                let p = payment(&format!("alone-{n}"), Some(&format!("ao-{n}")), minor);
                let ledger = Arc::clone(&ledger);
                tokio::spawn(async move { ledger.charge(p).await })
            })
            .collect();
        for (n, t) in tasks.into_iter().enumerate() {
            let outcome = t.await.unwrap();
            if n == 13 {
                assert!(
                    matches!(outcome, Err(LedgerError::Storage(_))),
                    "{outcome:?}"
                );
            } else {
                assert!(
                    matches!(outcome, Ok(ChargeOutcome::Charged(_))),
                    "{n}: {outcome:?}"
                );
            }
        }
        assert_eq!(ledger.count().await.unwrap(), 29);
    }

    pub(super) async fn large_amounts_are_exact(ledger: Arc<dyn Ledger>) {
        let minor = 9_007_199_254_740_993; // not representable as f64
        let out = ledger.charge(payment("k5", None, minor)).await.unwrap();
        let stored = ledger
            .get(&out.payment().transaction_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.amount_minor, minor);
        assert_eq!(ledger.get("txn_missing").await.unwrap(), None);
    }

    pub(super) async fn reports_ready(ledger: Arc<dyn Ledger>) {
        ledger.ready().await.unwrap();
    }
}

macro_rules! ledger_contract {
    ($adapter:ident, $make:path) => {
        mod $adapter {
            use super::*;
            #[tokio::test]
            async fn charges_once_per_key() {
                let (l, _guard) = $make().await;
                cases::charges_once_per_key(l).await
            }
            #[tokio::test]
            async fn reusing_a_key_for_another_payment_conflicts() {
                let (l, _guard) = $make().await;
                cases::reusing_a_key_for_another_payment_conflicts(l).await
            }
            #[tokio::test]
            async fn an_order_is_paid_at_most_once() {
                let (l, _guard) = $make().await;
                cases::an_order_is_paid_at_most_once(l).await
            }
            #[tokio::test]
            async fn order_ids_belong_to_their_user() {
                let (l, _guard) = $make().await;
                cases::order_ids_belong_to_their_user(l).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_daily_limit_is_never_passed_even_at_once() {
                let (l, _guard) = $make().await;
                cases::a_daily_limit_is_never_passed_even_at_once(l).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn twenty_concurrent_charges_make_one_row() {
                let (l, _guard) = $make().await;
                cases::twenty_concurrent_charges_make_one_row(l).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_crowd_of_charges_resolves_as_one_at_a_time_would() {
                let (l, _guard) = $make().await;
                cases::a_crowd_of_charges_resolves_as_one_at_a_time_would(l).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_charge_the_database_refuses_fails_alone() {
                let (l, _guard) = $make().await;
                cases::a_charge_the_database_refuses_fails_alone(l).await
            }
            #[tokio::test]
            async fn large_amounts_are_exact() {
                let (l, _guard) = $make().await;
                cases::large_amounts_are_exact(l).await
            }
            #[tokio::test]
            async fn reports_ready() {
                let (l, _guard) = $make().await;
                cases::reports_ready(l).await
            }
        }
    };
}

ledger_contract!(sqlite, support::sqlite);
ledger_contract!(postgres, support::postgres);

/// SQLite's group commit: concurrent charges share transactions (fewer commits than charges),
/// and every one of them is answered only once it is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writes_concurrent_charges_in_shared_transactions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/ledger.sqlite?mode=rwc", dir.path().display());
    let ledger = Arc::new(
        SqlLedger::connect(&DatabaseUrl::Sqlite(url.clone()), 1)
            .await
            .unwrap(),
    );
    let before = ledger.group_commits().expect("SQLite has a writer");
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let ledger = Arc::clone(&ledger);
            tokio::spawn(async move {
                let p = NewPayment {
                    idempotency_key: format!("gc-{n}"),
                    fingerprint: format!("u|gc-{n}|1|USD"),
                    user_id: "u".into(),
                    order_id: Some(format!("gc-order-{n}")),
                    amount_minor: 1,
                    currency: "USD".into(),
                    request_id: format!("r-{n}"),
                    daily_limit_minor: None,
                };
                let outcome = ledger.charge(p).await.unwrap();
                // Answered: it is in the ledger already.
                assert!(
                    ledger
                        .get(&outcome.payment().transaction_id)
                        .await
                        .unwrap()
                        .is_some()
                );
                outcome
            })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), ChargeOutcome::Charged(_)));
    }
    let commits = ledger.group_commits().unwrap() - before;
    eprintln!("200 concurrent charges: {commits} commits");
    assert!(
        (1..200).contains(&commits),
        "200 concurrent charges took {commits} commits"
    );
    // A second ledger on the same file sees all of them.
    let reopened = SqlLedger::connect(&DatabaseUrl::Sqlite(url), 1)
        .await
        .unwrap();
    assert_eq!(reopened.count().await.unwrap(), 200);
}
