"""A plugsock plugin on Debian's python3-pylsp-jsonrpc (pylsp_jsonrpc),
the JSON-RPC library of the Python LSP server: its Endpoint answers the
calls, and its JsonRpcStreamReader reads the frames. That reader takes a
frame's length from its first header line only, and reads a frame whose
first line is not Content-Length to the end of the stream; the host never
sends one, so the plugin works against it.

Start it with PLUGSOCK_ADDR set (host:port or unix:/path), as a host's
Launch or `plugsock check` does. Debian installs the library for
/usr/bin/python3.
"""

import os
import socket
import sys
import threading

from pylsp_jsonrpc.endpoint import Endpoint
from pylsp_jsonrpc.exceptions import JsonRpcException, JsonRpcInvalidParams
from pylsp_jsonrpc.streams import JsonRpcStreamReader, JsonRpcStreamWriter

PAIR = {"type": "struct", "fields": [
    {"name": "a", "type": "int64", "mandatory": True},
    {"name": "b", "type": "int64", "mandatory": True}]}
FUNCTIONS = {
    "Add": {"name": "Add", "input": PAIR, "output": {"type": "int64"}},
    "Div": {"name": "Div", "input": PAIR, "output": {"type": "int64"}},
    "Upper": {"name": "Upper", "input": {"type": "string"}, "output": {"type": "string"}},
}


def pair(params, name):
    ok = isinstance(params, dict) and all(
        isinstance(params.get(k), int) and not isinstance(params.get(k), bool) for k in ("a", "b"))
    if not ok:
        raise JsonRpcInvalidParams("invalid params for %s: want an object with integers a and b" % name)
    return params["a"], params["b"]


def connect():
    addr = os.environ["PLUGSOCK_ADDR"]
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr[len("unix:"):])
        return s
    host, _, port = addr.removeprefix("tcp:").rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)))


def main():
    sock = connect()
    rfile, wfile = sock.makefile("rb"), sock.makefile("wb")
    writer = JsonRpcStreamWriter(wfile)
    state = {"stopping": False, "shutdown_id": None}

    def send(message):
        writer.write(message)
        if state["stopping"] and message.get("id") == state["shutdown_id"] and "method" not in message:
            # The answer to $/shutdown is out: hang up, as the protocol asks.
            sock.shutdown(socket.SHUT_RDWR)
            rfile.close()

    def serving(fn):
        def handler(params):
            if state["stopping"]:
                raise JsonRpcException("shutting down", code=-32003)
            return fn(params)
        return handler

    def add(params):
        a, b = pair(params, "Add")
        return a + b

    def div(params):
        a, b = pair(params, "Div")
        if b == 0:
            raise JsonRpcException("division by zero", code=-32000)
        return a // b

    def upper(params):
        if not isinstance(params, str):
            raise JsonRpcInvalidParams("invalid params for Upper: want a string")
        return params.upper()

    def shutdown(_params):
        state["stopping"] = True
        return None

    dispatcher = {
        "Add": serving(add), "Div": serving(div), "Upper": serving(upper),
        "$/ping": lambda _params: None, "$/shutdown": shutdown,
    }
    endpoint = Endpoint(dispatcher, send, max_workers=1)

    # The Endpoint does not say which request it is answering; the
    # $/shutdown's id is taken from the message as it arrives.
    def consume(message):
        if message.get("method") == "$/shutdown" and "id" in message:
            state["shutdown_id"] = message["id"]
        endpoint.consume(message)

    hs = {"name": "pylsp", "version": "1.0.0", "functions": FUNCTIONS}
    if os.environ.get("PLUGSOCK_LAUNCH"):
        hs["launch"] = os.environ["PLUGSOCK_LAUNCH"]
    answer = endpoint.request("$/handshake", hs)
    reader = threading.Thread(target=JsonRpcStreamReader(rfile).listen, args=(consume,), daemon=True)
    reader.start()
    try:
        answer.result(timeout=10)
    except Exception as e:  # refused, or no answer
        print("pylsp plugin: handshake failed: %r" % e, file=sys.stderr)
        sys.exit(1)
    reader.join()
    endpoint.shutdown()
    sys.exit(0 if state["stopping"] else 1)


if __name__ == "__main__":
    main()
