#!/usr/bin/env python3
"""A plugsock plugin in Python that speaks protocol 2, written from the
protocol document with the standard library only. Start it with
PLUGSOCK_ADDR set (host:port or unix:/path), as a plugsock host's Launch or
`plugsock check` does.

It offers protocol 2 in its handshake and speaks whatever the host answers:
2, or 1 when the answer names no protocol. In protocol 2 params are always
an object: an object input by name, any other input as {"value": ...},
metadata in params._meta, which never reaches a function.

It is single-threaded: it reads a request, answers it, reads the next. A
function that calls a host service reads on until the service's answer
comes, and serves what arrived meanwhile afterwards.

Environment, for tests:
  PLUGINTEST_PROTOCOL      JSON text sent as the handshake's protocol
                           (default 2; "none" leaves it out)
  PLUGINTEST_CAPABILITIES  JSON text sent as the handshake's capabilities
  PLUGINTEST_BREAK         misbehave on purpose:
                             meta      a top-level "meta" on every answer
                             scalar    scalar params on $/async and on
                                       the call to Check.Echo
                             leak      _meta is left in the input
                             progress  $/progress names a token never sent
  PLUGINTEST_RECORD        a directory: every frame read is appended to
                           frames-<pid> in it, header and body as read
"""

import collections
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
    "Echo": {
        "name": "Echo",
        "input": {"type": "string"},
        "output": {"type": "string"},
    },
    "HostEcho": {
        "name": "HostEcho",
        "input": {"type": "string"},
        "output": {"type": "string"},
    },
    "Count": {
        "name": "Count",
        "input": {"type": "int64"},
        "output": {"type": "int64"},
    },
}

# Inputs that protocol 2 sends by name; the others come as {"value": ...}.
OBJECT_INPUTS = {"Add"}

BREAK = os.environ.get("PLUGINTEST_BREAK", "")


class InvalidParams(Exception):
    """The payload cannot be read as the function's input: -32602."""


