#!/usr/bin/env python3
"""A plugsock plugin in Python, using only the standard library.

It speaks the wire protocol described in docs/protocol.md: LSP-style frames
(Content-Length header, blank line, JSON body) carrying JSON-RPC 2.0
messages. It dials the host at PLUGSOCK_ADDR (host:port or unix:/path;
127.0.0.1:7700 by default), introduces itself with a $/handshake request
that describes its functions and offers protocol 2, and then serves calls,
each on a thread of its own, until the host sends $/shutdown. SIGINT or
SIGTERM make it leave in good order: it sends a $/shutdown notification,
cancels its streams, finishes its calls and closes.

It speaks the protocol the host answers: 2 (section 18: params always an
object, metadata in params._meta, deadlines, progress, and streams,
section 19), or 1 when the host answers 1 or names no protocol.

Functions (plugin name "pytext"):

    Upper      "text"                  -> "TEXT"
    WordCount  {"text": "..."}         -> {"words": n, "lines": n, "chars": n}
    Sleep      {"ms": n}               -> "slept n ms"   (cancellable; honours
                                          the deadline; reports progress)
    Average    {"size": n}             a stream, a processor (protocol 2):
               points in, {"name": str, "value": number, "time": int (optional)},
               and for each point one out, the same with "value" the moving
               average of the last n values (5 by default) of that name

Right after the handshake it pushes one $/async item:
{"event": "ready", "pid": ..., "python": "3.x.y"}.

Run it with a host listening, for example:

    go run ./cmd/plugsock serve &
    python3 examples/python/plugin.py

PLUGSOCK_DEBUG=1 logs each call, with its trace id, and each stream's end
on stderr. PYTEXT_PROTOCOL=1 makes it offer no protocol in its handshake,
so that it speaks protocol 1 with any host.
"""

import collections
import datetime
import json
import math
import os
import platform
import re
import signal
import socket
import sys
import threading
import time

NAME = "pytext"
VERSION = "1.0.0"

# Error codes (docs/protocol.md, section 9).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
METHOD_ERROR = -32000
SHUTTING_DOWN = -32003
OVERLOADED = -32004
REQUEST_CANCELLED = -32800

MAX_FRAME = 4 << 20  # bytes of a body, as the host's default limit
MAX_HEADER_LINES = 31
MAX_HEADER_LINE = 4096  # bytes, with the line end
HANDSHAKE_TIMEOUT = 10.0  # seconds to wait for the host's answer
MAX_CALLS = 256  # calls (streams included) in flight at once; more are refused with -32004
EXIT_WAIT = 5.0  # seconds the cancelled calls get to end, once the connection is lost

# Streams (section 19).
STREAM_WINDOW = 32  # unsettled items the host may send a stream
MAX_TRACK = 1024  # outputs sent and not settled that a stream remembers
MAX_CREDIT = 1 << 40
MAX_SIZE = 1000  # Average's largest window
MAX_NAMES = 1024  # names one Average stream averages
INT64 = 1 << 63


def log(*args):
    if os.environ.get("PLUGSOCK_DEBUG"):
        print(NAME + ":", *args, file=sys.stderr, flush=True)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_id(v):
    """An id is a string or a number (section 3)."""
    return isinstance(v, (str, int, float)) and not isinstance(v, bool)


def kind(v):
    """Names a JSON value's kind, as the protocol's messages do."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


def clip(v):
    """A value as JSON, shortened, for a message."""
    try:
        text = json.dumps(v, ensure_ascii=False)
    except (ValueError, RecursionError):
        return kind(v)
    return text if len(text) <= 64 else text[:61] + "..."


# ------------------------------------------------------------------- JSON


class TwoMetas(dict):
    """An object that had two _meta members (refused as params)."""


def _object(pairs):
    d = dict(pairs)
    if len(d) < len(pairs) and [k for k, _ in pairs].count("_meta") > 1:
        return TwoMetas(d)
    return d


def _constant(name):
    # Python reads NaN and Infinity, which are not JSON.
    raise ValueError("%s is not JSON" % name)


def decode(body):
    """Reads one message; ValueError when it is not JSON."""
    try:
        return json.loads(body.decode("utf-8"), object_pairs_hook=_object, parse_constant=_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply")


def encode(msg):
    # allow_nan=False: never write NaN or Infinity, which are not JSON.
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def frame(msg):
    body = encode(msg)
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})\Z")


def parse_rfc3339(s):
    """Returns the time s names as seconds since the epoch, or None."""
    m = _RFC3339.match(s)
    if not m:
        return None
    y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
    frac, off = m.group(7), m.group(8)
    try:
        if off in ("Z", "z"):
            tz = datetime.timezone.utc
        else:
            oh, om = int(off[1:3]), int(off[4:6])
            if oh > 23 or om > 59:
                return None
            delta = datetime.timedelta(hours=oh, minutes=om)
            tz = datetime.timezone(-delta if off[0] == "-" else delta)
        t = datetime.datetime(y, mo, d, h, mi, sec, tzinfo=tz).timestamp()
    except ValueError:
        return None
    return t + (float("0" + frac) if frac else 0.0)


# ---------------------------------------------------------------- functions


class MethodError(Exception):
    """The function's own error: sent with code -32000 and its text."""


