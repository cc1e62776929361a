#!/usr/bin/env python3
"""A raw HTTP/2 client for the attack tests: frames are built with hyperframe and header
blocks with hpack (the libraries under Python's h2), so each test can send exactly the
frames an attacker would. Usage: h2_client.py PORT SCENARIO [ARGS]. Prints one JSON object.
"""
import json
import socket
import sys
import time

from hpack import Encoder, Decoder
from hyperframe.frame import (
    Frame, SettingsFrame, HeadersFrame, ContinuationFrame, RstStreamFrame, PingFrame,
    GoAwayFrame, DataFrame, WindowUpdateFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ENHANCE_YOUR_CALM = 11


class Conn:
    def __init__(self, port, settings=None, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.port = port
        self.enc = Encoder()
        self.dec = Decoder()
        self.buf = b""
        self.closed = False
        self.goaway = None
        self.resets = {}
        self.status = {}
        self.data = {}
        self.ended = set()
        sf = SettingsFrame(0)
        for k, v in (settings or {}).items():
            sf.settings[k] = v
        self.send(PREFACE + sf.serialize())

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def request_block(self, path, extra=()):
        hdrs = [(":method", "GET"), (":path", path), (":scheme", "http"),
                (":authority", "127.0.0.1:%d" % self.port)] + list(extra)
        return self.enc.encode(hdrs)

    def headers(self, sid, path, extra=(), end_stream=True):
        f = HeadersFrame(sid)
        f.data = self.request_block(path, extra)
        f.flags.add("END_HEADERS")
        if end_stream:
            f.flags.add("END_STREAM")
        return f.serialize()

    def read_frames(self, until, timeout):
        """Reads frames until until(self) is true, the socket closes or timeout passes."""
        deadline = time.time() + timeout
        while not until(self) and not self.closed:
            left = deadline - time.time()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except OSError:
                self.closed = True
                break
            if not chunk:
                self.closed = True
                break
            self.buf += chunk
            while len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(self.buf[9:9 + length]))
                self.buf = self.buf[9 + length:]
                self.on_frame(f)

    def on_frame(self, f):
        if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
            self.send(SettingsFrame(0, flags=["ACK"]).serialize())
        elif isinstance(f, PingFrame) and "ACK" not in f.flags:
            self.send(PingFrame(0, opaque_data=f.opaque_data, flags=["ACK"]).serialize())
        elif isinstance(f, GoAwayFrame):
            self.goaway = f.error_code
            self.goaway_last = f.last_stream_id
        elif isinstance(f, RstStreamFrame):
            self.resets[f.stream_id] = f.error_code
        elif isinstance(f, HeadersFrame):
            for k, v in self.dec.decode(f.data):
                if k in (":status", b":status"):
                    self.status[f.stream_id] = int(v)
            if "END_STREAM" in f.flags:
                self.ended.add(f.stream_id)
        elif isinstance(f, DataFrame):
            self.data[f.stream_id] = self.data.get(f.stream_id, 0) + len(f.data)
            if "END_STREAM" in f.flags:
                self.ended.add(f.stream_id)

    def report(self, **extra):
        out = {"goaway": self.goaway, "closed": self.closed,
               "status": {str(k): v for k, v in self.status.items()},
               "resets": {str(k): v for k, v in self.resets.items()},
               "data": {str(k): v for k, v in self.data.items()},
               "ended": sorted(self.ended)}
        out.update(extra)
        print(json.dumps(out))


def until_goaway(c):
    return c.goaway is not None


def rapid_reset(port, n, per_write):
    """n x (HEADERS + RST_STREAM CANCEL), per_write pairs per socket write."""
    c = Conn(port)
    sent = 0
    sid = 1
    batch = b""
    for i in range(n):
        batch += c.headers(sid, "/slow") + RstStreamFrame(sid, error_code=8).serialize()
        sid += 2
        if (i + 1) % per_write == 0:
            if not c.send(batch):
                break
            sent += per_write
            batch = b""
            if per_write == 1:
                # paced: one pair per write, reading what came back for a millisecond
                c.read_frames(until_goaway, 0.001)
            if c.goaway is not None:
                break
    if batch and c.send(batch):
        sent += n % per_write
    c.read_frames(until_goaway, 5)
    c.read_frames(lambda c: False, 1)  # then the close
    c.report(sent=sent)


def continuation_flood(port, n):
    """HEADERS without END_HEADERS, then n CONTINUATION frames that never end the block."""
    c = Conn(port)
    block = c.request_block("/echo")
    h = HeadersFrame(1)
    h.data = block
    h.flags.add("END_STREAM")
    payload = h.serialize()
    sent = 0
    for i in range(n):
        cf = ContinuationFrame(1)
        cf.data = b"\x00" * 16  # keep the block growing, never END_HEADERS
        payload += cf.serialize()
        if len(payload) > 65536:
            if not c.send(payload):
                break
            sent = i
            payload = b""
    if payload:
        c.send(payload)
    c.read_frames(until_goaway, 5)
    c.read_frames(lambda c: False, 1)
    c.report(sent=sent)


def big_header(port, size):
    """Stream 1 carries a header of `size` bytes; then stream 3 is a normal request."""
    c = Conn(port)
    c.send(c.headers(1, "/echo", [("x-big", "a" * size)]))
    c.read_frames(lambda c: 1 in c.status or 1 in c.resets, 5)
    c.send(c.headers(3, "/echo?after=1"))
    c.read_frames(lambda c: 3 in c.ended, 5)
    c.report()


def hpack_bomb(port, copies, size):
    """One big header put in the HPACK dynamic table, then referenced `copies` times in one
    block: a few KiB on the wire, copies x size decoded. Then a normal stream."""
    c = Conn(port)
    block = c.request_block("/echo", [("x-bomb", "b" * size)] * copies)
    f = HeadersFrame(1)
    f.data = block
    f.flags.add("END_HEADERS")
    f.flags.add("END_STREAM")
    c.send(f.serialize())
    c.read_frames(lambda c: 1 in c.status or 1 in c.resets, 5)
    c.send(c.headers(3, "/echo?after=1"))
    c.read_frames(lambda c: 3 in c.ended, 5)
    c.report(wire=len(block), decoded=copies * size)


def ping_flood(port, n):
    c = Conn(port)
    c.send(b"".join(PingFrame(0, opaque_data=i.to_bytes(8, "big")).serialize() for i in range(n)))
    c.read_frames(until_goaway, 5)
    c.read_frames(lambda c: False, 1)
    c.report()


def settings_flood(port, n):
    c = Conn(port)
    one = SettingsFrame(0)
    one.settings[SettingsFrame.INITIAL_WINDOW_SIZE] = 65535
    c.send(one.serialize() * n)
    c.read_frames(until_goaway, 5)
    c.read_frames(lambda c: False, 1)
    c.report()


def zero_window(port, size, wait, rest=0):
    """The client's stream window is 0 and never opened: the response cannot be sent.
    rest=1: the handler's producer runs as its answer's rest, in the stream's task."""
    c = Conn(port, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    c.send(c.headers(1, "/download?size=%d&rest=%d" % (size, rest)))
    start = time.time()
    c.read_frames(lambda c: 1 in c.resets, wait)
    c.report(waited=time.time() - start)


def zero_window_small(port, wait):
    """A zero stream window and a small whole answer (/echo): h2 holds it; the client waits
    for the server to end the connection."""
    c = Conn(port, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    c.send(c.headers(1, "/echo"))
    start = time.time()
    c.read_frames(lambda c: c.closed, wait)
    c.report(waited=time.time() - start)


def no_read(port, size, wait):
    """Windows wide open, a tiny receive buffer, and the socket never read."""
    c = Conn(port, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 2**31 - 1}, rcvbuf=4096)
    c.send(WindowUpdateFrame(0, window_increment=2**31 - 1 - 65535).serialize())
    c.send(c.headers(1, "/download?size=%d" % size))
    time.sleep(wait)
    # now read whatever is there: the stream must have been reset, not completed
    c.read_frames(lambda c: 1 in c.resets or 1 in c.ended, 3)
    c.report()


def reset_sibling(port):
    """Three slow streams; the client resets the first one while its handler runs."""
    c = Conn(port)
    c.send(c.headers(1, "/slow") + c.headers(3, "/slow") + c.headers(5, "/slow"))
    time.sleep(0.05)
    c.send(RstStreamFrame(1, error_code=8).serialize())
    c.read_frames(lambda c: 3 in c.ended and 5 in c.ended, 5)
    c.report()


def concurrency(port, n):
    """n slow streams at once."""
    c = Conn(port)
    # wait for the server's SETTINGS (and its stream limit) before opening streams
    c.read_frames(lambda c: False, 0.2)
    c.send(b"".join(c.headers(1 + 2 * i, "/slow") for i in range(n)))
    c.read_frames(lambda c: len(c.ended) + len(c.resets) >= n, 5)
    c.report()


def reset_churn(port, rounds, per_round, ms):
    """`rounds` times: `per_round` slow streams (each handler sleeps `ms`), reset 30 ms later,
    once their handlers run; then the connection closes."""
    c = Conn(port)
    c.read_frames(lambda c: False, 0.2)
    sid = 1
    for _ in range(rounds):
        ids = list(range(sid, sid + 2 * per_round, 2))
        sid += 2 * per_round
        c.send(b"".join(c.headers(i, "/slow?ms=%d" % ms) for i in ids))
        c.read_frames(lambda c: False, 0.03)
        c.send(b"".join(RstStreamFrame(i, error_code=8).serialize() for i in ids))
    c.read_frames(lambda c: False, 0.2)
    c.report()


def idle(port, wait):
    """One request, then silence until the server's GOAWAY."""
    c = Conn(port)
    c.send(c.headers(1, "/echo"))
    c.read_frames(until_goaway, wait)
    c.report()


def overrun(port, size):
    """Ignores flow control: sends `size` bytes of DATA on one stream in one go."""
    c = Conn(port)
    c.read_frames(lambda c: False, 0.2)
    c.send(c.headers(1, "/slow", end_stream=False))
    sent = 0
    while sent < size:
        d = DataFrame(1)
        d.data = b"x" * min(16384, size - sent)
        if not c.send(d.serialize()):
            break
        sent += len(d.data)
    c.read_frames(lambda c: 1 in c.resets or c.goaway is not None, 5)
    c.report(sent=sent)


def drain(port, wait):
    """A slow request in flight when the server starts draining: reads (acknowledging its
    SETTINGS and PINGs) until the server closes."""
    c = Conn(port)
    c.send(c.headers(1, "/slow"))
    c.read_frames(lambda c: False, wait)
    c.report(goaway_last=getattr(c, "goaway_last", None))


def stalled_body(port, wait):
    """A POST whose body never comes: HEADERS without END_STREAM, then nothing."""
    c = Conn(port)
    c.send(c.headers(1, "/upload", end_stream=False))
    c.read_frames(lambda c: 1 in c.status, wait)
    c.report()


def main():
    port = int(sys.argv[1])
    scenario = sys.argv[2]
    args = [int(a) if a.isdigit() else float(a) for a in sys.argv[3:]]
    {
        "rapid_reset": rapid_reset,
        "continuation_flood": continuation_flood,
        "big_header": big_header,
        "hpack_bomb": hpack_bomb,
        "ping_flood": ping_flood,
        "settings_flood": settings_flood,
        "zero_window": zero_window,
        "zero_window_small": zero_window_small,
        "no_read": no_read,
        "reset_sibling": reset_sibling,
        "concurrency": concurrency,
        "reset_churn": reset_churn,
        "idle": idle,
        "overrun": overrun,
        "stalled_body": stalled_body,
        "drain": drain,
    }[scenario](port, *args)


if __name__ == "__main__":
    main()
