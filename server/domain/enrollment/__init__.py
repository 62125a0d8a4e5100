"""Getting a seed onto a customer's token: self-registration and portal activation."""
