//! [`CachedCatalog`]: a bounded, time-limited cache of search pages in front of any catalog.
//! Popular queries are answered without a database round trip; `load` clears it. With the
//! embedded catalog (read-only once loaded) a hit is always exact; with PostgreSQL a page may be
//! up to the TTL old.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use moka::sync::Cache;

use crate::{
    catalog::ProductRecord,
    domain::{
        catalog::{Catalog, CatalogError, SearchPage},
        query::SearchQuery,
    },
};

#[derive(Debug, Clone)]
pub struct CachedCatalog {
    inner: Arc<dyn Catalog>,
    pages: Cache<SearchQuery, Arc<SearchPage>>,
}

impl CachedCatalog {
    pub fn new(inner: Arc<dyn Catalog>, capacity: u64, ttl: Duration) -> Self {
        Self {
            inner,
            pages: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }
}

#[async_trait]
impl Catalog for CachedCatalog {
    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, CatalogError> {
        if let Some(page) = self.pages.get(query) {
            return Ok(page.as_ref().clone());
        }
        let page = self.inner.search(query).await?;
        self.pages.insert(query.clone(), Arc::new(page.clone()));
        Ok(page)
    }

    async fn load(&self, products: &[ProductRecord]) -> Result<(), CatalogError> {
        let loaded = self.inner.load(products).await;
        self.pages.invalidate_all();
        loaded
    }

    async fn count(&self) -> Result<u64, CatalogError> {
        self.inner.count().await
    }

    async fn ready(&self) -> Result<(), CatalogError> {
        self.inner.ready().await
    }
}
