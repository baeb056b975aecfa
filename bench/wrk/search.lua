-- The README's search example on every request, synchronously ("mode": "sync"), so this compares
-- one request/response path with the baseline's; the queued path is measured by intentmesh-async-bench.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message": "search for wireless headphones under $50", "user_id": "user-123", "context": {"category": "electronics", "price_range": {"max": 50}}, "mode": "sync"}'
