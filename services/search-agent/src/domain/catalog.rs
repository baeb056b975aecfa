//! The catalog port.

use async_trait::async_trait;

use super::query::SearchQuery;
use crate::catalog::ProductRecord;

/// A product as found by a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    /// Price in cents of `currency`.
    pub price_minor: i64,
    pub currency: String,
    pub rating: f32,
    /// Relevance, higher is better; 0 without a text query.
    pub score: f64,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub products: Vec<Product>,
    /// Matches across all pages.
    pub total: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog storage error")]
    Storage(#[from] sqlx::Error),
    #[error("catalog migration error")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("catalog data is invalid: {0}")]
    Data(String),
}

/// Full-text search with filters and pagination over the product catalog.
#[async_trait]
pub trait Catalog: Send + Sync + std::fmt::Debug {
    /// Best match first; filters are exact; `total` counts every match.
    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, CatalogError>;
    /// Loads products (insert or update by id). Idempotent.
    async fn load(&self, products: &[ProductRecord]) -> Result<(), CatalogError>;
    /// Number of products.
    async fn count(&self) -> Result<u64, CatalogError>;
    /// Fails while the storage is unreachable.
    async fn ready(&self) -> Result<(), CatalogError>;
}
