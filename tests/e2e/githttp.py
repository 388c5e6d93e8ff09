#!/usr/bin/env python3
"""githttp.py — serve the git repositories under --root over git's smart HTTP protocol by running
`git http-backend` as a CGI, so end-to-end tests fetch (and push) over real HTTP like against a forge.

usage: githttp.py --root DIR [--port N] [--bind ADDR] [--port-file FILE] [--log FILE] [--receive-pack]

  git clone http://127.0.0.1:PORT/repo.git      (repo.git is DIR/repo.git)
  Pushing needs http.receivepack=true in the repository (`git -C DIR/repo.git config http.receivepack
  true`), or --receive-pack to allow it for every repository served. Hooks in the repositories run as usual
  and inherit this server's environment.

Python 3 standard library only. HTTP/1.1 with keep-alive; chunked and gzip request bodies (git and
libgit2 send both) are handled; the port is written to --port-file once the socket listens.
"""

import argparse
import http.server
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse

# Variables that would point git at another repository than the one the CGI resolves from PATH_INFO.
STRIP_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
             "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH", "GIT_NAMESPACE",
             "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES", "GIT_PROTOCOL")

MAX_BODY = 1 << 30  # a test push larger than this is a bug in the test


class Log:
    """One line per request (and backend stderr), shared by handler threads."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1) if path else None

    def write(self, line):
        if not self.f:
            return
        with self.lock:
            self.f.write(time.strftime("%H:%M:%S ") + line.rstrip("\n") + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response below carries Content-Length
    server_version = "githttp/1"
    timeout = 120  # an idle keep-alive connection does not pin a thread forever

    def log_message(self, fmt, *args):  # requests are logged by run_cgi, not on stderr
        pass

    def do_GET(self):
        self.run_cgi()

    def do_POST(self):
        self.run_cgi()

    def read_body(self):
        """The request body, de-chunked if sent with Transfer-Encoding: chunked (still gzip if so)."""
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            parts, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ValueError("connection closed inside a chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("request body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)  # CRLF after each chunk
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n) if n else b""

    def cgi_env(self, body):
        url = urllib.parse.urlsplit(self.path)
        env = {k: v for k, v in os.environ.items() if k not in STRIP_ENV}
        env.update({
            "GIT_PROJECT_ROOT": self.server.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": self.request_version,
            "SERVER_SOFTWARE": self.server_version,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.server_address[1]),
            "REQUEST_METHOD": self.command,
            "PATH_INFO": urllib.parse.unquote(url.path),
            "QUERY_STRING": url.query,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(len(body)),
        })
        for header, var in (("Content-Type", "CONTENT_TYPE"),
                            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
                            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                            ("User-Agent", "HTTP_USER_AGENT")):
            value = self.headers.get(header)
            if value:
                env[var] = value
        if self.server.receive_pack:
            # Per-process config: lets this server accept pushes without touching the repositories.
            env["GIT_CONFIG_COUNT"] = "1"
            env["GIT_CONFIG_KEY_0"] = "http.receivepack"
            env["GIT_CONFIG_VALUE_0"] = "true"
        return env

    def run_cgi(self):
        start = time.monotonic()
        try:
            body = self.read_body()
        except ValueError as e:
            self.reply(400, [("Content-Type", "text/plain")], (str(e) + "\n").encode())
            self.close_connection = True
            self.server.log.write(f"{self.command} {self.path} 400 {e}")
            return
        proc = subprocess.run(["git", "http-backend"], input=body, env=self.cgi_env(body),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        status, headers, payload = parse_cgi(proc.stdout)
        if proc.returncode != 0 and status == 200 and not payload:
            status = 500
        self.reply(status, headers, payload)
        ms = (time.monotonic() - start) * 1000
        self.server.log.write(f"{self.command} {self.path} {status} {len(body)}>{len(payload)} "
                              f"{ms:.1f}ms rc={proc.returncode}")
        if status >= 400 or proc.returncode != 0:  # on success stderr is only progress meters
            for line in proc.stderr.decode(errors="replace").splitlines():
                self.server.log.write("  backend: " + line)

    def reply(self, status, headers, payload):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()


def parse_cgi(out):
    """Split CGI output into (status, [(header, value)], body); the Status: header sets the status."""
    end, sep = len(out), 0
    for s in (b"\r\n\r\n", b"\n\n"):
        i = out.find(s)
        if i >= 0 and i < end:
            end, sep = i, len(s)
    if not sep:
        return 502, [("Content-Type", "text/plain")], b"git http-backend sent no CGI header\n"
    status, headers = 200, []
    for line in out[:end].decode("latin-1").splitlines():
        if ":" not in line:
            continue
        k, v = line.split(":", 1)
        k, v = k.strip(), v.strip()
        if k.lower() == "status":
            try:
                status = int(v.split()[0])
            except (ValueError, IndexError):
                status = 502
        else:
            if k.lower() == "location" and status == 200:
                status = 302
            headers.append((k, v))
    return status, headers, out[end + sep:]


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description="serve git repositories over smart HTTP (git http-backend)")
    ap.add_argument("--root", required=True, help="folder holding the repositories (GIT_PROJECT_ROOT)")
    ap.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default)")
    ap.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--log", help="append one line per request here")
    ap.add_argument("--receive-pack", action="store_true",
                    help="accept pushes to every repository (else per repository: http.receivepack=true)")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM; chain allowed)")
    ap.add_argument("--tls-key", help="the certificate's private key (PEM)")
    args = ap.parse_args()

    srv = Server((args.bind, args.port), Handler)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.root = os.path.abspath(args.root)
    srv.receive_pack = args.receive_pack
    srv.log = Log(args.log)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)  # readers never see a half-written file
    srv.log.write(f"listening on {args.bind}:{port} root {srv.root}")

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