class InvalidParams(Exception):
    """The payload does not fit the function's input: code -32602."""


class Cancelled(Exception):
    """The host sent $/cancelRequest for the call, or the connection ended."""


class DeadlineExceeded(Exception):
    """The call's deadline (params._meta.deadline) passed."""


class StreamEnded(Exception):
    """The stream ended under its method (cancelled or failed): the call is
    answered with this code and message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


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
    if not isinstance(params, dict) or not is_int(params.get("ms")):
        raise InvalidParams('want {"ms": integer}')
    ms = params["ms"]
    if ms < 0:
        raise MethodError("ms must not be negative, got %d" % ms)
    end = time.monotonic() + ms / 1000.0
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return "slept %d ms" % ms
        if call.token is not None:
            # A report every tenth of a second, when the host asked.
            call.progress(int(ms - left * 1000), ms, "sleeping")
            left = min(left, 0.1)
        call.wait(left)


def average_size(params):
    """Reads Average's input: {"size": n}, 5 when left out."""
    if params is None:
        return 5
    if not isinstance(params, dict):
        raise InvalidParams('want {"size": integer}')
    size = params.get("size")
    if size is None:
        return 5
    if not is_int(size) or not 1 <= size <= MAX_SIZE:
        raise InvalidParams("size: want an integer from 1 to %d, got %s" % (MAX_SIZE, clip(size)))
    return size


def point_problem(item):
    """Says why item is not a point, or returns None."""
    if not isinstance(item, dict):
        return "not a point: want an object with a string name and a number value, got %s" % kind(item)
    name, value = item.get("name"), item.get("value")
    if not isinstance(name, str):
        return "not a point: name: want a string, got %s" % kind(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "not a point: value: want a number, got %s" % kind(value)
    try:
        if not math.isfinite(float(value)):
            return "not a point: value %s is out of range" % value
    except OverflowError:
        return "not a point: value is too large"
    if "time" in item:
        t = item["time"]
        if not is_int(t):
            return "not a point: time: want an integer, got %s" % kind(t)
        if not -INT64 <= t < INT64:
            return "not a point: time %d is outside int64" % t
    return None


def average(size, call):
    """The moving average of each name's last size values: a Kapacitor-style
    UDF. Each point is answered by one point, then acknowledged; an item
    that is not a point is rejected. When the host closes its half, it
    waits for its own points to be acknowledged, and returns."""
    st = call.stream
    series = {}  # name -> the last size values
    while True:
        got = st.recv()
        if got is None:
            break
        seq, item = got
        problem = point_problem(item)
        if problem is None and item["name"] not in series and len(series) >= MAX_NAMES:
            problem = "more than %d names in one stream" % MAX_NAMES
        if problem is None:
            values = series.setdefault(item["name"], collections.deque(maxlen=size))
            last = list(values)[1:] if len(values) == size else list(values)
            last.append(float(item["value"]))
            try:
                avg = math.fsum(last) / len(last)
            except OverflowError:
                problem = "the average of %s overflows" % json.dumps(item["name"])
        if problem is not None:
            st.reject(seq, problem)
            continue
        values.append(last[-1])
        out = {"name": item["name"], "value": avg}
        if "time" in item:
            out["time"] = item["time"]
        st.send(out)
        st.ack(seq)
    st.drain()
    return None


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


class Function:
    """A function: how it runs, and its description (section 6)."""

    def __init__(self, run, input=None, output=None, input_schema=None, stream=None, prepare=None):
        self.run = run
        self.input = input
        self.output = output
        self.input_schema = input_schema
        self.stream = stream  # the "stream" member of a stream's description
        self.prepare = prepare  # a stream's: reads the input on the reading thread
        # Protocol 2 sends an object input by name, any other as {"value": ...}.
        self.object_input = input is not None and (input["type"] == "struct" or input["type"].startswith("map["))

    def describe(self, name):
        d = {"name": name}
        for key, value in (("input", self.input), ("output", self.output),
                           ("inputSchema", self.input_schema), ("stream", self.stream)):
            if value is not None:
                d[key] = value
        return d


POINT = entity("struct", "Point", [
    entity("string", "name", mandatory=True),
    entity("float64", "value", mandatory=True),
    entity("int64", "time"),
])
POINT_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "value": {"type": "number"},
        "time": {"type": "integer", "minimum": -INT64, "maximum": INT64 - 1},
    },
    "required": ["name", "value"],
}

