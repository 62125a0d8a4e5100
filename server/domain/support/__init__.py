"""Customer support actions that span several credentials (a lost or stolen device)."""
