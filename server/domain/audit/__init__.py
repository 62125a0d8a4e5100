"""The audit trail: a hash chain whose head the HSM seals."""
