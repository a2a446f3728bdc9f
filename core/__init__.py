"""The lowest layer: small helpers every app may use, with no models and no import of a project
app (safe redirects, public URLs, CSV-safe cells, "service unavailable" errors, the health
check), and core.compat, the one place where a library's private API is used or patched."""
