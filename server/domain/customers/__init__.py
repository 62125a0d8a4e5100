"""Bank customers and their passwords."""
