"""The token in a terminal: the same core and vault, the keyboard as keypad, text frames.

`text_frame.frame(screen)` draws a screen model as text; `TextDisplay` is the `Display` port
on a stream; `TerminalKeypad` and `SystemClock` are the other ports; `EmulatorSession` adds a
demo bank (until the HTTP link exists). PNG capture comes with the Pi's display adapter.
"""
