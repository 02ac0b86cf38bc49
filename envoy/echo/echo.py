#!/usr/bin/env python3
"""A sample service behind tenantgate: answers every request with the identity it received.

Replace it with your own service; the only contract is that it trusts x-tenant-id, x-user-id and
x-user-roles, which the gateway sets after verifying the token and strips from every client request.
"""
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    server_version = "tenantgate-echo"

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        body = json.dumps(
            {
                "service": "echo",
                "method": self.command,
                "path": self.path,
                "tenant": self.headers.get("x-tenant-id"),
                "user": self.headers.get("x-user-id"),
                "roles": self.headers.get("x-user-roles"),
                "authorization_forwarded": "authorization" in self.headers,
            },
            indent=2,
        ).encode() + b"\n"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, fmt, *args):  # keep the demo's terminal readable
        if os.environ.get("ECHO_LOG"):
            super().log_message(fmt, *args)


def main():
    host = os.environ.get("ECHO_HOST", "127.0.0.1")
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ECHO_PORT", "8000"))
    # As a container's first process it gets no default SIGTERM action: stop at once on it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ThreadingHTTPServer((host, port), Echo).serve_forever()


if __name__ == "__main__":
    main()
