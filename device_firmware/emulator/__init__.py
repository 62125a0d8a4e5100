"""The token in a terminal: the same core and vault, the keyboard as keypad, text frames.

`text_frame.frame(screen)` draws a screen model as text; `TextDisplay` is the `Display` port
on a stream; `TerminalKeypad` and the Pi's `SystemClock` are the other ports; `EmulatorSession`
runs the core against a real bank (`device_firmware.link.HttpServerLink`, ``--server URL``) or a
demo bank in memory; `capture.CapturingDisplay` also writes each frame as a PNG drawn by the
Pi's renderer (``--capture DIR``).
"""
