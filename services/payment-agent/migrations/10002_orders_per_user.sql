-- An order id belongs to the user who paid it: two users may each have an order "1001", and
-- nobody can pay (and so block) another user's order. Existing rows stay as they are: an order
-- id unique across all users is unique per user too.
DROP INDEX IF EXISTS payments_order_id;
CREATE UNIQUE INDEX IF NOT EXISTS payments_user_order ON payments (user_id, order_id) WHERE order_id IS NOT NULL;
