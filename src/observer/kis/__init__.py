"""The KIS protocol: wire formats, token lifecycle, REST client and WebSocket session."""
