//! A validated search: text terms, category, price bounds (in cents), page.

use intentmesh_core::{
    AgentError, ErrorCode,
    agent::Entities,
    money::{Decimal, Money},
};

/// The catalog's one currency.
pub const CATALOG_CURRENCY: &str = "USD";
pub const DEFAULT_PAGE_SIZE: u32 = 10;
/// Larger requested pages are cut to this size.
pub const MAX_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE: u32 = 1_000;
const MAX_TERMS: usize = 16;
const MAX_TERM_LEN: usize = 40;

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SearchQuery {
    /// Lower-case alphanumeric terms; empty means "no text, filters only".
    pub terms: Vec<String>,
    pub category: Option<String>,
    pub min_price_minor: Option<i64>,
    pub max_price_minor: Option<i64>,
    /// 1-based.
    pub page: u32,
    pub page_size: u32,
}

impl SearchQuery {
    pub fn offset(&self) -> i64 {
        i64::from(self.page.saturating_sub(1)) * i64::from(self.page_size)
    }

    /// The terms joined by spaces, as echoed in results.
    pub fn text(&self) -> String {
        self.terms.join(" ")
    }
}

/// Splits text into bounded lower-case alphanumeric terms.
pub fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.to_lowercase()
                .chars()
                .take(MAX_TERM_LEN)
                .collect::<String>()
        })
        .take(MAX_TERMS)
        .collect()
}

/// Why a search cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("min_price is greater than max_price")]
    EmptyRange,
    #[error("page must be between 1 and {MAX_PAGE}")]
    Page,
    #[error("page_size must be at least 1")]
    PageSize,
    #[error("catalog prices are in {CATALOG_CURRENCY}; a {field} in {currency} cannot be compared")]
    OtherCurrency {
        field: &'static str,
        currency: String,
    },
    #[error("{field} cannot be negative")]
    Negative { field: &'static str },
    #[error("{field} is too large")]
    TooLarge { field: &'static str },
}

impl From<QueryError> for AgentError {
    fn from(err: QueryError) -> Self {
        let message = err.to_string();
        match err {
            QueryError::EmptyRange => {
                AgentError::new(ErrorCode::InvalidPriceRange, message).with("field", "min_price")
            }
            QueryError::Page => {
                AgentError::new(ErrorCode::InvalidField, message).with("field", "page")
            }
            QueryError::PageSize => {
                AgentError::new(ErrorCode::InvalidField, message).with("field", "page_size")
            }
            QueryError::OtherCurrency { field, .. } => {
                AgentError::new(ErrorCode::InvalidPriceRange, message)
                    .with("field", field)
                    .with("currency", CATALOG_CURRENCY)
            }
            QueryError::Negative { field } | QueryError::TooLarge { field } => {
                AgentError::new(ErrorCode::InvalidPriceRange, message).with("field", field)
            }
        }
    }
}

/// Builds a query from the router's entities, checking the bounds and the page.
pub fn from_entities(e: &Entities) -> Result<SearchQuery, QueryError> {
    let min = e
        .min_price
        .as_ref()
        .map(|m| price_cents(m, "min_price"))
        .transpose()?;
    let max = e
        .max_price
        .as_ref()
        .map(|m| price_cents(m, "max_price"))
        .transpose()?;
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        return Err(QueryError::EmptyRange);
    }
    let page = e.page.unwrap_or(1);
    if page == 0 || page > MAX_PAGE {
        return Err(QueryError::Page);
    }
    let page_size = match e.page_size {
        None => DEFAULT_PAGE_SIZE,
        Some(0) => return Err(QueryError::PageSize),
        Some(n) => n.min(MAX_PAGE_SIZE),
    };
    Ok(SearchQuery {
        terms: e.query.as_deref().map(terms).unwrap_or_default(),
        category: e
            .category
            .as_deref()
            .map(|c| c.trim().to_lowercase())
            .filter(|c| !c.is_empty()),
        min_price_minor: min,
        max_price_minor: max,
        page,
        page_size,
    })
}

fn price_cents(m: &Money, field: &'static str) -> Result<i64, QueryError> {
    if let Some(currency) = m.currency()
        && !currency.eq_ignore_ascii_case(CATALOG_CURRENCY)
    {
        return Err(QueryError::OtherCurrency {
            field,
            currency: currency.to_owned(),
        });
    }
    let d = m.amount();
    if d < Decimal::ZERO {
        return Err(QueryError::Negative { field });
    }
    // Bounds are inclusive: round a max down and a min up to whole cents.
    let cents = d * Decimal::from(100);
    let cents = if field == "max_price" {
        cents.floor()
    } else {
        cents.ceil()
    };
    i64::try_from(cents).map_err(|_| QueryError::TooLarge { field })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn usd(s: &str) -> Money {
        Money::new(Decimal::from_str(s).unwrap(), Some("USD".into())).unwrap()
    }

    fn code(e: &Entities) -> ErrorCode {
        AgentError::from(from_entities(e).unwrap_err()).code
    }

    #[test]
    fn terms_are_bounded_lower_case_words() {
        assert_eq!(
            terms("Wireless  HEADPHONES, usb-c!"),
            ["wireless", "headphones", "usb", "c"]
        );
        assert_eq!(terms(&"a ".repeat(100)).len(), MAX_TERMS);
        assert!(
            terms("\"' OR 1=1 --")
                .iter()
                .all(|t| t.chars().all(char::is_alphanumeric))
        );
    }

    #[test]
    fn bounds_pages_and_currency_are_checked() {
        let mut e = Entities {
            min_price: Some(usd("40")),
            max_price: Some(usd("20")),
            ..Default::default()
        };
        assert_eq!(code(&e), ErrorCode::InvalidPriceRange);
        e.min_price = Some(usd("10.005"));
        let q = from_entities(&e).unwrap();
        assert_eq!(
            (q.min_price_minor, q.max_price_minor),
            (Some(1001), Some(2000))
        );
        e.max_price = Some(Money::new(Decimal::from(50), Some("EUR".into())).unwrap());
        assert_eq!(code(&e), ErrorCode::InvalidPriceRange);
        let e = Entities {
            page_size: Some(500),
            ..Default::default()
        };
        assert_eq!(from_entities(&e).unwrap().page_size, MAX_PAGE_SIZE);
        let e = Entities {
            page: Some(0),
            ..Default::default()
        };
        assert_eq!(code(&e), ErrorCode::InvalidField);
    }
}
