#!/usr/bin/env python3
"""statusd.py — stands in for the GitHub/GitLab API in end-to-end tests (commit statuses, notes):
records every request as one JSON line and answers 201 {"id": n}.

usage: statusd.py --out FILE [--port N] [--bind ADDR] [--port-file FILE] [--fail-first N]

  Each line of --out: {"method", "path", "headers": {name: value}, "body": <JSON value, or the text
  when it is not JSON, or null when empty>, "status": <answered status>}; flushed per request, so a
  test can read the file while the server runs. --fail-first N answers 500 to the first N requests
  (they are recorded too) to exercise retries.
"""

import argparse
import http.server
import json
import os
import signal
import socketserver
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "statusd/1"
    timeout = 60

    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline(65537).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def handle_any(self):
        raw = self.read_body()
        if not raw:
            body = None
        else:
            text = raw.decode("utf-8", errors="replace")
            try:
                body = json.loads(text)
            except ValueError:
                body = text
        srv = self.server
        with srv.lock:
            srv.count += 1
            seq = srv.count
            status = 500 if seq <= srv.fail_first else 201
            rec = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                   "body": body, "status": status}
            srv.out.write(json.dumps(rec, sort_keys=True) + "\n")
            srv.out.flush()
        if status == 201:
            payload = json.dumps({"id": seq}).encode()
        else:
            payload = json.dumps({"message": "statusd: failing on purpose (--fail-first)"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description="record API requests as JSON lines; answer 201")
    ap.add_argument("--out", required=True, help="append one JSON line per request here")
    ap.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default)")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--fail-first", type=int, default=0, metavar="N", help="answer 500 to the first N requests")
    args = ap.parse_args()

    srv = Server((args.bind, args.port), Handler)
    srv.lock = threading.Lock()
    srv.count = 0
    srv.fail_first = args.fail_first
    srv.out = open(args.out, "a")
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{srv.server_address[1]}\n")
        os.replace(tmp, args.port_file)

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
        srv.out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
