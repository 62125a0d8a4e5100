"""The server's bounded contexts, each with controllers, services and schemas."""
