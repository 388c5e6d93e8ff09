#!/usr/bin/env python3
"""chartrepo.py — a Helm chart repository for the end-to-end tests: serves a
folder (index.yaml and chart archives, as `helm repo index` made them) over
HTTP, optionally with basic auth and/or TLS, and logs every request, one
line each ("METHOD PATH STATUS"), so a test can count what was fetched.

  chartrepo.py ROOT PORTFILE LOG [--basic USER:PASSWORD | --bearer TOKEN]
               [--tls CERT KEY [--client-ca CA]]

--client-ca: TLS clients must present a certificate signed by CA.

Binds 127.0.0.1 on a free port and writes the port to PORTFILE once it is
listening. Stops on SIGTERM.
"""
import base64
import hmac
import http.server
import os
import signal
import ssl
import sys


def main():
    args = sys.argv[1:]
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    root, portfile, log = args[0], args[1], args[2]
    basic = bearer = client_ca = None
    cert = key = None
    i = 3
    while i < len(args):
        if args[i] == "--basic":
            basic = args[i + 1]
            i += 2
        elif args[i] == "--bearer":
            bearer = args[i + 1]
            i += 2
        elif args[i] == "--client-ca":
            client_ca = args[i + 1]
            i += 2
        elif args[i] == "--tls":
            cert, key = args[i + 1], args[i + 2]
            i += 3
        else:
            print("unknown argument " + args[i], file=sys.stderr)
            return 2
    want = "Basic " + base64.b64encode(basic.encode()).decode() if basic else None
    if bearer:
        want = "Bearer " + bearer
    logf = open(log, "a", buffering=1)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def log_message(self, fmt, *a):
            pass

        def log_request(self, code="-", size="-"):
            logf.write("%s %s %s\n" % (self.command, self.path, code))

        def authorized(self):
            if not want:
                return True
            got = self.headers.get("Authorization", "")
            return hmac.compare_digest(got.encode(), want.encode())

        def do_GET(self):
            if not self.authorized():
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Bearer realm="charts"' if bearer else 'Basic realm="charts"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

        def do_HEAD(self):
            self.do_GET()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(client_ca)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, portfile)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
