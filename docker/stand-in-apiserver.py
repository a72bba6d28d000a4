#!/usr/bin/env python3
"""Stand-in kube-apiserver for kha's test hosts: HTTPS on 0.0.0.0:6443, answering
GET/HEAD /, /readyz, /healthz and /livez with 200 and 'ok <hostname>'. Python stdlib only.

GET /watch streams like a watch: a line `<hostname> <seq>` every 200 ms (?every=MS, 20..600000)
for as long as the client stays; the response has no length and ends when the connection does."""
import os
import socket
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CERT_DIR = os.environ.get("KHA_STANDIN_DIR", "/etc/kha-standin")
PORT = int(os.environ.get("KHA_STANDIN_PORT", "6443"))
HOST = socket.gethostname()
PATHS = {"/", "/readyz", "/healthz", "/livez"}


class Handler(BaseHTTPRequestHandler):
    server_version = "kha-standin-apiserver"
    protocol_version = "HTTP/1.1"

    def _answer(self, with_body):
        path = self.path.split("?", 1)[0]
        if path in PATHS:
            code, body = 200, f"ok {HOST}\n".encode()
        else:
            code, body = 404, f"not found {HOST}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def _watch(self):
        every = 200
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        for kv in query.split("&"):
            if kv.startswith("every=") and kv[6:].isdigit():
                every = min(600000, max(20, int(kv[6:])))
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        seq = 0
        try:
            while True:
                self.wfile.write(f"{HOST} {seq}\n".encode())
                self.wfile.flush()
                seq += 1
                time.sleep(every / 1000)
        except OSError:
            pass  # the client left

    def do_GET(self):
        if self.path.split("?", 1)[0] == "/watch":
            self._watch()
        else:
            self._answer(True)

    def do_HEAD(self):
        self._answer(False)

    def log_message(self, fmt, *args):
        if os.environ.get("KHA_STANDIN_LOG"):
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, context):
        super().__init__(addr, handler)
        self.context = context

    def get_request(self):
        sock, addr = super().get_request()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        pass  # TLS handshakes aborted by health checkers (haproxy, plain TCP probes) are normal


def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(CERT_DIR, "tls.crt"), os.path.join(CERT_DIR, "tls.key"))
    srv = Server(("0.0.0.0", PORT), Handler, ctx)
    print(f"stand-in apiserver for {HOST} on :{PORT}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
