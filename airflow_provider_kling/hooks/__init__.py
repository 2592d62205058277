"""KlingHook and the transport under it: auth, connection settings, HTTP session, retries, caches."""
