-- What each user has paid per currency and UTC day, kept in the same transaction as each charge
-- so that concurrent charges cannot spend past PAYMENT_DAILY_LIMITS. Filled from the payments
-- already made, so a limit turned on today counts today's payments.
CREATE TABLE IF NOT EXISTS payment_budgets (
    user_id     TEXT NOT NULL,
    currency    TEXT NOT NULL,
    day         TEXT NOT NULL,
    spent_minor BIGINT NOT NULL CHECK (spent_minor >= 0),
    PRIMARY KEY (user_id, currency, day)
);
INSERT INTO payment_budgets (user_id, currency, day, spent_minor)
SELECT user_id, currency, substr(created_at, 1, 10), SUM(amount_minor)
FROM payments
GROUP BY user_id, currency, substr(created_at, 1, 10)
ON CONFLICT DO NOTHING;
