"""`otp-admin`: the officers' and operators' command-line tool."""
