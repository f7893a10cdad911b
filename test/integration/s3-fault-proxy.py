#!/usr/bin/python3
"""Fault-injecting HTTP proxy for the s3:// tests, on loopback only.

Usage: s3-fault-proxy.py --upstream PORT --port-file FILE --log FILE
                         [--plan A,B,...] [--rule ACTION:TEXT:COUNT]... [--stall S]

Each request is read whole, then handled by one action:
  pass      forward to 127.0.0.1:UPSTREAM and relay the reply
  500       reply 500 InternalError (S3 XML error body)
  503       reply 503 SlowDown
  drop      close the connection without a reply
  reset     close with a TCP reset
  stall     say nothing for --stall seconds (default 30), then close
  truncate  forward, relay the reply head and half the body, close
  lost      forward (the server acts on it), close without the reply
Rules come first: the first COUNT requests whose request line contains
TEXT get ACTION. Other requests take the plan's actions in turn, cycling
(default: pass). Every reply carries "Connection: close", so each attempt
of the client is a new connection and no fault is hidden by a client's
silent resend on a reused one.

The log gets one line per request: "N ACTION METHOD TARGET", where ACTION
is what was done (a truncate of a reply without a body is logged as pass).
The signature of a request covers its Host header, which is passed on
unchanged, so the upstream server verifies it as sent.
"""
import argparse
import os
import socket
import socketserver
import struct
import threading
import time

lock = threading.Lock()
counter = [0]
rules = []  # [action, text, remaining]
plan = ["pass"]
args = None


def log(n, action, line):
    with lock:
        with open(args.log, "a") as f:
            f.write("%d %s %s\n" % (n, action, line))


def read_head(sock, buf):
    """Reads up to the blank line; returns (head bytes, rest) or (None, buf)."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None, buf
        buf += data
    i = buf.index(b"\r\n\r\n") + 4
    return buf[:i], buf[i:]


def header(head, name):
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def read_exact(sock, buf, n):
    while len(buf) < n:
        data = sock.recv(min(1 << 20, n - len(buf)))
        if not data:
            raise ConnectionError("short body")
        buf += data
    return buf[:n], buf[n:]


def read_chunked(sock, buf):
    """Returns the raw chunked body (with framing) and what follows it."""
    out = b""
    while True:
        while b"\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("short chunked body")
            buf += data
        i = buf.index(b"\r\n")
        size = int(buf[:i].split(b";")[0], 16)
        out += buf[: i + 2]
        buf = buf[i + 2:]
        if size == 0:
            # trailers up to the blank line
            while True:
                while b"\r\n" not in buf:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError("short trailers")
                    buf += data
                i = buf.index(b"\r\n")
                out += buf[: i + 2]
                line, buf = buf[:i], buf[i + 2:]
                if not line:
                    return out, buf
        chunk, buf = read_exact(sock, buf, size + 2)
        out += chunk


def choose(line):
    with lock:
        counter[0] += 1
        n = counter[0]
        for r in rules:
            if r[2] > 0 and r[1] in line:
                r[2] -= 1
                return n, r[0]
        return n, plan[(n - 1) % len(plan)]


def error_reply(status, reason, code, head_request):
    body = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code>'
            '<Message>injected by s3-fault-proxy</Message></Error>' % code).encode()
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (status, reason.encode(), len(body))) + \
        (b"" if head_request else body)


def forward(head, body):
    """Sends the request upstream; returns (reply head, reply body)."""
    up = socket.create_connection(("127.0.0.1", args.upstream))
    try:
        up.sendall(head + body)
        buf = b""
        while True:
            rhead, buf = read_head(up, buf)
            if rhead is None:
                raise ConnectionError("upstream closed")
            status = int(rhead.split(b" ", 2)[1])
            if status >= 200:
                break  # 1xx (100 Continue) are skipped: we sent the body already
        method = head.split(b" ", 1)[0]
        if method == b"HEAD" or status in (204, 304):
            rbody = b""
        elif header(rhead, b"content-length") is not None:
            rbody, buf = read_exact(up, buf, int(header(rhead, b"content-length")))
        elif (header(rhead, b"transfer-encoding") or b"").lower() == b"chunked":
            rbody, buf = read_chunked(up, buf)
        else:
            while True:
                data = up.recv(65536)
                if not data:
                    break
                buf += data
            rbody = buf
        return rhead, rbody
    finally:
        up.close()


def close_connection(rhead):
    lines = [l for l in rhead.split(b"\r\n") if l and not l.lower().startswith(b"connection:")]
    return b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n"


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        try:
            head, rest = read_head(sock, b"")
            if head is None:
                return
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            if (header(head, b"expect") or b"").lower() == b"100-continue":
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            length = int(header(head, b"content-length") or b"0")
            body, rest = read_exact(sock, rest, length)
            n, action = choose(line)
            # Each line is logged before the client can see the outcome, so
            # a test that counts faults right after its client exits sees all.
            is_head = line.startswith("HEAD ")
            if action in ("500", "503", "drop", "reset", "stall"):
                log(n, action, line)
            if action == "500":
                sock.sendall(error_reply(500, "Internal Server Error", "InternalError", is_head))
            elif action == "503":
                sock.sendall(error_reply(503, "Slow Down", "SlowDown", is_head))
            elif action == "drop":
                pass
            elif action == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()  # RST now, before socketserver's shutdown() sends a FIN
            elif action == "stall":
                sock.settimeout(args.stall)
                try:
                    while sock.recv(65536):
                        pass  # until the client gives up and closes
                except OSError:
                    pass
            elif action == "lost":
                forward(head, body)
                log(n, action, line)
            else:
                rhead, rbody = forward(head, body)
                if action == "truncate" and len(rbody) >= 2 and \
                        header(rhead, b"content-length") is not None:
                    log(n, action, line)
                    sock.sendall(close_connection(rhead) + rbody[: len(rbody) // 2])
                else:
                    log(n, "pass", line)
                    sock.sendall(close_connection(rhead) + rbody)
        except (ConnectionError, OSError, ValueError) as e:
            log(0, "error", repr(e))


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    global args, plan
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", type=int, required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--plan", default="pass")
    p.add_argument("--rule", action="append", default=[])
    p.add_argument("--stall", type=float, default=30.0)
    args = p.parse_args()
    known = {"pass", "500", "503", "drop", "reset", "stall", "truncate", "lost"}
    plan = args.plan.split(",")
    for r in args.rule:
        action, text, count = r.split(":", 2)
        rules.append([action, text, int(count)])
    for a in plan + [r[0] for r in rules]:
        if a not in known:
            raise SystemExit("s3-fault-proxy: unknown action '%s'" % a)
    srv = Server(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
