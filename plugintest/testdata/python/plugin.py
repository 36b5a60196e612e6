#!/usr/bin/env python3
"""A plugsock plugin in Python, written from docs/protocol.md with the
standard library only. Start it with PLUGSOCK_ADDR set (host:port or
unix:/path), as a plugsock host's Launch or `plugsock check` does.

It is single-threaded: it reads a request, answers it, reads the next.
"""

import json
import os
import socket
import sys

FUNCTIONS = {
    "Add": {
        "name": "Add",
        "input": {"name": "AddIn", "type": "struct", "fields": [
            {"name": "a", "type": "int64", "mandatory": True},
            {"name": "b", "type": "int64", "mandatory": True}]},
        "output": {"type": "int64"},
    },
    "Div": {
        "name": "Div",
        "input": {"name": "DivIn", "type": "struct", "fields": [
            {"name": "a", "type": "float64", "mandatory": True},
            {"name": "b", "type": "float64", "mandatory": True}]},
        "output": {"type": "float64"},
    },
    "Upper": {
        "name": "Upper",
        "input": {"type": "string"},
        "output": {"type": "string"},
    },
}


class InvalidParams(Exception):
    """The payload cannot be read as the function's input: -32602."""


class MethodError(Exception):
    """The function's own error: -32000."""


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fields(params, name, check):
    if not isinstance(params, dict) or not all(check(params.get(k)) for k in ("a", "b")):
        raise InvalidParams("invalid params for %s: want an object with numbers a and b" % name)
    return params["a"], params["b"]


def add(params):
    a, b = fields(params, "Add", is_int)
    return a + b


def div(params):
    a, b = fields(params, "Div", is_number)
    if b == 0:
        raise MethodError("division by zero")
    return a / b


def upper(params):
    if not isinstance(params, str):
        raise InvalidParams("invalid params for Upper: want a string")
    return params.upper()


HANDLERS = {"Add": add, "Div": div, "Upper": upper}


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
        body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def reply(self, id_, result):
        self.write({"id": id_, "result": result})

    def error(self, id_, code, message):
        self.write({"id": id_, "error": {"code": code, "message": message}})


def dial(addr):
    if addr.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(addr[len("unix:"):])
        return sock
    if addr.startswith("tcp:"):
        addr = addr[len("tcp:"):]
    host, _, port = addr.rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)))


def main():
    addr = os.environ.get("PLUGSOCK_ADDR")
    if not addr:
        print("pycalc: PLUGSOCK_ADDR is not set", file=sys.stderr)
        return 2
    conn = Conn(dial(addr))
    params = {"name": "pycalc", "version": "0.1.0", "functions": FUNCTIONS}
    for key, env in (("token", "PLUGSOCK_TOKEN"), ("launch", "PLUGSOCK_LAUNCH")):
        if os.environ.get(env):
            params[key] = os.environ[env]
    conn.write({"id": 1, "method": "$/handshake", "params": params})
    answer = conn.read()
    if answer is None or "error" in answer:
        print("pycalc: handshake refused: %s" % (answer or {}).get("error"), file=sys.stderr)
        return 1
    name = answer["result"]["name"]
    print("pycalc: connected as %s" % name, file=sys.stderr)
    conn.write({"method": "$/async", "params": {"event": "ready", "name": name}})

    while True:
        m = conn.read()
        if m is None:
            return 0
        method = m.get("method")
        if method is None or m.get("id") is None:
            continue  # responses and notifications ($/cancelRequest): nothing to do
        id_ = m["id"]
        if method == "$/ping":
            conn.reply(id_, None)
        elif method == "$/shutdown":
            # Single-threaded: nothing is in flight, so answer and go.
            conn.reply(id_, None)
            conn.sock.close()
            return 0
        elif method in HANDLERS:
            try:
                conn.reply(id_, HANDLERS[method](m.get("params")))
            except InvalidParams as e:
                conn.error(id_, -32602, str(e))
            except MethodError as e:
                conn.error(id_, -32000, str(e))
            except Exception as e:  # a crash in the function
                conn.error(id_, -32603, "%s: %s" % (type(e).__name__, e))
        else:
            conn.error(id_, -32601, "method not found: %s" % method)


if __name__ == "__main__":
    sys.exit(main())
