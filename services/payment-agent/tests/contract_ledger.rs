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
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn twenty_concurrent_charges_make_one_row() {
                let (l, _guard) = $make().await;
                cases::twenty_concurrent_charges_make_one_row(l).await
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
