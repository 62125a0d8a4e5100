"""The verify API the bank calls for login and transaction approval."""
