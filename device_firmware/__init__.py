"""The customer's token: one client core, driven by the Raspberry Pi adapters or the emulator."""
