"""The OTP server: a Litestar service that verifies codes with seeds kept in the HSM."""
