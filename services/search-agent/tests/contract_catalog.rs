//! One contract suite for the `Catalog` port, run against SQLite FTS5 and the running
//! PostgreSQL. A missing PostgreSQL fails these tests; nothing is skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;

use intentmesh_search_agent::{
    CachedCatalog, Catalog, PostgresCatalog, SearchQuery, SqliteCatalog, catalog::ProductRecord,
    terms,
};

mod support {
    use super::*;

    pub(super) async fn sqlite() -> Arc<dyn Catalog> {
        Arc::new(
            SqliteCatalog::connect("sqlite::memory:", 2)
                .await
                .expect("SQLite catalog opens"),
        )
    }

    /// The cache in front of SQLite must keep every promise of the port.
    pub(super) async fn cached_sqlite() -> Arc<dyn Catalog> {
        Arc::new(CachedCatalog::new(
            sqlite().await,
            100,
            std::time::Duration::from_secs(60),
        ))
    }

    pub(super) async fn postgres() -> Arc<dyn Catalog> {
        let url = intentmesh_core::test_util::fresh_postgres_database("catalog").await;
        Arc::new(
            PostgresCatalog::connect(&url, 4)
                .await
                .expect("PostgreSQL catalog opens"),
        )
    }
}

mod cases {
    use super::*;

    fn record(id: &str, name: &str, category: &str, price: &str, rating: f32) -> ProductRecord {
        ProductRecord {
            id: id.to_owned(),
            name: name.to_owned(),
            description: format!("A fine {} for everyday use.", name.to_lowercase()),
            category: category.to_owned(),
            price: price.to_owned(),
            currency: "USD".to_owned(),
            rating,
        }
    }

    async fn seeded(catalog: Arc<dyn Catalog>) -> Arc<dyn Catalog> {
        catalog
            .load(&[
                record(
                    "p1",
                    "Wireless Headphones Alpha",
                    "electronics",
                    "49.99",
                    4.0,
                ),
                record("p2", "Wireless Mouse", "electronics", "19.99", 4.5),
                record("p3", "Studio Headphones", "electronics", "120.00", 4.9),
                record(
                    "p4",
                    "Wireless Headphones Beta",
                    "electronics",
                    "89.00",
                    3.0,
                ),
                record("p5", "Garden Hose", "garden", "25.00", 4.2),
                record("p6", "Headphones Stand", "home", "15.00", 3.5),
            ])
            .await
            .expect("load");
        catalog
    }

    fn query(text: &str) -> SearchQuery {
        SearchQuery {
            terms: terms(text),
            page: 1,
            page_size: 10,
            ..Default::default()
        }
    }

    fn ids(page: &intentmesh_search_agent::SearchPage) -> Vec<&str> {
        page.products.iter().map(|p| p.id.as_str()).collect()
    }

    pub(super) async fn best_match_first(catalog: Arc<dyn Catalog>) {
        let catalog = seeded(catalog).await;
        let page = catalog.search(&query("wireless headphones")).await.unwrap();
        let found = ids(&page);
        assert_eq!(page.total, 5, "{found:?}");
        let both: std::collections::BTreeSet<_> = found[..2].iter().copied().collect();
        assert_eq!(
            both,
            ["p1", "p4"].into(),
            "products matching both words come first: {found:?}"
        );
        assert!(page.products.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(!found.contains(&"p5"));
    }

    pub(super) async fn filters_are_exact_and_inclusive(catalog: Arc<dyn Catalog>) {
        let catalog = seeded(catalog).await;
        let mut q = query("wireless headphones");
        q.category = Some("electronics".into());
        q.max_price_minor = Some(4_999);
        let page = catalog.search(&q).await.unwrap();
        assert_eq!(ids(&page), ["p1", "p2"]);
        assert_eq!(page.total, 2);
        assert!(
            page.products
                .iter()
                .all(|p| p.category == "electronics" && p.price_minor <= 4_999)
        );
        q.min_price_minor = Some(2_000);
        assert_eq!(ids(&catalog.search(&q).await.unwrap()), ["p1"]);
    }

    pub(super) async fn pages_are_bounded_and_counted(catalog: Arc<dyn Catalog>) {
        let catalog = seeded(catalog).await;
        let mut q = query("headphones");
        q.page_size = 2;
        let first = catalog.search(&q).await.unwrap();
        q.page = 2;
        let second = catalog.search(&q).await.unwrap();
        assert_eq!((first.products.len(), second.products.len()), (2, 2));
        assert_eq!((first.total, second.total), (4, 4));
        assert!(ids(&first).iter().all(|id| !ids(&second).contains(id)));
        q.page = 9;
        let past = catalog.search(&q).await.unwrap();
        assert!(past.products.is_empty());
        assert_eq!(past.total, 4);
    }

    pub(super) async fn filters_without_text_rank_by_rating(catalog: Arc<dyn Catalog>) {
        let catalog = seeded(catalog).await;
        let q = SearchQuery {
            category: Some("electronics".into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        };
        let page = catalog.search(&q).await.unwrap();
        assert_eq!(ids(&page), ["p3", "p2", "p1", "p4"]);
        assert!(page.products.iter().all(|p| p.score == 0.0));
    }

    pub(super) async fn hostile_text_is_only_words(catalog: Arc<dyn Catalog>) {
        let catalog = seeded(catalog).await;
        for text in [
            "\"' OR 1=1 --",
            "NEAR(a b) AND *",
            "wireless) | !(mouse",
            "x:y^2 \\",
        ] {
            catalog
                .search(&query(text))
                .await
                .unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        assert_eq!(
            catalog
                .search(&query("nothingmatches"))
                .await
                .unwrap()
                .total,
            0
        );
    }

    pub(super) async fn loading_is_idempotent(catalog: Arc<dyn Catalog>) {
        let catalog = seeded(catalog).await;
        let catalog = seeded(catalog).await;
        assert_eq!(catalog.count().await.unwrap(), 6);
        catalog.ready().await.unwrap();
        let page = catalog.search(&query("hose")).await.unwrap();
        assert_eq!(page.products[0].price_minor, 2_500);
        assert_eq!(page.products[0].currency, "USD");
    }
}

macro_rules! catalog_contract {
    ($adapter:ident, $make:path) => {
        mod $adapter {
            use super::*;
            #[tokio::test]
            async fn best_match_first() {
                cases::best_match_first($make().await).await
            }
            #[tokio::test]
            async fn filters_are_exact_and_inclusive() {
                cases::filters_are_exact_and_inclusive($make().await).await
            }
            #[tokio::test]
            async fn pages_are_bounded_and_counted() {
                cases::pages_are_bounded_and_counted($make().await).await
            }
            #[tokio::test]
            async fn filters_without_text_rank_by_rating() {
                cases::filters_without_text_rank_by_rating($make().await).await
            }
            #[tokio::test]
            async fn hostile_text_is_only_words() {
                cases::hostile_text_is_only_words($make().await).await
            }
            #[tokio::test]
            async fn loading_is_idempotent() {
                cases::loading_is_idempotent($make().await).await
            }
        }
    };
}

catalog_contract!(sqlite, support::sqlite);
catalog_contract!(cached_sqlite, support::cached_sqlite);
catalog_contract!(postgres, support::postgres);
