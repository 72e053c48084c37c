"""The dispatch baseline: a bare WSGI app answering any request with a small JSON 201, no Django.

Served by the same gunicorn command as the game, it shows what the HTTP server and the load
generator cost by themselves on this machine: the ceiling any endpoint could reach here.
"""

from __future__ import annotations

BODY = b'{"id": 1, "status": "outbound"}'


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]
