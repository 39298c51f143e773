#!/usr/bin/env python3
"""transport_check.py MODE PORT CA [ARGS] - raw-socket clients against a running
'streamguard serve' for transport_test.sh: stalled TLS handshakes, slow request heads,
ambiguous framing and the SIGTERM drain. Standard library only.

Each mode prints "ok - ..." / "FAIL - ..." lines (tally.py) and exits 1 when one failed.
SLOW (environment, default 1) stretches every wait, for a server under valgrind.

  stall PORT CA PID N HOLD  N connections that open TCP and then send nothing or half a
                            ClientHello, held HOLD seconds (past the idle timeout), then
                            closed by the client: /healthz answers at once, no socket of the
                            port is left in CLOSE-WAIT, and the server does not spin.
  head PORT CA T            slow request heads against --header-timeout T (and a much longer
                            --idle-timeout): a trickled ClientHello, trickled headers on a new
                            and on a kept-alive connection are cut after about T seconds; an
                            idle kept-alive connection is not.
  spin PORT CA PID N T      N connections that send half a ClientHello and wait, against
                            --header-timeout T: while they wait (before T), the server sleeps.
  framing PORT CA           different Content-Length headers, Content-Length with
                            Transfer-Encoding, and unsupported codings are refused, with the
                            connection closed.
  drain PORT CA PID BODY    busy keep-alive clients, idle kept-alive ones and connections opened
                            just before SIGTERM: every request sent gets a full answer.
"""
import os
import signal
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tally import check, finish  # noqa: E402

SLOW = float(os.environ.get("SLOW", "1"))
# The start of a TLS 1.2 ClientHello record: 11 of its 517 bytes; the server waits for the rest.
PARTIAL_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


def tls_context(ca):
    return ssl.create_default_context(cafile=ca)


