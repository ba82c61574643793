"""Benchmarks: the ledger against PostgreSQL's own limit and the eventsourcing library."""
