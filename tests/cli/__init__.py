"""Running the console scripts in this process (`in_process`) and, once each, as a program
(`tests/test_cli.py`)."""
