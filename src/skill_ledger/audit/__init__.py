"""Auditors: records of stored events, checkpoints, the verify walk, the audit trail."""
