"""`Idempotency-Key` on state-changing POSTs: the first response is stored and replayed."""
