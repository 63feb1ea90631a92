"""CPython's test_socketserver clients, pointed at a server written with this package.

    python3 tests/python_client.py tcp HOST PORT
    python3 tests/python_client.py tls HOST PORT CAFILE
    python3 tests/python_client.py udp HOST PORT
    python3 tests/python_client.py unix PATH
    python3 tests/python_client.py unixdgram PATH CLIENT_PATH

Each runs CPython's stream_examine / dgram_examine three times in a row, as
test_socketserver's run_server does: send b"hello world\\n", read until a
newline, check the echo. Prints "ok" per round; exits non-zero on a mismatch.
"""

import os
import socket
import ssl
import sys

TEST_STR = b"hello world\n"
TIMEOUT = 10  # seconds: a bound, never a wait for the server


def receive(sock, n):
    return sock.recv(n)


def stream_examine(family, addr, wrap=None):
    with socket.socket(family, socket.SOCK_STREAM) as raw:
        raw.settimeout(TIMEOUT)
        raw.connect(addr)
        s = wrap(raw) if wrap else raw
        try:
            s.sendall(TEST_STR)
            buf = data = receive(s, 100)
            while data and b"\n" not in buf:
                data = receive(s, 100)
                buf += data
            assert buf == TEST_STR, f"expected {TEST_STR!r}, got {buf!r}"
        finally:
            if wrap:
                s.close()


def dgram_examine(family, addr, bind_path=None):
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        if bind_path is not None:
            s.bind(bind_path)  # an unbound AF_UNIX client cannot get a reply
        s.sendto(TEST_STR, addr)
        buf = data = receive(s, 100)
        while data and b"\n" not in buf:
            data = receive(s, 100)
            buf += data
        assert buf == TEST_STR, f"expected {TEST_STR!r}, got {buf!r}"


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def main(argv):
    kind = argv[1]
    if kind == "tcp":
        host, port = argv[2], int(argv[3])
        examine = lambda: stream_examine(family_of(host), (host, port))
    elif kind == "tls":
        host, port, cafile = argv[2], int(argv[3]), argv[4]
        context = ssl.create_default_context(cafile=cafile)
        wrap = lambda raw: context.wrap_socket(raw, server_hostname="localhost")
        examine = lambda: stream_examine(family_of(host), (host, port), wrap)
    elif kind == "udp":
        host, port = argv[2], int(argv[3])
        examine = lambda: dgram_examine(family_of(host), (host, port))
    elif kind == "unix":
        examine = lambda: stream_examine(socket.AF_UNIX, argv[2])
    elif kind == "unixdgram":
        path, client_path = argv[2], argv[3]

        def examine():
            try:
                dgram_examine(socket.AF_UNIX, path, client_path)
            finally:
                try:
                    os.unlink(client_path)
                except FileNotFoundError:
                    pass

    else:
        raise SystemExit(f"unknown kind {kind!r}")
    for _ in range(3):
        examine()
        print("ok", flush=True)


if __name__ == "__main__":
    main(sys.argv)
