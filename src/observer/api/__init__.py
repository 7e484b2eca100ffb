"""HTTP: /health, /ready, /metrics, /status and the live dashboard page."""
