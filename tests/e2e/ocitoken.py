#!/usr/bin/env python3
"""ocitoken.py — the Bearer token flow of an OCI registry, for the end-to-end
tests: a proxy in front of a real registry (distribution) that answers every
/v2/ request without a valid token with 401 and
`WWW-Authenticate: Bearer realm=".../token",service="e2e",scope="repository:NAME:pull"`,
and a token service at /token that gives a token for the right basic-auth
credentials only. Requests with a token are passed to the registry.
Every request is logged ("METHOD PATH STATUS").

  ocitoken.py UPSTREAM PORTFILE LOG USER:PASSWORD

Binds 127.0.0.1 on a free port, writes it to PORTFILE. Stops on SIGTERM.
"""
import base64
import hmac
import http.server
import json
import os
import secrets
import signal
import sys
import urllib.error
import urllib.request


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    upstream, portfile, log, cred = sys.argv[1:]
    want = "Basic " + base64.b64encode(cred.encode()).decode()
    tokens = set()
    logf = open(log, "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            pass

        def reply(self, code, body=b"", headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            logf.write("%s %s %s\n" % (self.command, self.path, code))

        def do_GET(self):
            port = self.server.server_address[1]
            if self.path.startswith("/token"):
                if not hmac.compare_digest(self.headers.get("Authorization", "").encode(), want.encode()):
                    return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                tok = secrets.token_hex(16)
                tokens.add(tok)
                return self.reply(200, json.dumps({"token": tok}).encode(), [("Content-Type", "application/json")])
            if not self.path.startswith("/v2/"):
                return self.reply(404)
            auth = self.headers.get("Authorization", "")
            if not (auth.startswith("Bearer ") and auth[7:] in tokens):
                name = self.path[4:].split("/manifests/")[0].split("/blobs/")[0].split("/tags/")[0]
                chal = 'Bearer realm="http://127.0.0.1:%d/token",service="e2e",scope="repository:%s:pull"' % (port, name)
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [("WWW-Authenticate", chal)])
            req = urllib.request.Request(upstream + self.path)
            if self.headers.get("Accept"):
                req.add_header("Accept", self.headers["Accept"])
            try:
                with urllib.request.urlopen(req) as r:
                    body, code, hdrs = r.read(), r.status, r.headers
            except urllib.error.HTTPError as e:
                body, code, hdrs = e.read(), e.code, e.headers
            keep = [(k, hdrs[k]) for k in ("Content-Type", "Docker-Content-Digest") if hdrs.get(k)]
            self.reply(code, body, keep)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
