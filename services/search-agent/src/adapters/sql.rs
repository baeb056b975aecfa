//! [`SqlCatalog`]: the catalog on sqlx, one implementation over both databases. What differs — the
//! full-text query, the statements around it and bulk loading — is the [`Dialect`]'s; the search
//! itself (bind, page, count past the end, read the rows), the count and the ready check are
//! written once, here.

use std::{fmt, future::Future, marker::PhantomData};

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::product_from_row;
use crate::{
    catalog::ProductRecord,
    domain::{
        catalog::{Catalog, CatalogError, SearchPage},
        query::SearchQuery,
    },
};

/// The product columns every search reads.
pub(super) const COLUMNS: &str =
    "p.id, p.name, p.description, p.category, p.price_minor, p.currency, p.rating";

/// What one database does its own way.
pub trait Dialect: fmt::Debug + Send + Sync + 'static {
    type Db: Database;

    /// The search: `$1` the match expression (NULL without terms), `$2` the category, `$3`/`$4`
    /// the price bounds in cents (each may be NULL), `$5` the page size, `$6` the offset; rows
    /// of [`COLUMNS`], `score` and `total` (every match), best first.
    fn search_sql(with_text: bool) -> String;

    /// The number of matches, for a page past the end (`$1`–`$4` as in the search).
    fn count_sql(with_text: bool) -> String;

    /// The terms as this database's full-text expression, nothing in it the user's syntax.
    fn match_expression(terms: &[String]) -> String;

    /// Inserts or updates `products` by id.
    fn load<'a>(
        pool: &'a Pool<Self::Db>,
        products: &'a [ProductRecord],
    ) -> impl Future<Output = Result<(), CatalogError>> + Send + 'a;
}

/// The catalog in the database of `D`.
#[derive(Debug)]
pub struct SqlCatalog<D: Dialect> {
    pub(super) pool: Pool<D::Db>,
    dialect: PhantomData<D>,
}

impl<D: Dialect> Clone for SqlCatalog<D> {
    fn clone(&self) -> Self {
        Self::new(self.pool.clone())
    }
}

impl<D: Dialect> SqlCatalog<D> {
    pub(super) fn new(pool: Pool<D::Db>) -> Self {
        Self {
            pool,
            dialect: PhantomData,
        }
    }
}

#[async_trait]
impl<D> Catalog for SqlCatalog<D>
where
    D: Dialect,
    for<'c> &'c Pool<D::Db>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'r> String: Decode<'r, D::Db> + Type<D::Db>,
    for<'r> f32: Decode<'r, D::Db> + Type<D::Db>,
    for<'r> f64: Decode<'r, D::Db> + Type<D::Db>,
    for<'r> &'r str: ColumnIndex<<D::Db as Database>::Row>,
{
    async fn search(&self, q: &SearchQuery) -> Result<SearchPage, CatalogError> {
        let with_text = !q.terms.is_empty();
        let expression = with_text.then(|| D::match_expression(&q.terms));
        let sql = D::search_sql(with_text);
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
            None if q.page > 1 => {
                let count_sql = D::count_sql(with_text);
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
        D::load(&self.pool, products).await
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
