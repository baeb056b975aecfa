//! [`SqliteCatalog`]: the embedded catalog, SQLite with an FTS5 index ranked by bm25
//! (name weighs 10, category 2, description 1).

use std::str::FromStr;

use sqlx::{
    Pool, Sqlite,
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
};

use super::{
    price_minor,
    sql::{COLUMNS, Dialect, SqlCatalog},
};
use crate::{catalog::ProductRecord, domain::catalog::CatalogError};

const FILTERS: &str = "($2 IS NULL OR p.category = $2) \
                       AND ($3 IS NULL OR p.price_minor >= $3) \
                       AND ($4 IS NULL OR p.price_minor <= $4)";

/// SQLite's ways: FTS5 `MATCH` and bm25.
#[derive(Debug)]
pub struct Fts5;

/// The catalog in SQLite.
pub type SqliteCatalog = SqlCatalog<Fts5>;

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
        Ok(Self::new(pool))
    }
}

impl Dialect for Fts5 {
    type Db = Sqlite;

    fn search_sql(with_text: bool) -> String {
        if with_text {
            // bm25() only works in a plain full-text query: rank first, then join and filter.
            format!(
                "WITH hits AS MATERIALIZED (SELECT rowid, -bm25(products_fts, 10.0, 1.0, 2.0) AS score \
                 FROM products_fts WHERE products_fts MATCH $1) \
                 SELECT {COLUMNS}, h.score AS score, COUNT(*) OVER () AS total \
                 FROM hits h JOIN products p ON p.rowid = h.rowid WHERE {FILTERS} \
                 ORDER BY score DESC, p.rating DESC, p.id LIMIT $5 OFFSET $6"
            )
        } else {
            format!(
                "SELECT {COLUMNS}, 0.0 AS score, COUNT(*) OVER () AS total FROM products p \
                 WHERE ($1 IS NULL OR 1) AND {FILTERS} \
                 ORDER BY p.rating DESC, p.id LIMIT $5 OFFSET $6"
            )
        }
    }

    fn count_sql(with_text: bool) -> String {
        if with_text {
            format!(
                "SELECT COUNT(*) AS n FROM products_fts \
                 JOIN products p ON p.rowid = products_fts.rowid \
                 WHERE products_fts MATCH $1 AND {FILTERS}"
            )
        } else {
            format!("SELECT COUNT(*) AS n FROM products p WHERE ($1 IS NULL OR 1) AND {FILTERS}")
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

    async fn load(pool: &Pool<Sqlite>, products: &[ProductRecord]) -> Result<(), CatalogError> {
        let mut tx = pool.begin().await?;
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
}
