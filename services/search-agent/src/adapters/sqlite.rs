//! [`SqliteCatalog`]: the embedded catalog, SQLite with an FTS5 index ranked by bm25
//! (name weighs 10, category 2, description 1).

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::{
    Row, SqlitePool,
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
};

use super::{price_minor, product_from_row};
use crate::{
    catalog::ProductRecord,
    domain::{
        catalog::{Catalog, CatalogError, SearchPage},
        query::SearchQuery,
    },
};

const FILTERS: &str = "($2 IS NULL OR p.category = $2) \
                       AND ($3 IS NULL OR p.price_minor >= $3) \
                       AND ($4 IS NULL OR p.price_minor <= $4)";
const COLUMNS: &str =
    "p.id, p.name, p.description, p.category, p.price_minor, p.currency, p.rating";

#[derive(Debug, Clone)]
pub struct SqliteCatalog {
    pool: SqlitePool,
}

impl SqliteCatalog {
    /// Opens the catalog at `url` (`sqlite::memory:` for a private in-memory catalog) and
    /// applies its migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, CatalogError> {
        let options = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            // An in-memory database lives as long as one connection does: keep one, forever.
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(Self { pool })
    }
}

/// `"wireless" OR "headphones"`: each term quoted, so no user text is FTS5 syntax.
fn match_expression(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "")))
        .collect::<Vec<_>>()
        .join(" OR ")
}

#[async_trait]
impl Catalog for SqliteCatalog {
    async fn search(&self, q: &SearchQuery) -> Result<SearchPage, CatalogError> {
        let (sql, count_sql) = if q.terms.is_empty() {
            (
                format!(
                    "SELECT {COLUMNS}, 0.0 AS score, COUNT(*) OVER () AS total FROM products p \
                     WHERE ($1 IS NULL OR 1) AND {FILTERS} \
                     ORDER BY p.rating DESC, p.id LIMIT $5 OFFSET $6"
                ),
                format!(
                    "SELECT COUNT(*) AS n FROM products p WHERE ($1 IS NULL OR 1) AND {FILTERS}"
                ),
            )
        } else {
            (
                // bm25() only works in a plain full-text query: rank first, then join and filter.
                format!(
                    "WITH hits AS MATERIALIZED (SELECT rowid, -bm25(products_fts, 10.0, 1.0, 2.0) AS score \
                     FROM products_fts WHERE products_fts MATCH $1) \
                     SELECT {COLUMNS}, h.score AS score, COUNT(*) OVER () AS total \
                     FROM hits h JOIN products p ON p.rowid = h.rowid WHERE {FILTERS} \
                     ORDER BY score DESC, p.rating DESC, p.id LIMIT $5 OFFSET $6"
                ),
                format!(
                    "SELECT COUNT(*) AS n FROM products_fts \
                     JOIN products p ON p.rowid = products_fts.rowid \
                     WHERE products_fts MATCH $1 AND {FILTERS}"
                ),
            )
        };
        let expression = (!q.terms.is_empty()).then(|| match_expression(&q.terms));
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
            // A page past the end: count separately.
            None if q.page > 1 => sqlx::query(&count_sql)
                .bind(expression.as_deref())
                .bind(q.category.as_deref())
                .bind(q.min_price_minor)
                .bind(q.max_price_minor)
                .fetch_one(&self.pool)
                .await?
                .try_get::<i64, _>("n")?,
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
        let mut tx = self.pool.begin().await?;
        for p in products {
            sqlx::query(
                "INSERT INTO products (id, name, description, category, price_minor, currency, rating) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                 description = excluded.description, category = excluded.category, \
                 price_minor = excluded.price_minor, currency = excluded.currency, \
                 rating = excluded.rating",
            )
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.description)
            .bind(&p.category)
            .bind(price_minor(p)?)
            .bind(&p.currency)
            .bind(p.rating)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("INSERT INTO products_fts (products_fts) VALUES ('rebuild')")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
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
