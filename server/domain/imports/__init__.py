"""Seeds of hardware tokens bought from a vendor: PSKC files (RFC 6030) read and imported."""
