"""A local Kling API server for tests, demos and benchmarks (``kling-emulator``).

Written from Kling's published API documentation, not from the provider's client: it imports
nothing from ``airflow_provider_kling``, so a client bug is caught rather than mirrored.
"""
