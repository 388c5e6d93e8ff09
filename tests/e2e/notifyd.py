#!/usr/bin/env python3
"""notifyd.py — what a service manager hears from wavesync serve, for tests.

--notify PATH: bind a datagram socket at PATH (NOTIFY_SOCKET, sd_notify(3)):
  every message is one JSON line {"t": seconds, "msg": "READY=1\\n…"}; when a
  message has READY=1 and --probe HOST:PORT is given, the line also tells
  whether a TCP connection to it succeeded at that moment ("probe": true).
--journal PATH: bind a datagram socket at PATH as systemd-journald's native
  socket: each entry is one JSON line of its fields (both encodings: FIELD=value
  lines, and FIELD\\n + 64-bit little-endian length + value + \\n).
"""
import argparse, json, os, socket, struct, sys, time


def parse_journal(data):
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            fields[k.decode()] = v.decode("utf-8", "replace")
            i = nl + 1
        else:
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            fields[line.decode()] = data[nl + 9:nl + 9 + n].decode("utf-8", "replace")
            i = nl + 9 + n + 1
    return fields


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--notify")
    ap.add_argument("--journal")
    ap.add_argument("--probe")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    path = a.notify or a.journal
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    with open(a.out, "a", buffering=1) as out:
        while True:
            data = s.recv(1 << 16)
            if a.journal:
                out.write(json.dumps(parse_journal(data)) + "\n")
                continue
            msg = data.decode("utf-8", "replace")
            rec = {"t": time.time(), "msg": msg}
            if a.probe and "READY=1" in msg.split("\n"):
                host, port = a.probe.rsplit(":", 1)
                try:
                    socket.create_connection((host, int(port)), timeout=1).close()
                    rec["probe"] = True
                except OSError as e:
                    rec["probe"] = False
                    rec["error"] = str(e)
            out.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    sys.exit(main())
