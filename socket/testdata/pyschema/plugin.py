#!/usr/bin/env python3
"""A plugsock plugin in Python that describes its functions with JSON
Schema alone: "inputSchema" and "outputSchema", and no Entities. Standard
library only; it speaks protocol 1 (its handshake names no protocol), so
a call's params are the payload itself. Start it with PLUGSOCK_ADDR set,
as a host's Launch does.

It checks nothing itself: what reaches Book, it books. A host that
validates refuses what does not fit the schemas before it gets here, and
Seen tells which calls did get here.
"""

import json
import os
import socket
import sys

BOOKING = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1, "description": "What is on."},
        "when": {"type": "string", "format": "date-time"},
        "seats": {"type": "integer", "minimum": 1, "maximum": 10},
        "kind": {"enum": ["talk", "workshop"]},
    },
    "required": ["title", "when", "seats"],
}

FUNCTIONS = {
    "Book": {
        "name": "Book",
        "inputSchema": BOOKING,
        "outputSchema": {
            "type": "object",
            "properties": {"id": {"type": "integer"}, "title": {"type": "string"}},
            "required": ["id", "title"],
        },
    },
    "Count": {
        "name": "Count",
        "inputSchema": {"type": "array", "items": {"type": "string"}},
        "outputSchema": {"type": "integer", "minimum": 0},
    },
    # Answers outside its own outputSchema: a host that checks results
    # logs and counts that, and passes the answer on.
    "Broken": {"name": "Broken", "outputSchema": {"type": "integer"}},
    "Seen": {"name": "Seen"},
}

seen = []


def book(params):
    return {"id": len(seen), "title": params["title"]}


def count(params):
    return len(params)


def broken(params):
    return "seven"


def seen_calls(params):
    return list(seen)


HANDLERS = {"Book": book, "Count": count, "Broken": broken, "Seen": seen_calls}


class Conn:
    """LSP-style framing over a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.reader = sock.makefile("rb")

    def read(self):
        """Returns the next message, or None when the host has hung up."""
        length = None
        while True:
            line = self.reader.readline()
            if not line:
                return None
            line = line.rstrip(b"\r\n")
            if not line:
                if length is None:
                    continue
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = self.reader.read(length)
        if len(body) < length:
            return None
        return json.loads(body.decode("utf-8"))

    def write(self, message):
        message["jsonrpc"] = "2.0"
        body = json.dumps(message).encode("utf-8")
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)


def dial(addr):
    if addr.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(addr[len("unix:"):])
        return sock
    host, _, port = addr.rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)))


def main():
    addr = os.environ.get("PLUGSOCK_ADDR")
    if not addr:
        print("pyschema: PLUGSOCK_ADDR is not set", file=sys.stderr)
        return 2
    conn = Conn(dial(addr))
    # Pretty-printed on purpose: the host keeps schemas compacted.
    params = {"name": "pyschema", "version": "0.1.0", "functions": FUNCTIONS}
    for key, env in (("token", "PLUGSOCK_TOKEN"), ("launch", "PLUGSOCK_LAUNCH")):
        if os.environ.get(env):
            params[key] = os.environ[env]
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "$/handshake", "params": params}, indent=2).encode("utf-8")
    conn.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    answer = conn.read()
    if answer is None or "error" in answer:
        print("pyschema: handshake refused: %s" % (answer or {}).get("error"), file=sys.stderr)
        return 1

    while True:
        m = conn.read()
        if m is None:
            return 0
        method = m.get("method")
        if method is None or m.get("id") is None:
            continue  # responses and notifications: nothing to do
        id_ = m["id"]
        if method == "$/ping":
            conn.write({"id": id_, "result": None})
        elif method == "$/shutdown":
            conn.write({"id": id_, "result": None})
            conn.sock.close()
            return 0
        elif method in HANDLERS:
            if method != "Seen":
                seen.append(method)
            try:
                conn.write({"id": id_, "result": HANDLERS[method](m.get("params"))})
            except Exception as e:  # what the host let through and should not have
                conn.write({"id": id_, "error": {"code": -32603, "message": "%s: %s" % (type(e).__name__, e)}})
        else:
            conn.write({"id": id_, "error": {"code": -32601, "message": "method not found: %s" % method}})


if __name__ == "__main__":
    sys.exit(main())
