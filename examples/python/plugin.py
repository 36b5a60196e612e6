#!/usr/bin/env python3
"""A plugsock plugin in Python, using only the standard library.

It speaks the wire protocol described in docs/protocol.md: LSP-style frames
(Content-Length header, blank line, JSON body) carrying JSON-RPC 2.0
messages. It dials the host at PLUGSOCK_ADDR (host:port or unix:/path;
127.0.0.1:7700 by default), introduces itself with a $/handshake request
that describes its functions, and then serves calls, each on a thread of
its own, until the host sends $/shutdown. SIGINT or SIGTERM make it leave in
good order: it sends a $/shutdown notification, finishes its calls and
closes.

Functions (plugin name "pytext"):

    Upper      "text"                  -> "TEXT"
    WordCount  {"text": "..."}         -> {"words": n, "lines": n, "chars": n}
    Sleep      {"ms": n}               -> "slept n ms"   (cancellable)

Right after the handshake it pushes one $/async item:
{"event": "ready", "pid": ..., "python": "3.x.y"}.

Run it with a host listening, for example:

    go run ./cmd/plugsock serve &
    python3 examples/python/plugin.py
"""

import json
import os
import platform
import signal
import socket
import sys
import threading

NAME = "pytext"
VERSION = "1.0.0"

# Error codes (docs/protocol.md, section 9).
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
METHOD_ERROR = -32000
SHUTTING_DOWN = -32003
REQUEST_CANCELLED = -32800

MAX_FRAME = 4 << 20
HANDSHAKE_TIMEOUT = 10.0  # seconds to wait for the host's answer


