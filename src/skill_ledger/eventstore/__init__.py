"""The event store: recorders, the codec of stored events, group commit, the log reader."""
