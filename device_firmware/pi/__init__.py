"""The token on a Raspberry Pi: a matrix keypad through gpiozero, an OLED through luma.oled.

Only this package and ``device_firmware/__main__.py`` import gpiozero and luma; the core sees
them through its ports. Modules:

- `config`: the TOML configuration (`/etc/otp-token/config.toml`), checked at start-up;
- `keypad`: `MatrixKeypad`, the `Keypad` port on GPIO (rows driven low one at a time,
  columns with pull-ups), with `debounce.KeyDebouncer` for bounce, single events and holds;
- `frame`: `draw_screen(screen, fonts)`, a screen model as a 128x64 1-bit image
  (`text_layout` wraps and fits the sentences, `fonts` loads DejaVu);
- `display`: `OledDisplay`, the `Display` port on a luma device (SSD1306 or SH1106, I2C or
  SPI), blanked and woken by `blanking.BlankingKeypad`, cleared and switched off on exit;
- `clock`: the system clock and `SystemClockCheck` (NTP synchronised, or a set RTC);
- `link`: `make_link(server_url)`, the one place the bank's link is made;
- `service`: everything wired and run; `screens`: every screen as PNG for the docs;
- `errors`: `PiError` and its branches.

``otp-token.service`` (systemd) and ``config.example.toml`` are installed as docs/pi.md says.
"""