def log(*args):
    if os.environ.get("PLUGSOCK_DEBUG"):
        print(NAME + ":", *args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- functions


class MethodError(Exception):
    """The function's own error: sent with code -32000 and its text."""


class InvalidParams(Exception):
    """The payload does not fit the function's input: code -32602."""


def upper(params, call):
    if not isinstance(params, str):
        raise InvalidParams("want a string")
    return params.upper()


def word_count(params, call):
    if not isinstance(params, dict) or not isinstance(params.get("text"), str):
        raise InvalidParams('want {"text": string}')
    text = params["text"]
    return {"words": len(text.split()), "lines": len(text.splitlines()), "chars": len(text)}


def sleep(params, call):
    if not isinstance(params, dict) or not isinstance(params.get("ms"), int) or isinstance(params.get("ms"), bool):
        raise InvalidParams('want {"ms": integer}')
    ms = params["ms"]
    if ms < 0:
        raise MethodError("ms must not be negative, got %d" % ms)
    if call.cancelled.wait(ms / 1000.0):
        raise Cancelled()
    return "slept %d ms" % ms


def entity(type_, name="", fields=None, mandatory=False):
    """An Entity (docs/protocol.md, section 6); false and empty members are left out."""
    e = {"type": type_}
    if name:
        e["name"] = name
    if mandatory:
        e["mandatory"] = True
    if fields:
        e["fields"] = fields
    return e


# name -> (implementation, input Entity, output Entity)
FUNCTIONS = {
    "Upper": (upper, entity("string"), entity("string")),
    "WordCount": (
        word_count,
        entity("struct", "WordCountIn", [entity("string", "text", mandatory=True)]),
        entity("struct", "Counts", [
            entity("int64", "words", mandatory=True),
            entity("int64", "lines", mandatory=True),
            entity("int64", "chars", mandatory=True),
        ]),
    ),
    "Sleep": (
        sleep,
        entity("struct", "SleepIn", [entity("int64", "ms", mandatory=True)]),
        entity("string"),
    ),
}


# ------------------------------------------------------------------- wire


class Cancelled(Exception):
    """The host sent $/cancelRequest for the call."""


class Conn:
    """One connection: frames in and out, each frame written whole."""

    def __init__(self, sock):
        self.sock = sock
        self.rfile = sock.makefile("rb")
        self.wlock = threading.Lock()

    def read(self):
        """Returns the next message, or None at the end of the stream."""
        length = None
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return None
            line = line.rstrip(b"\r\n")
            if not line:
                if length is None:
                    continue  # blank line between frames
                break
            name, sep, value = line.partition(b":")
            if not sep:
                raise ValueError("malformed header line %r" % line)
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length > MAX_FRAME:
            raise ValueError("frame of %d bytes is too large" % length)
        body = self.rfile.read(length)
        if len(body) < length:
            return None
        return json.loads(body.decode("utf-8"))

    def write(self, msg):
        body = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        frame = b"Content-Length: %d\r\n\r\n" % len(body) + body
        with self.wlock:
            self.sock.sendall(frame)

    def reply(self, id_, result):
        self.write({"jsonrpc": "2.0", "id": id_, "result": result})

    def reply_error(self, id_, code, message):
        self.write({"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}})

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.write(msg)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


# ----------------------------------------------------------------- plugin


class Call:
    def __init__(self, id_, method, params, trace):
        self.id = id_
        self.method = method
        self.params = params
        self.trace = trace
        self.cancelled = threading.Event()


class Plugin:
    def __init__(self, conn):
        self.conn = conn
        self.lock = threading.Lock()
        self.calls = {}  # request id (as JSON text) -> Call, while in flight
        self.threads = []
        self.connected = False  # the handshake has been answered
        self.stopping = False  # new calls are refused
        self.leaving = False  # leaving on our own, after SIGINT or SIGTERM

    def handshake(self):
        params = {
            "name": NAME,
            "version": VERSION,
            "functions": {
                name: {"name": name, "input": inp, "output": out}
                for name, (_, inp, out) in FUNCTIONS.items()
            },
        }
        if os.environ.get("PLUGSOCK_TOKEN"):
            params["token"] = os.environ["PLUGSOCK_TOKEN"]
        self.conn.write({"jsonrpc": "2.0", "id": 1, "method": "$/handshake", "params": params})
        # Nothing else comes before the answer.
        msg = self.conn.read()
        if msg is None:
            raise ConnectionError("the host closed the connection during the handshake")
        if "error" in msg:
            e = msg["error"]
            raise ConnectionError("handshake refused: %s (code %d)" % (e.get("message"), e.get("code")))
        result = msg["result"]
        log("connected as", result["name"], "session", result["session"])
        return result["name"]

    def serve(self):
        """Reads and handles messages until the session ends.

        Returns True when it ended in good order (the host's $/shutdown),
        False when the connection was lost.
        """
        while True:
            try:
                msg = self.conn.read()
            except OSError:
                msg = None
            if msg is None:
                return self.leaving  # leave() closes the connection when done
            method = msg.get("method")
            id_ = msg.get("id")
            if method is None:
                continue  # a response; this plugin only awaits the handshake's
            if method == "$/cancelRequest":
                key = json.dumps((msg.get("params") or {}).get("id"))
                with self.lock:
                    call = self.calls.get(key)
                if call:
                    call.cancelled.set()
            elif method == "$/ping":
                if id_ is not None:
                    self.conn.reply(id_, None)
            elif method == "$/shutdown":
                if id_ is not None:
                    self.stop()
                    self.conn.reply(id_, None)
                    return True
            elif id_ is None:
                pass  # a notification this plugin does not know
            elif method not in FUNCTIONS:
                self.conn.reply_error(id_, METHOD_NOT_FOUND, "method not found: %s" % method)
            else:
                self.start_call(Call(id_, method, msg.get("params"), (msg.get("meta") or {}).get("trace", "")))

    def start_call(self, call):
        with self.lock:
            if self.stopping:
                self.conn.reply_error(call.id, SHUTTING_DOWN, "plugin is shutting down")
                return
            self.calls[json.dumps(call.id)] = call
            t = threading.Thread(target=self.run_call, args=(call,), daemon=True)
            self.threads = [t for t in self.threads if t.is_alive()] + [t]
        t.start()

    def run_call(self, call):
        fn = FUNCTIONS[call.method][0]
        log(call.method, "trace", call.trace)
        try:
            try:
                result = fn(call.params, call)
            except InvalidParams as e:
                self.conn.reply_error(call.id, INVALID_PARAMS, "invalid params for %s: %s" % (call.method, e))
            except MethodError as e:
                self.conn.reply_error(call.id, METHOD_ERROR, str(e))
            except Cancelled:
                self.conn.reply_error(call.id, REQUEST_CANCELLED, "%s: cancelled" % call.method)
            except Exception as e:  # a crash in the function: the plugin goes on
                self.conn.reply_error(call.id, INTERNAL_ERROR, "%s failed: %r" % (call.method, e))
            else:
                self.conn.reply(call.id, result)
        except OSError as e:
            log("could not answer", call.method, e)
        finally:
            with self.lock:
                self.calls.pop(json.dumps(call.id), None)

    def stop(self):
        """Refuses new calls and waits for those in flight to answer."""
        with self.lock:
            self.stopping = True
            threads = list(self.threads)
        for t in threads:
            t.join()

    def leave(self):
        """Leaves in good order (after SIGINT or SIGTERM): says goodbye,
        refuses new calls, lets those in flight answer and closes."""
        with self.lock:
            if self.leaving:
                return
            self.leaving = True
            if not self.connected:
                # The host may count the plugin as connected already, so
                # hanging up now would look like a crash: main says
                # goodbye once the handshake is answered.
                return
        self.goodbye()

    def goodbye(self):
        try:
            # First, so the host sends no new calls and reports a
            # graceful disconnect.
            self.conn.notify("$/shutdown")
        except OSError:
            pass
        self.stop()
        self.conn.close()  # serve() then sees the end of the stream

    def cancel_all(self):
        with self.lock:
            calls = list(self.calls.values())
        for call in calls:
            call.cancelled.set()


def dial(addr):
    if addr.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(addr[len("unix:"):])
        return sock
    host, _, port = addr.rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)))


def main():
    addr = os.environ.get("PLUGSOCK_ADDR") or "127.0.0.1:7700"
    try:
        conn = Conn(dial(addr))
    except (OSError, ValueError) as e:
        print("%s: cannot connect to %s: %s" % (NAME, addr, e), file=sys.stderr)
        return 1
    plugin = Plugin(conn)

    def on_signal(signum, frame):
        # The handler runs on the main thread between two steps of
        # whatever it was doing, perhaps while holding the write lock:
        # leave on another thread.
        threading.Thread(target=plugin.leave).start()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        conn.sock.settimeout(HANDSHAKE_TIMEOUT)
        plugin.handshake()
        conn.sock.settimeout(None)
        with plugin.lock:
            plugin.connected = True
            leaving = plugin.leaving
        if leaving:
            threading.Thread(target=plugin.goodbye).start()
        conn.notify("$/async", {"event": "ready", "pid": os.getpid(), "python": platform.python_version()})
        graceful = plugin.serve()
    except (OSError, ValueError, ConnectionError) as e:
        plugin.cancel_all()
        conn.close()
        if plugin.leaving:
            return 0
        print("%s: %s" % (NAME, e), file=sys.stderr)
        return 1
    conn.close()
    if not graceful:
        plugin.cancel_all()
        print("%s: connection lost" % NAME, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
