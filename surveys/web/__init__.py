"""The web layer of the write side: the HTML pages and the REST API, and their URLs.

Thin by design: parse the request, call one service or selector (the modules one level up),
render. No domain logic lives here; the CLI and the tasks reach the same services.
"""
