"""What operators, the sensor and the triggers share: events, at-most-once submits, capacity, polling."""
