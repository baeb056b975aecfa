-- The product catalog with a weighted full-text document (name > category > description).
CREATE TABLE IF NOT EXISTS products (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    category    TEXT NOT NULL,
    price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
    currency    TEXT NOT NULL,
    rating      REAL NOT NULL,
    document    tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A') ||
        setweight(to_tsvector('english', category), 'B') ||
        setweight(to_tsvector('english', description), 'C')
    ) STORED
);
CREATE INDEX IF NOT EXISTS products_document ON products USING GIN (document);
CREATE INDEX IF NOT EXISTS products_category_price ON products (category, price_minor);
