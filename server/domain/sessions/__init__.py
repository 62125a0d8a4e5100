"""The customers' portal sessions, kept by the server so that they can be ended at once."""
