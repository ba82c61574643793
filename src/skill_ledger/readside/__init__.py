"""The read side: the projector, the bulk rebuild, the read table, tracking and reports."""
