-- The README's search example on every request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message": "search for wireless headphones under $50", "user_id": "user-123", "context": {"category": "electronics", "price_range": {"max": 50}}}'
