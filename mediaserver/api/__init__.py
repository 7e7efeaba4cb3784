"""HTTP API layer: Litestar route handlers and response helpers."""
