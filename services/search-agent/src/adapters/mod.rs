//! Catalog adapters: SQL full-text search ([`sql::SqlCatalog`], one implementation with a
//! dialect per database: SQLite FTS5 embedded, PostgreSQL), and a cache in front of either.

pub(crate) mod cached;
pub(crate) mod postgres;
pub(crate) mod sql;
pub(crate) mod sqlite;

use std::str::FromStr;

use rust_decimal::Decimal;
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::{
    catalog::ProductRecord,
    domain::catalog::{CatalogError, Product},
};

/// Reads a product from a search row of either backend.
fn product_from_row<'r, R>(row: &'r R) -> Result<Product, sqlx::Error>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    f32: Decode<'r, R::Database> + Type<R::Database>,
    f64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(Product {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        category: row.try_get("category")?,
        price_minor: row.try_get("price_minor")?,
        currency: row.try_get("currency")?,
        rating: row.try_get("rating")?,
        score: row.try_get("score")?,
    })
}

/// A record's price in cents.
fn price_minor(p: &ProductRecord) -> Result<i64, CatalogError> {
    let price = Decimal::from_str(&p.price)
        .map_err(|e| CatalogError::Data(format!("product {}: price {:?}: {e}", p.id, p.price)))?;
    i64::try_from((price * Decimal::from(100)).round())
        .map_err(|_| CatalogError::Data(format!("product {}: price out of range", p.id)))
}