def tls_connect(port, ca, timeout=10.0, ragged_eof_ok=True):
    """A TLS connection; with ragged_eof_ok False, a close without TLS close_notify is an
    error (ssl.SSLEOFError) rather than an empty read."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
    return tls_context(ca).wrap_socket(raw, server_hostname="localhost",
                                       suppress_ragged_eofs=ragged_eof_ok)


class Reader:
    """HTTP/1.1 responses (Content-Length bodies) from one socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _more(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def response(self):
        """Returns (status, headers dict with lower-case names, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body


def get(path, host="localhost"):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def healthz_seconds(port, ca):
    """Seconds until GET /healthz is answered 200 on a new connection, or None."""
    t0 = time.monotonic()
    try:
        s = tls_connect(port, ca, timeout=5.0)
        s.sendall(get("/healthz"))
        status, _, body = Reader(s).response()
        s.close()
    except (OSError, EOFError, ssl.SSLError):
        return None
    return time.monotonic() - t0 if status == 200 and body == b"ok\n" else None


def sockets_in_state(port, state_hex):
    """Sockets whose local port is 'port' in the given /proc/net/tcp state (08 is CLOSE-WAIT)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state_hex:
                        n += 1
        except FileNotFoundError:
            pass
    return n


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def closed_after(sock, limit, cleanly=False):
    """Seconds until the peer closes 'sock' (reading and discarding), or None after 'limit'.
    With 'cleanly', only an orderly close (TLS close_notify, then end of stream) counts."""
    t0 = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - t0 < limit:
        try:
            if not sock.recv(4096):
                return time.monotonic() - t0
        except (socket.timeout, TimeoutError):
            continue
        except (OSError, ssl.SSLError):
            return None if cleanly else time.monotonic() - t0
    return None


def trickle(sock, data, every, limit):
    """Sends 'data' one byte per 'every' seconds until the peer closes the connection. Returns
    the seconds until then, or None when all was sent or 'limit' passed first."""
    t0 = time.monotonic()
    sock.settimeout(every)
    for i in range(len(data)):
        if time.monotonic() - t0 > limit:
            return None
        try:
            sock.send(data[i:i + 1])
        except (OSError, ssl.SSLError):
            return time.monotonic() - t0
        try:
            if not sock.recv(4096):
                return time.monotonic() - t0
        except (socket.timeout, TimeoutError):
            pass
        except (OSError, ssl.SSLError):
            return time.monotonic() - t0
    return None


def mode_stall(port, ca, pid, n, hold):
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        if i % 2:
            s.sendall(PARTIAL_HELLO)
        socks.append(s)
    time.sleep(hold)
    for s in socks:
        s.close()
    # The server sees the clients' FINs at once; a connection it still holds would stay.
    deadline = time.monotonic() + 3 * SLOW
    while sockets_in_state(port, "08") and time.monotonic() < deadline:
        time.sleep(0.1)
    left = sockets_in_state(port, "08")
    check(f"no socket of the server's port left in CLOSE-WAIT after {n} stalled handshakes",
          left == 0, f"{left} in CLOSE-WAIT")
    secs = healthz_seconds(port, ca)
    check("/healthz answers at once after the stalled handshakes",
          secs is not None and secs < 2 * SLOW, f"took {secs}")
    # Nothing is left to do: the workers must sleep, not poll a connection that is gone.
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    time.sleep(1.0)
    used = (cpu_ticks(pid) - c0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)
    check("the idle server uses no CPU after the stalled handshakes",
          used < 0.2, f"{used:.0%} of a CPU")


def mode_spin(port, ca, pid, n, t):
    # A handshake that waits for the rest of its ClientHello must leave its worker asleep
    # until bytes come: with libmicrohttpd's epoll loop it stayed marked ready, and each of
    # the two workers ran at 100% for as long as the connection lived.
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(PARTIAL_HELLO)
        socks.append(s)
    time.sleep(0.3)
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    time.sleep(max(0.5, t - 1.0))
    used = (cpu_ticks(pid) - c0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)
    check(f"{n} half-finished handshakes leave the workers asleep", used < 0.2,
          f"{used:.0%} of a CPU")
    secs = healthz_seconds(port, ca)
    check("/healthz answers at once beside them", secs is not None and secs < 2 * SLOW,
          f"took {secs}")
    for s in socks:
        s.close()


def mode_head(port, ca, t):
    slack = 1.5 * SLOW + 0.5  # the reaper looks every 100 ms; valgrind is slower
    limit = t + 10 * SLOW

    # A ClientHello trickled in: the handshake is part of the first request's head.
    s = socket.create_connection(("127.0.0.1", port))
    hello = PARTIAL_HELLO + bytes(517 - len(PARTIAL_HELLO))
    secs = trickle(s, hello, 0.25, limit)
    s.close()
    check(f"a trickled TLS handshake is cut at the head deadline ({secs and round(secs, 1)}s)",
          secs is not None and t - 0.5 <= secs <= t + slack)

    # Headers trickled on a new connection, one byte every 0.25 s, each well inside the idle
    # timeout: only a deadline on the whole head ends this.
    s = tls_connect(port, ca)
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + b"X-Pad: " + b"a" * 400 + b"\r\n\r\n"
    secs = trickle(s, head, 0.25, limit)
    s.close()
    check(f"trickled headers on a new connection are cut at the head deadline "
          f"({secs and round(secs, 1)}s)", secs is not None and secs <= t + slack)

    # A kept-alive connection may sit idle longer than the head deadline (that is the idle
    # timeout's business); the deadline starts again with the next request's first byte.
    s = tls_connect(port, ca)
    r = Reader(s)
    s.sendall(get("/healthz"))
    st1 = r.response()[0]
    time.sleep(t + 1)
    try:
        s.sendall(get("/healthz"))
        st2 = r.response()[0]
    except (OSError, EOFError, ssl.SSLError) as e:
        st2 = repr(e)
    check("an idle kept-alive connection outlives the head deadline and is served",
          st1 == 200 and st2 == 200, f"{st1} then {st2}")
    secs = trickle(s, head, 0.25, limit)
    s.close()
    check(f"trickled headers on a kept-alive connection are cut at the head deadline "
          f"({secs and round(secs, 1)}s)", secs is not None and secs <= t + slack)
    secs = healthz_seconds(port, ca)
    check("the server still answers at once", secs is not None and secs < 2 * SLOW, f"took {secs}")


def mode_framing(port, ca):
    json_head = ("POST /validate HTTP/1.1\r\nHost: localhost\r\n"
                 "Content-Type: application/json\r\n")
    cases = [
        ("two different Content-Length headers", 400,
         "Content-Length: 2\r\nContent-Length: 30\r\n", "{}"),
        ("a second Content-Length that is not a number", 400,
         "Content-Length: 2\r\nContent-Length: 2x\r\n", "{}"),
        ("different Content-Length headers, the larger first", 400,
         "content-length: 30\r\nCONTENT-LENGTH: 2\r\n", "{}"),
        ("Content-Length with Transfer-Encoding: chunked", 400,
         "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", "2\r\n{}\r\n0\r\n\r\n"),
        ("two Transfer-Encoding headers", 400,
         "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "2\r\n{}\r\n0\r\n\r\n"),
        ("an unsupported transfer coding", 501, "Transfer-Encoding: gzip, chunked\r\n",
         "2\r\n{}\r\n0\r\n\r\n"),
    ]
    for name, want, headers, body in cases:
        s = tls_connect(port, ca)
        r = Reader(s)
        s.sendall((json_head + headers + "\r\n" + body).encode())
        try:
            status, h, text = r.response()
        except (OSError, EOFError, ssl.SSLError) as e:
            status, h, text = repr(e), {}, b""
        closes = (h.get("connection", "").lower() == "close"
                  and closed_after(s, 5 * SLOW) is not None)
        s.close()
        named = b"Content-Length" in text or b"Transfer-Encoding" in text or b"coding" in text
        check(f"{name}: {want}, and the connection is closed", status == want and closes and named,
              f"{status} {h} {text[:200]!r}")
    # Repeating the same length is not ambiguous (RFC 9110 8.6).
    s = tls_connect(port, ca)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
              b"Content-Length: 00\r\n\r\n")
    status = Reader(s).response()[0]
    s.close()
    check("the same Content-Length twice is accepted", status == 200, f"{status}")


def mode_drain(port, ca, pid, body_file):
    with open(body_file, "rb") as f:
        review = f.read()
    post = (b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(review)).encode() + b"\r\n\r\n" + review)
    lock = threading.Lock()
    stats = {"sent": 0, "answered": 0, "lost": 0, "closed_by_answer": 0, "refused": 0}
    lost_detail = []
    stop = threading.Event()

    def busy():
        s = r = None
        while not stop.is_set():
            if s is None:
                try:
                    s = tls_connect(port, ca)
                    r = Reader(s)
                except (OSError, ssl.SSLError):
                    with lock:
                        stats["refused"] += 1  # the listener is closed: nothing was sent
                    return
            try:
                s.sendall(post)
            except (OSError, ssl.SSLError):
                # not wholly sent: the server closed an idle connection first; not lost
                s.close()
                s = None
                continue
            with lock:
                stats["sent"] += 1
            try:
                status, h, _ = r.response()
            except (OSError, EOFError, ssl.SSLError) as e:
                with lock:
                    stats["lost"] += 1
                    lost_detail.append(repr(e))
                s.close()
                s = None
                continue
            with lock:
                stats["answered"] += status == 200
            if h.get("connection", "").lower() == "close":
                with lock:
                    stats["closed_by_answer"] += 1
                s.close()
                s = None

    # Idle kept-alive connections (kube-apiserver keeps a pool): one answered request each.
    idle = []
    for _ in range(3):
        s = tls_connect(port, ca, ragged_eof_ok=False)
        s.sendall(get("/healthz"))
        Reader(s).response()
        idle.append(s)
    workers = [threading.Thread(target=busy) for _ in range(8)]
    for w in workers:
        w.start()
    time.sleep(1.0 * SLOW)
    # Connections opened just before SIGTERM whose requests come after it: some accepted by
    # the server, some still in the listen backlog.
    late = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
    before = stats["sent"]
    os.kill(pid, signal.SIGTERM)
    late_ok = 0
    for raw in late:
        try:
            s = tls_context(ca).wrap_socket(raw, server_hostname="localhost")
            s.sendall(get("/healthz"))
            # (answered with Connection: close, unless it came in before the signal was taken)
            status, h, _ = Reader(s).response()
            late_ok += status == 200
            if status != 200:
                lost_detail.append(f"late: {status} {h}")
            s.close()
        except (OSError, EOFError, ssl.SSLError) as e:
            lost_detail.append("late: " + repr(e))
    idle_closed = sum(closed_after(s, 5 * SLOW, cleanly=True) is not None for s in idle)
    for w in workers:
        w.join(30 * SLOW)
    stop.set()
    check(f"drain: every request sent got its answer ({stats['sent']} sent, "
          f"{before} before SIGTERM, {stats['lost']} lost)",
          stats["lost"] == 0 and stats["answered"] == stats["sent"] and before > 0,
          f"{stats} {lost_detail[:5]}")
    check("drain: answers after SIGTERM carry Connection: close and new connections are "
          "refused", stats["closed_by_answer"] >= len(workers) and stats["refused"] == len(workers),
          f"{stats}")
    check(f"drain: connections opened just before SIGTERM are served ({late_ok} of {len(late)})",
          late_ok == len(late), f"{lost_detail[:5]}")
    check(f"drain: idle kept-alive connections are closed cleanly, with TLS close_notify "
          f"({idle_closed} of {len(idle)})",
          idle_closed == len(idle))


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    mode, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    args = sys.argv[4:]
    if mode == "stall":
        mode_stall(port, ca, int(args[0]), int(args[1]), float(args[2]))
    elif mode == "head":
        mode_head(port, ca, float(args[0]))
    elif mode == "spin":
        mode_spin(port, ca, int(args[0]), int(args[1]), float(args[2]))
    elif mode == "framing":
        mode_framing(port, ca)
    elif mode == "drain":
        mode_drain(port, ca, int(args[0]), args[1])
    else:
        sys.exit(__doc__)
    finish(f"transport {mode}")


if __name__ == "__main__":
    main()
