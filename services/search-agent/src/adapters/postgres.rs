//! [`PostgresCatalog`]: the catalog in PostgreSQL, ranked by `ts_rank_cd` over a weighted
//! `tsvector` (name A, category B, description C) with a GIN index.

use async_trait::async_trait;
use sqlx::{PgPool, Row, postgres::PgPoolOptions};

use super::{price_minor, product_from_row};
use crate::{
    catalog::ProductRecord,
    domain::{
        catalog::{Catalog, CatalogError, SearchPage},
        query::SearchQuery,
    },
};

const FILTERS: &str = "($2::text IS NULL OR p.category = $2) \
                       AND ($3::bigint IS NULL OR p.price_minor >= $3) \
                       AND ($4::bigint IS NULL OR p.price_minor <= $4)";
const COLUMNS: &str =
    "p.id, p.name, p.description, p.category, p.price_minor, p.currency, p.rating";

#[derive(Debug, Clone)]
pub struct PostgresCatalog {
    pool: PgPool,
}

impl PostgresCatalog {
    /// Connects (failing fast) and applies the catalog's migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, CatalogError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await?;
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(Self { pool })
    }
}

/// `wireless | headphones`: terms are alphanumeric already, so nothing is tsquery syntax.
fn tsquery(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| {
            t.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
        })
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[async_trait]
impl Catalog for PostgresCatalog {
    async fn search(&self, q: &SearchQuery) -> Result<SearchPage, CatalogError> {
        let with_text = !q.terms.is_empty();
        let source = if with_text {
            "products p, to_tsquery('english', $1) AS q WHERE p.document @@ q AND"
        } else {
            "products p WHERE ($1::text IS NULL OR TRUE) AND"
        };
        let score = if with_text {
            "ts_rank_cd(p.document, q)::float8"
        } else {
            "0.0::float8"
        };
        let sql = format!(
            "SELECT {COLUMNS}, {score} AS score, COUNT(*) OVER () AS total FROM {source} {FILTERS} \
             ORDER BY score DESC, p.rating DESC, p.id LIMIT $5 OFFSET $6"
        );
        let expression = with_text.then(|| tsquery(&q.terms));
        let rows = sqlx::query(&sql)
            .bind(expression.as_deref())
            .bind(q.category.as_deref())
            .bind(q.min_price_minor)
            .bind(q.max_price_minor)
            .bind(i64::from(q.page_size))
            .bind(q.offset())
            .fetch_all(&self.pool)
            .await?;
        let total = match rows.first() {
            Some(row) => row.try_get::<i64, _>("total")?,
            None if q.page > 1 => {
                let count_sql = format!("SELECT COUNT(*) AS n FROM {source} {FILTERS}");
                sqlx::query(&count_sql)
                    .bind(expression.as_deref())
                    .bind(q.category.as_deref())
                    .bind(q.min_price_minor)
                    .bind(q.max_price_minor)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get::<i64, _>("n")?
            }
            None => 0,
        };
        let products = rows
            .iter()
            .map(product_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SearchPage {
            products,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    async fn load(&self, products: &[ProductRecord]) -> Result<(), CatalogError> {
        let mut ids = Vec::with_capacity(products.len());
        let mut names = Vec::with_capacity(products.len());
        let mut descriptions = Vec::with_capacity(products.len());
        let mut categories = Vec::with_capacity(products.len());
        let mut prices = Vec::with_capacity(products.len());
        let mut currencies = Vec::with_capacity(products.len());
        let mut ratings = Vec::with_capacity(products.len());
        for p in products {
            ids.push(p.id.clone());
            names.push(p.name.clone());
            descriptions.push(p.description.clone());
            categories.push(p.category.clone());
            prices.push(price_minor(p)?);
            currencies.push(p.currency.clone());
            ratings.push(p.rating);
        }
        sqlx::query(
            "INSERT INTO products (id, name, description, category, price_minor, currency, rating) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
                                  $6::text[], $7::real[]) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, \
             description = EXCLUDED.description, category = EXCLUDED.category, \
             price_minor = EXCLUDED.price_minor, currency = EXCLUDED.currency, \
             rating = EXCLUDED.rating",
        )
        .bind(ids)
        .bind(names)
        .bind(descriptions)
        .bind(categories)
        .bind(prices)
        .bind(currencies)
        .bind(ratings)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn count(&self) -> Result<u64, CatalogError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM products")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn ready(&self) -> Result<(), CatalogError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
