"""The customer portal: login with the second factor, the activation wizard, and the
operations a code approves. Server-rendered (Jinja), Spanish and English."""
