-- The product catalog with an FTS5 index over name, description and category.
CREATE TABLE IF NOT EXISTS products (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    category    TEXT NOT NULL,
    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
    currency    TEXT NOT NULL,
    rating      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS products_category_price ON products (category, price_minor);
CREATE VIRTUAL TABLE IF NOT EXISTS products_fts USING fts5(
    name, description, category,
    content = 'products', content_rowid = 'rowid',
    tokenize = 'porter unicode61'
);
