"""A protocol-faithful KIS simulator (REST + WebSocket on loopback) over a synthetic KRX market."""
