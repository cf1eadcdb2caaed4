"""The application layer: the one run cycle (session) and what drives it (cli, keeper, scripting),
with what it shows (display, logs, telemetry)."""
