"""Kling's API contract (no operator, connection or config): kinds, requests, responses, packs."""
