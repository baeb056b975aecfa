-- The payment ledger, the same SQL for SQLite and PostgreSQL. One row per charge; the
-- idempotency key and the order id are unique, so no retry anywhere can charge twice.
CREATE TABLE IF NOT EXISTS payments (
    transaction_id  TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    fingerprint     TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    order_id        TEXT,
    amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
    currency        TEXT NOT NULL CHECK (length(currency) = 3),
    status          TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS payments_order_id ON payments (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS payments_user_id ON payments (user_id, created_at);