class MethodError(Exception):
    """The function's own error: -32000."""


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class Conn:
    """LSP-style framing over a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.record = None
        if os.environ.get("PLUGINTEST_RECORD"):
            path = os.path.join(os.environ["PLUGINTEST_RECORD"], "frames-%d" % os.getpid())
            self.record = open(path, "ab")

    def read(self):
        """Returns the next message, or None when the host has hung up."""
        length = None
        header = b""
        while True:
            line = self.reader.readline()
            if not line:
                return None
            header += line
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
        if self.record:
            self.record.write(header + body)
            self.record.flush()
        return json.loads(body.decode("utf-8"))

    def write(self, message):
        message = dict({"jsonrpc": "2.0"}, **message)
        body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)


class Plugin:
    def __init__(self, conn):
        self.conn = conn
        self.protocol = 1
        self.services = {}
        self.next_id = 1
        self.pending = collections.deque()  # messages read while waiting

    # --- answers ---

    def answer(self, message):
        if BREAK == "meta":
            message["meta"] = {"trace": "py2calc"}
        self.conn.write(message)

    def reply(self, id_, result):
        self.answer({"id": id_, "result": result})

    def error(self, id_, code, message):
        self.answer({"id": id_, "error": {"code": code, "message": message}})

    # --- requests to the host ---

    def request(self, method, params=None):
        """Sends a request to the host and returns its answer; what comes
        meanwhile waits in self.pending."""
        self.next_id += 1
        id_ = self.next_id
        m = {"id": id_, "method": method}
        if params is not None:
            m["params"] = params
        self.conn.write(m)
        while True:
            got = self.conn.read()
            if got is None:
                raise MethodError("the host hung up while %s was in flight" % method)
            if "method" not in got and got.get("id") == id_:
                return got
            if got.get("method") == "$/ping" and got.get("id") is not None:
                self.reply(got["id"], None)  # the host must hear from us
                continue
            self.pending.append(got)

    def call_service(self, method, value, meta):
        if self.protocol >= 2 and BREAK != "scalar":
            params = {"value": value}
            if meta:
                params["_meta"] = meta
        else:
            params = value
        got = self.request(method, params)
        if "error" in got:
            raise MethodError("%s: %s (%s)" % (method, got["error"].get("message"), got["error"].get("code")))
        return got.get("result")

    def expect_not_found(self, method):
        got = self.request(method, {} if not method.startswith("$/") else None)
        code = (got.get("error") or {}).get("code")
        if code != -32601:
            raise MethodError("%s was answered %s; want error -32601" % (method, json.dumps(got)))

    # --- reading a call ---

    def read_call(self, method, params):
        """Returns the call's input and its _meta (a dict, maybe empty)."""
        if self.protocol < 2:
            return params, {}
        if params is None:
            return None, {}
        if isinstance(params, list):
            if len(params) != 1:
                raise InvalidParams("params by position must hold the input as their one element")
            return params[0], {}
        if not isinstance(params, dict):
            raise InvalidParams("protocol 2 params must be an object or an array")
        params = dict(params)
        meta = params.get("_meta") if BREAK == "leak" else params.pop("_meta", None)
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise InvalidParams("invalid params: _meta: want an object")
        if method in OBJECT_INPUTS:
            return params, meta
        return params.get("value"), meta

    # --- the functions ---

    def add(self, params, meta):
        if not isinstance(params, dict):
            raise InvalidParams("invalid params for Add: want an object with integers a and b")
        extra = sorted(set(params) - {"a", "b"})
        if extra:
            raise InvalidParams("invalid params for Add: unknown member %s" % extra[0])
        if not all(is_int(params.get(k)) for k in ("a", "b")):
            raise InvalidParams("invalid params for Add: want an object with integers a and b")
        return params["a"] + params["b"]

    def echo(self, params, meta):
        if not isinstance(params, str):
            raise InvalidParams("invalid params for Echo: want a string")
        return params

    def host_echo(self, params, meta):
        if not isinstance(params, str):
            raise InvalidParams("invalid params for HostEcho: want a string")
        if self.protocol < 2:
            raise MethodError("host services need protocol 2")
        if "Check.Echo" not in self.services:
            raise MethodError("the host offers no Check.Echo")
        out = {"trace": meta["trace"]} if "trace" in meta else None
        got = self.call_service("Check.Echo", params, out)
        if got != params:
            raise MethodError("Check.Echo answered %s; want %s" % (json.dumps(got), json.dumps(params)))
        self.expect_not_found("No.Such")
        self.expect_not_found("$/nosuch")
        return got

    def count(self, params, meta):
        if not is_int(params):
            raise InvalidParams("invalid params for Count: want an integer")
        token = meta.get("progressToken")
        if BREAK == "progress":
            token = "no-such-token"
        if token is not None:
            self.conn.write({"method": "$/progress",
                             "params": {"progressToken": token, "progress": 1, "total": 1}})
        return params

    def serve(self, m):
        """Handles one message; returns False when the session is over."""
        method = m.get("method")
        if method is None:
            return True  # an answer nobody waits for
        id_ = m.get("id")
        if id_ is None:
            return True  # notifications: $/cancelRequest has nothing to cancel here
        if method == "$/ping":
            self.reply(id_, None)
        elif method == "$/shutdown":
            # Single-threaded: nothing is in flight, so answer and go.
            self.reply(id_, None)
            return False
        elif method == "$/cancelRequest":
            self.reply(id_, None)
        elif method in self.handlers:
            try:
                value, meta = self.read_call(method, m.get("params"))
                self.reply(id_, self.handlers[method](value, meta))
            except InvalidParams as e:
                self.error(id_, -32602, str(e))
            except MethodError as e:
                self.error(id_, -32000, str(e))
            except Exception as e:  # a crash in the function
                self.error(id_, -32603, "%s: %s" % (type(e).__name__, e))
        else:
            self.error(id_, -32601, "method not found: %s" % method)
        return True

    @property
    def handlers(self):
        return {"Add": self.add, "Echo": self.echo, "HostEcho": self.host_echo, "Count": self.count}

    def run(self):
        params = {"name": "py2calc", "version": "0.2.0", "functions": FUNCTIONS}
        offered = os.environ.get("PLUGINTEST_PROTOCOL", "2")
        if offered != "none":
            params["protocol"] = json.loads(offered)
        if os.environ.get("PLUGINTEST_CAPABILITIES"):
            params["capabilities"] = json.loads(os.environ["PLUGINTEST_CAPABILITIES"])
        for key, env in (("token", "PLUGSOCK_TOKEN"), ("launch", "PLUGSOCK_LAUNCH")):
            if os.environ.get(env):
                params[key] = os.environ[env]
        self.conn.write({"id": 1, "method": "$/handshake", "params": params})
        answer = self.conn.read()
        if answer is None or "error" in answer:
            print("py2calc: handshake refused: %s" % (answer or {}).get("error"), file=sys.stderr)
            return 1
        result = answer["result"]
        self.protocol = result.get("protocol", 1)
        self.services = result.get("services") or {}
        print("py2calc: connected as %s, protocol %d" % (result["name"], self.protocol), file=sys.stderr)
        item = {"event": "ready", "name": result["name"]}
        if self.protocol >= 2:
            item = "ready" if BREAK == "scalar" else {"value": item}
        self.conn.write({"method": "$/async", "params": item})

        while True:
            m = self.pending.popleft() if self.pending else self.conn.read()
            if m is None or not self.serve(m):
                self.conn.sock.close()
                return 0


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
        print("py2calc: PLUGSOCK_ADDR is not set", file=sys.stderr)
        return 2
    return Plugin(Conn(dial(addr))).run()


if __name__ == "__main__":
    sys.exit(main())