FUNCTIONS = {
    "Upper": Function(upper, entity("string"), entity("string")),
    "WordCount": Function(
        word_count,
        entity("struct", "WordCountIn", [entity("string", "text", mandatory=True)]),
        entity("struct", "Counts", [
            entity("int64", "words", mandatory=True),
            entity("int64", "lines", mandatory=True),
            entity("int64", "chars", mandatory=True),
        ]),
    ),
    "Sleep": Function(
        sleep,
        entity("struct", "SleepIn", [entity("int64", "ms", mandatory=True)]),
        entity("string"),
    ),
    "Average": Function(
        average,
        entity("struct", "AverageIn", [entity("int64", "size")]),
        input_schema={"type": ["object", "null"],
                      "properties": {"size": {"type": "integer", "minimum": 1, "maximum": MAX_SIZE}}},
        stream={"in": POINT, "inSchema": POINT_SCHEMA, "out": POINT, "outSchema": POINT_SCHEMA},
        prepare=average_size,
    ),
}


# ------------------------------------------------------------------- wire


class ProtocolError(Exception):
    """The host broke the protocol: answered with id null, then close."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Conn:
    """One connection: frames in and out, each frame written whole."""

    def __init__(self, sock):
        self.sock = sock
        self.rfile = sock.makefile("rb")
        self.wlock = threading.Lock()

    def read(self):
        """Returns the next message, or None at the end of the stream;
        ProtocolError for a frame or body that is not acceptable."""
        length = None
        lines = 0
        while True:
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if not line:
                return None
            if not line.endswith(b"\n"):
                if len(line) > MAX_HEADER_LINE:
                    raise ProtocolError(PARSE_ERROR, "protocol violation: a header line longer than %d bytes" % MAX_HEADER_LINE)
                return None  # the end, in the middle of a line
            line = line.rstrip(b"\r\n")
            if not line:
                if lines == 0:
                    continue  # blank line between frames
                break
            lines += 1
            if lines > MAX_HEADER_LINES:
                raise ProtocolError(PARSE_ERROR, "protocol violation: more than %d header lines" % MAX_HEADER_LINES)
            name, sep, value = line.partition(b":")
            if not sep:
                raise ProtocolError(PARSE_ERROR, "protocol violation: a header line without a colon")
            if name.strip().lower() == b"content-length":
                value = value.strip()
                if not value.isdigit():
                    raise ProtocolError(PARSE_ERROR, "protocol violation: malformed Content-Length")
                length = int(value)
        if length is None:
            raise ProtocolError(PARSE_ERROR, "protocol violation: no Content-Length")
        if length > MAX_FRAME:
            raise ProtocolError(PARSE_ERROR, "protocol violation: a body of %d bytes; at most %d allowed" % (length, MAX_FRAME))
        body = self.rfile.read(length)
        if len(body) < length:
            return None
        try:
            msg = decode(body)
        except ValueError as e:
            raise ProtocolError(PARSE_ERROR, "protocol violation: malformed JSON: %s" % e)
        if isinstance(msg, list):
            raise ProtocolError(INVALID_REQUEST, "protocol violation: batches are not supported")
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            raise ProtocolError(INVALID_REQUEST, 'protocol violation: not a JSON-RPC 2.0 message')
        if "id" in msg and msg["id"] is not None and not is_id(msg["id"]):
            raise ProtocolError(INVALID_REQUEST, "protocol violation: an id that is %s" % kind(msg["id"]))
        if "method" in msg and not isinstance(msg["method"], str):
            raise ProtocolError(INVALID_REQUEST, "protocol violation: a method that is not a string")
        return msg

    def write_raw(self, frames):
        with self.wlock:
            self.sock.sendall(frames)

    def write(self, msg):
        self.write_raw(frame(msg))

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


# ---------------------------------------------------------------- streams


class Stream:
    """One stream (section 19), seen from the plugin: the host opened it
    with the request call. The reading thread routes the host's stream
    messages here (the on_* methods, which never block it); the stream's
    own thread, which runs its function, receives, sends and settles.

    Its memory is bounded: the host may send at most STREAM_WINDOW items
    the function has not settled (an item beyond its credit fails the
    stream), and the function may have at most MAX_TRACK outputs
    unsettled by the host."""

    def __init__(self, conn, call, credit, window):
        self.conn = conn
        self.call = call
        self.cond = threading.Condition()
        self.ended = None  # (code, message) once it ended under its method
        # The sending half.
        self.credit = credit  # the items the plugin may still send
        self.sent = 0
        self.out_through = 0  # every output up to it is settled
        self.out_above = set()  # outputs settled above out_through
        self.out_acked = 0
        self.out_rejected = 0
        # The receiving half.
        self.window = window
        self.granted = 0  # credit granted to the host, in all
        self.recvd = 0
        self.inbox = collections.deque()  # (seq, item) received, not yet taken
        self.rx_closed = False
        self.settled = 0
        self.ops = []  # settlements to write, in order: ("through", n) or ("reject", seq, reason)

    def _stream_msg(self, method, **params):
        return frame({"jsonrpc": "2.0", "method": method, "params": dict({"stream": self.call.id}, **params)})

    # --- on the reading thread ---

    def open(self):
        """Grants the host the window; before the host's items are read."""
        with self.cond:
            self.granted = self.window
        self.conn.write_raw(self._stream_msg("$/stream/credit", credit=self.window))

    def wake(self):
        with self.cond:
            self.cond.notify_all()

    def on_item(self, p):
        seq = p.get("seq")
        if seq is not None and (not is_int(seq) or seq < 0):
            raise InvalidParams("seq: want a positive integer, got %s" % clip(seq))
        with self.cond:
            if self.ended:
                return None
            if seq is None or "item" not in p:
                return 'an item needs "seq" and "item"'
            if self.rx_closed:
                return "item %d after the sender closed its half" % seq
            if seq != self.recvd + 1:
                return "item %d out of order: want %d" % (seq, self.recvd + 1)
            if self.recvd >= self.granted:
                return "item %d sent without credit: %d granted" % (seq, self.granted)
            self.recvd = seq
            self.inbox.append((seq, p["item"]))
            self.cond.notify_all()
        return None

    def on_credit(self, p):
        n = p.get("credit")
        if not is_int(n) or not 0 <= n <= MAX_CREDIT:
            raise InvalidParams("credit: want an integer from 0 to %d, got %s" % (MAX_CREDIT, clip(n)))
        with self.cond:
            # As the Go side: what is outstanding may not pass 2^40.
            if self.credit + n > MAX_CREDIT:
                return "credit above %d" % MAX_CREDIT
            self.credit += n
            self.cond.notify_all()
        return None

    def on_ack(self, p):
        through, seq, reject = p.get("through"), p.get("seq"), p.get("reject")
        for name, v in (("through", through), ("seq", seq)):
            if v is not None and (not is_int(v) or v < 0):
                raise InvalidParams("%s: want a positive integer, got %s" % (name, clip(v)))
        if reject is not None and not isinstance(reject, str):
            raise InvalidParams("reject: want a string, got %s" % kind(reject))
        with self.cond:
            if self.ended:
                return None
            if (through is None) == (seq is None):
                return 'an ack has "through" or "seq", one of them'
            if (through if through is not None else seq) > self.sent:
                return "acknowledges an item not sent: %d sent" % self.sent
            if through is not None and reject is not None:
                return '"reject" goes with "seq"'
            if through is not None:
                if through > self.out_through:
                    above = {s for s in self.out_above if s <= through}
                    self.out_acked += through - self.out_through - len(above)
                    self.out_above -= above
                    self.out_through = through
            elif seq > self.out_through and seq not in self.out_above:
                if reject is not None:
                    self.out_rejected += 1
                else:
                    self.out_acked += 1
                self.out_above.add(seq)
            while self.out_through + 1 in self.out_above:
                self.out_above.remove(self.out_through + 1)
                self.out_through += 1
            self.cond.notify_all()
        return None

    def on_close(self):
        with self.cond:
            self.rx_closed = True
            self.cond.notify_all()

    def on_cancel(self, p):
        reason = p.get("reason") if isinstance(p.get("reason"), str) else ""
        err = p.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str) and err["message"]:
            how = "failed by the host: %s" % err["message"]
        else:
            how = "cancelled by the host: %s" % reason
        self._end(REQUEST_CANCELLED, how)

    def fail(self, code, message):
        """Fails the stream for a message that broke its rules: the host
        is told, with the error, and the function stops."""
        if self._end(code, "failed: %s" % message):
            self.conn.write_raw(self._stream_msg(
                "$/stream/cancel", reason=message, error={"code": code, "message": message}))

    def cancel(self, reason):
        """Cancels the stream from the plugin's side (when it leaves)."""
        if self._end(REQUEST_CANCELLED, "cancelled: %s" % reason):
            self.conn.write_raw(self._stream_msg("$/stream/cancel", reason=reason))

    def _end(self, code, message):
        with self.cond:
            if self.ended:
                return False
            self.ended = (code, message)
            self.inbox.clear()  # unsettled: the host has them as unacknowledged
            self.cond.notify_all()
        return True

    # --- on the stream's thread ---

    def _check(self):
        """Raises when the function must stop; with cond held."""
        if self.ended:
            raise StreamEnded(self.ended[0], "%s: stream %s" % (self.call.method, self.ended[1]))
        self.call.check()

    def _wait(self):
        """Waits for a change; with cond held."""
        self.cond.wait(self.call.remaining())
        self._check()

    def _due(self):
        """Whether flush has something to write; with cond held."""
        free = self.settled + self.window - self.granted
        return bool(self.ops) or (free > 0 and free >= max(1, self.window // 4))

    def flush(self):
        """Writes the settlements made and the credit they free: credit once
        a quarter of the window is free again, so a busy stream sends a
        grant per several items, and the host always has most of it."""
        with self.cond:
            if self.ended:
                self.ops = []
                return
            ops, self.ops = self.ops, []
            grant = 0
            free = self.settled + self.window - self.granted
            if free > 0 and free >= max(1, self.window // 4):
                grant = free
                self.granted += free
        out = []
        for op in ops:
            if op[0] == "through":
                out.append(self._stream_msg("$/stream/ack", through=op[1]))
            else:
                out.append(self._stream_msg("$/stream/ack", seq=op[1], reject=op[2]))
        if grant:
            out.append(self._stream_msg("$/stream/credit", credit=grant))
        if out:
            self.conn.write_raw(b"".join(out))

    def recv(self):
        """Returns the next (seq, item) the host sent, waiting for one; None
        once the host has closed its half and every item was taken."""
        while True:
            with self.cond:
                self._check()
                if self.inbox:
                    return self.inbox.popleft()
                if self.rx_closed:
                    return None
                if not self._due():
                    self._wait()
                    continue
            self.flush()  # idle: settlements go out before waiting

    def send(self, item):
        """Sends item, waiting while the host has granted no credit."""
        while True:
            with self.cond:
                self._check()
                if self.credit > 0 and self.sent - self.out_through < MAX_TRACK:
                    self.credit -= 1
                    self.sent += 1
                    seq = self.sent
                    break
                if not self._due():
                    self._wait()
                    continue
            self.flush()
        self.conn.write_raw(self._stream_msg("$/stream/item", item=item, seq=seq))
        return seq

    def _settle(self, op):
        with self.cond:
            self._check()
            self.settled += 1
            if op[0] == "through" and self.ops and self.ops[-1][0] == "through":
                self.ops[-1] = op
            else:
                self.ops.append(op)
            due = self.settled + self.window - self.granted >= max(1, self.window // 4)
        if due:
            self.flush()

    def ack(self, seq):
        """Acknowledges every item up to seq (each item is settled once, in order)."""
        self._settle(("through", seq))

    def reject(self, seq, reason):
        self._settle(("reject", seq, reason))

    def drain(self):
        """Waits until the host has settled every output."""
        self.flush()
        with self.cond:
            while self.sent - self.out_through - len(self.out_above) > 0:
                self._check()
                self._wait()

    def finish(self):
        """The function has returned: what is still to write goes before the answer."""
        self.flush()
        with self.cond:
            if not self.ended:
                self.ended = (0, "answered")

    def summary(self):
        with self.cond:
            return "received %d, settled %d; sent %d, acknowledged %d, rejected %d" % (
                self.recvd, self.settled, self.sent, self.out_acked, self.out_rejected)


# ----------------------------------------------------------------- plugin


class Call:
    def __init__(self, id_, method, value, trace, deadline=None, token=None):
        self.id = id_
        self.key = json.dumps(id_)  # ids the host chose are compared as JSON text
        self.method = method
        self.value = value
        self.trace = trace
        self.deadline = deadline  # on time.monotonic()'s clock, or None
        self.token = token  # the progressToken, or None
        self.cancelled = threading.Event()
        self.stream = None
        self.progress = lambda progress, total, message: None

    def cancel(self):
        self.cancelled.set()
        st = self.stream
        if st is not None:
            st.wake()

    def remaining(self):
        """Seconds to the deadline (at least 0), or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def check(self):
        # The deadline first: once it has passed, a cancellation is the
        # host giving up for the same reason.
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise DeadlineExceeded()
        if self.cancelled.is_set():
            raise Cancelled()

    def wait(self, seconds):
        """Waits seconds at most; raises once cancelled or past the deadline."""
        left = self.remaining()
        if left is not None:
            seconds = min(seconds, left)
        self.cancelled.wait(seconds)
        self.check()


class Plugin:
    def __init__(self, conn):
        self.conn = conn
        self.protocol = 1
        self.lock = threading.Lock()
        self.calls = {}  # request id (as JSON text) -> Call, while in flight
        self.streams = {}  # request id (as JSON text) -> Stream, while open
        self.threads = []
        self.connected = False  # the handshake has been answered
        self.stopping = False  # new calls are refused
        self.leaving = False  # leaving on our own, after SIGINT or SIGTERM
        self.answered_shutdown = False  # the host's $/shutdown has its answer

    def handshake(self):
        params = {
            "name": NAME,
            "version": VERSION,
            "functions": {name: fn.describe(name) for name, fn in FUNCTIONS.items()},
        }
        offered = 1 if os.environ.get("PYTEXT_PROTOCOL") == "1" else 2
        if offered > 1:
            params["protocol"] = offered
        for key, env in (("token", "PLUGSOCK_TOKEN"), ("launch", "PLUGSOCK_LAUNCH")):
            if os.environ.get(env):
                params[key] = os.environ[env]
        self.conn.write({"jsonrpc": "2.0", "id": 1, "method": "$/handshake", "params": params})
        # Nothing else comes before the answer.
        msg = self.conn.read()
        if msg is None:
            raise ConnectionError("the host closed the connection during the handshake")
        if "error" in msg:
            e = msg["error"] if isinstance(msg["error"], dict) else {}
            raise ConnectionError("handshake refused: %s (code %s)" % (e.get("message"), e.get("code")))
        result = msg.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("name"), str):
            raise ConnectionError("malformed handshake answer")
        protocol = result.get("protocol", 1)
        if not is_int(protocol) or not 1 <= protocol <= offered:
            raise ConnectionError("protocol violation: the host answered protocol %s; %d was offered" % (clip(protocol), offered))
        self.protocol = protocol
        log("connected as", result["name"], "session", result.get("session"), "protocol", protocol)
        return result["name"]

    def serve(self):
        """Reads and handles messages until the session ends. Reading never
        waits for a call or a stream: they run on threads of their own.

        Returns True when it ended in good order (the host's $/shutdown
        answered, or leaving on our own), False when the connection was lost.
        """
        while True:
            try:
                msg = self.conn.read()
            except OSError:
                msg = None
            except ProtocolError as e:
                print("%s: %s" % (NAME, e), file=sys.stderr)
                try:
                    self.conn.reply_error(None, e.code, str(e))
                except (OSError, ValueError):
                    pass
                return False
            if msg is None:
                with self.lock:
                    return self.answered_shutdown or self.leaving
            try:
                self.handle(msg)
            except OSError:
                # An answer written here found the connection closed: the
                # host has gone, perhaps on reading the $/shutdown answer.
                with self.lock:
                    return self.answered_shutdown or self.leaving
            except ProtocolError as e:
                print("%s: %s" % (NAME, e), file=sys.stderr)
                try:
                    self.conn.reply_error(None, e.code, str(e))
                except OSError:
                    pass
                return False

    def handle(self, msg):
        method = msg.get("method")
        id_ = msg.get("id")
        if method is None:
            self.response(msg)
        elif method.startswith("$/stream/"):
            self.stream_message(msg)
        elif method == "$/cancelRequest":
            p = msg.get("params")
            target = p.get("id") if isinstance(p, dict) else None
            if is_id(target):
                with self.lock:
                    call = self.calls.get(json.dumps(target))
                if call:
                    call.cancel()
            if id_ is not None:
                self.conn.reply(id_, None)  # meant as a notification; every request is answered
        elif method == "$/ping":
            if id_ is not None:
                self.conn.reply(id_, None)
        elif method == "$/shutdown":
            if id_ is not None:
                self.shutdown_asked(id_)
        elif id_ is None:
            pass  # a notification this plugin does not know
        elif method.startswith("$/") or method not in FUNCTIONS:
            self.conn.reply_error(id_, METHOD_NOT_FOUND, "method not found: %s" % method)
        else:
            self.start_call(id_, method, msg)

    def response(self, msg):
        id_ = msg.get("id")
        if id_ is None:
            if "error" in msg:
                print("%s: the host could not read a message: %s" % (NAME, json.dumps(msg["error"])), file=sys.stderr)
            return
        if id_ == 1:
            log("ignoring a second answer to the handshake")
            return
        # This plugin sends no requests but its handshake.
        raise ProtocolError(INVALID_REQUEST, "protocol violation: a response to request %s, which this plugin never sent" % json.dumps(id_))

    # --- calls ---

    def start_call(self, id_, method, msg):
        fn = FUNCTIONS[method]
        try:
            if self.protocol >= 2:
                value, meta = self.read_params(fn, msg.get("params"))
            else:
                value, meta = msg.get("params"), {}
                m = msg.get("meta")
                if isinstance(m, dict) and isinstance(m.get("trace"), str):
                    meta["trace"] = m["trace"]
            if fn.stream is not None:
                if self.protocol < 2:
                    raise InvalidParams("%s is a stream, and streams need protocol 2" % method)
                if "stream" not in meta:
                    raise InvalidParams("%s is a stream; open it with params._meta.stream" % method)
                value = fn.prepare(value)
            elif "stream" in meta:
                raise InvalidParams("%s is not a stream; call it without params._meta.stream" % method)
        except InvalidParams as e:
            self.conn.reply_error(id_, INVALID_PARAMS, "invalid params for %s: %s" % (method, e))
            return
        deadline = None
        if "deadline" in meta:
            deadline = time.monotonic() + (meta["deadline"] - time.time())
        call = Call(id_, method, value, meta.get("trace", ""), deadline, meta.get("progressToken"))
        if call.token is not None:
            call.progress = lambda progress, total, message: self.progress(call, progress, total, message)
        with self.lock:
            refusal = None
            if self.stopping:
                refusal = (SHUTTING_DOWN, "plugin is shutting down")
            elif call.key in self.calls:
                refusal = (INVALID_REQUEST, "%s: request id %s is already in flight" % (method, call.key))
            elif len(self.calls) >= MAX_CALLS:
                refusal = (OVERLOADED, "%s: %d calls in flight, the limit" % (method, MAX_CALLS))
            else:
                self.calls[call.key] = call
                if fn.stream is not None:
                    call.stream = Stream(self.conn, call, meta["stream"]["window"], STREAM_WINDOW)
                    self.streams[call.key] = call.stream
                t = threading.Thread(target=self.run_call, args=(call,), daemon=True)
                self.threads = [t for t in self.threads if t.is_alive()] + [t]
        if refusal:
            self.conn.reply_error(id_, *refusal)
            return
        if call.stream is not None:
            # Accepted: the window is granted before the host's items are read.
            call.stream.open()
        t.start()

    def read_params(self, fn, params):
        """Returns a protocol 2 call's input and its metadata (section 18)."""
        if params is None:
            return None, {}
        if isinstance(params, list):
            if len(params) != 1:
                raise InvalidParams("params by position must hold the input as their one element; got %s" % ("none" if not params else "more"))
            return params[0], {}
        if not isinstance(params, dict):
            raise InvalidParams("protocol 2 params must be an object or an array, got %s" % kind(params))
        if isinstance(params, TwoMetas):
            raise InvalidParams("params have two _meta members")
        meta = read_meta(params.get("_meta"))
        if fn.object_input:
            return {k: v for k, v in params.items() if k != "_meta"}, meta
        return params.get("value"), meta

    def progress(self, call, progress, total, message):
        p = {"progressToken": call.token, "progress": progress}
        if total:
            p["total"] = total
        if message:
            p["message"] = message
        self.conn.notify("$/progress", p)

    def run_call(self, call):
        fn = FUNCTIONS[call.method]
        log(call.method, "trace", call.trace)
        error = None
        try:
            result = fn.run(call.value, call)
        except InvalidParams as e:
            error = (INVALID_PARAMS, "invalid params for %s: %s" % (call.method, e))
        except MethodError as e:
            error = (METHOD_ERROR, str(e))
        except Cancelled:
            error = (REQUEST_CANCELLED, "%s: cancelled" % call.method)
        except DeadlineExceeded:
            error = (REQUEST_CANCELLED, "%s: deadline exceeded" % call.method)
        except StreamEnded as e:
            error = (e.code, e.message)
        except OSError as e:
            error = (INTERNAL_ERROR, "%s: %s" % (call.method, e))  # the connection, most likely
        except Exception as e:  # a crash in the function: the plugin goes on
            error = (INTERNAL_ERROR, "%s failed: %r" % (call.method, e))
        if error and call.stream is None:
            log(call.method, "trace", call.trace, "failed:", error[1])
        st = call.stream
        if st is not None:
            try:
                st.finish()
            except OSError:
                pass
            log(call.method, "stream", call.key, "ended:", error[1] if error else "done", "(%s)" % st.summary())
        # Free the id before answering: the host may reuse it once it has the answer.
        with self.lock:
            self.calls.pop(call.key, None)
            self.streams.pop(call.key, None)
        try:
            if error:
                self.conn.reply_error(call.id, *error)
            else:
                self.conn.reply(call.id, result)
        except (OSError, ValueError) as e:
            log("could not answer", call.method, e)

    # --- streams ---

    def stream_message(self, msg):
        method = msg["method"]
        if msg.get("id") is not None:
            if method in ("$/stream/item", "$/stream/credit", "$/stream/ack", "$/stream/close", "$/stream/cancel"):
                self.conn.reply_error(msg["id"], INVALID_REQUEST, "%s is a notification; send it without an id" % method)
            else:
                self.conn.reply_error(msg["id"], METHOD_NOT_FOUND, "method not found: %s" % method)
            return
        p = msg.get("params")
        if not isinstance(p, dict) or not is_id(p.get("stream")):
            log("malformed stream message dropped:", method)
            return
        with self.lock:
            st = self.streams.get(json.dumps(p["stream"]))
        if st is None:
            log("message about a stream not open dropped:", method)  # the two sides' messages cross
            return
        try:
            if method == "$/stream/item":
                bad = st.on_item(p)
            elif method == "$/stream/credit":
                bad = st.on_credit(p)
            elif method == "$/stream/ack":
                bad = st.on_ack(p)
            elif method == "$/stream/close":
                bad = st.on_close()
            elif method == "$/stream/cancel":
                bad = st.on_cancel(p)
            else:
                bad = None  # a notification this plugin does not know
        except InvalidParams as e:
            st.fail(INVALID_PARAMS, "%s: %s" % (method, e))
            return
        if bad:
            st.fail(INVALID_REQUEST, "%s: %s" % (method, bad))

    # --- stopping ---

    def shutdown_asked(self, id_):
        """The host's $/shutdown: refuse new calls, and answer once those in
        flight, streams included, have; the reading goes on meanwhile."""
        with self.lock:
            self.stopping = True

        def finish():
            self.wait_calls()
            with self.lock:
                self.answered_shutdown = True
            try:
                self.conn.reply(id_, None)
            except OSError:
                pass
            self.conn.close()  # serve() then sees the end of the stream

        threading.Thread(target=finish, daemon=True).start()

    def wait_calls(self):
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
        with self.lock:
            self.stopping = True
            streams = list(self.streams.values())
        # A stream's input may never end: cancel it, and the host knows
        # which of its items were not acknowledged.
        for st in streams:
            try:
                st.cancel("the plugin is leaving")
            except OSError:
                pass
        self.wait_calls()
        self.conn.close()  # serve() then sees the end of the stream

    def join_calls(self, timeout):
        """Waits, timeout seconds at most in all, for the calls' threads to end."""
        end = time.monotonic() + timeout
        with self.lock:
            threads = list(self.threads)
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))

    def cancel_all(self):
        with self.lock:
            calls = list(self.calls.values())
        for call in calls:
            call.cancel()


def read_meta(raw):
    """Reads params._meta (section 18); InvalidParams names what is wrong."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidParams("_meta: want an object, got %s" % kind(raw))
    meta = {}
    for key in ("trace", "traceparent", "tracestate"):
        v = raw.get(key)
        if v is None:
            continue
        if not isinstance(v, str):
            raise InvalidParams("_meta.%s: want a string, got %s" % (key, kind(v)))
        meta[key] = v
    d = raw.get("deadline")
    if d is not None:
        if not isinstance(d, str):
            raise InvalidParams("_meta.deadline: want a string holding an RFC 3339 time, got %s" % kind(d))
        t = parse_rfc3339(d)
        if t is None:
            raise InvalidParams("_meta.deadline: want an RFC 3339 time, got %s" % clip(d))
        meta["deadline"] = t
    tok = raw.get("progressToken")
    if tok is not None:
        if not isinstance(tok, str) and not is_int(tok):
            raise InvalidParams("_meta.progressToken: want a string or an integer, got %s" % kind(tok))
        meta["progressToken"] = tok
    s = raw.get("stream")
    if s is not None:
        if not isinstance(s, dict):
            raise InvalidParams("_meta.stream: want an object, got %s" % kind(s))
        w = s.get("window")
        if w is None:
            w = 0
        elif not is_int(w) or not 0 <= w <= MAX_CREDIT:
            raise InvalidParams("_meta.stream: window: want an integer from 0 to %d, got %s" % (MAX_CREDIT, clip(w)))
        meta["stream"] = {"window": w}
    return meta


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
        ready = {"event": "ready", "pid": os.getpid(), "python": platform.python_version()}
        conn.notify("$/async", {"value": ready} if plugin.protocol >= 2 else ready)
        graceful = plugin.serve()
    except (OSError, ValueError, ConnectionError, ProtocolError) as e:
        plugin.cancel_all()
        conn.close()
        plugin.join_calls(EXIT_WAIT)
        if plugin.leaving:
            return 0
        print("%s: %s" % (NAME, e), file=sys.stderr)
        return 1
    if not graceful:
        # The calls and streams in flight are cancelled, and end.
        plugin.cancel_all()
        conn.close()
        plugin.join_calls(EXIT_WAIT)
        print("%s: connection lost" % NAME, file=sys.stderr)
        return 1
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
