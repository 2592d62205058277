"""Copying Kling's results to storage you own before Kling deletes them (30 days)."""
