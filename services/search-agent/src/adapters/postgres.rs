//! [`PostgresCatalog`]: the catalog in PostgreSQL, ranked by `ts_rank_cd` over a weighted
//! `tsvector` (name A, category B, description C) with a GIN index.

use sqlx::{PgPool, Postgres, postgres::PgPoolOptions};

use super::{
    price_minor,
    sql::{COLUMNS, Dialect, SqlCatalog},
};
use crate::{catalog::ProductRecord, domain::catalog::CatalogError};

/// PostgreSQL needs the parameters' types where they are only compared with NULL.
const FILTERS: &str = "($2::text IS NULL OR p.category = $2) \
                       AND ($3::bigint IS NULL OR p.price_minor >= $3) \
                       AND ($4::bigint IS NULL OR p.price_minor <= $4)";

/// PostgreSQL's ways: `tsquery` and `ts_rank_cd`.
#[derive(Debug)]
pub struct TsQuery;

/// The catalog in PostgreSQL.
pub type PostgresCatalog = SqlCatalog<TsQuery>;

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
        Ok(Self::new(pool))
    }
}

/// The source of the matches: with terms, the rows the query matches (`q` for ranking).
fn source(with_text: bool) -> &'static str {
    if with_text {
        "products p, to_tsquery('english', $1) AS q WHERE p.document @@ q AND"
    } else {
        "products p WHERE ($1::text IS NULL OR TRUE) AND"
    }
}

impl Dialect for TsQuery {
    type Db = Postgres;

    fn search_sql(with_text: bool) -> String {
        let score = if with_text {
            "ts_rank_cd(p.document, q)::float8"
        } else {
            "0.0::float8"
        };
        format!(
            "SELECT {COLUMNS}, {score} AS score, COUNT(*) OVER () AS total FROM {} {FILTERS} \
             ORDER BY score DESC, p.rating DESC, p.id LIMIT $5 OFFSET $6",
            source(with_text)
        )
    }

    fn count_sql(with_text: bool) -> String {
        format!("SELECT COUNT(*) AS n FROM {} {FILTERS}", source(with_text))
    }

    /// `wireless | headphones`: terms are alphanumeric already, so nothing is tsquery syntax.
    fn match_expression(terms: &[String]) -> String {
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

    /// One statement for the whole load (`UNNEST` of one array per column).
    async fn load(pool: &PgPool, products: &[ProductRecord]) -> Result<(), CatalogError> {
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
        .execute(pool)
        .await?;
        Ok(())
    }
}
