"""OTP credentials: seeds wrapped by the HSM, and their support actions."""
