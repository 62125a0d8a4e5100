"""NSS softokn through a small C shim: a second PKCS#11 implementation for the tests."""
