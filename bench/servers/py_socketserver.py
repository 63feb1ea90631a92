"""CPython reference servers: socketserver as its documentation writes it, and
asyncio (streams and datagram protocols) as its documentation writes it.

    python3 bench/servers/py_socketserver.py <mode> [path]

Modes: threading-line (ThreadingTCPServer + StreamRequestHandler echoing
lines), tcp-oneshot / threading-oneshot (TCPServer / ThreadingTCPServer with
the seed's MyTCPHandler: recv(1024), strip, upper, a newline put back for
the load generator's check, no printing), unix-line (ThreadingUnixStreamServer + the
line echo), udp (UDPServer + DatagramRequestHandler echo), unixdgram
(UnixDatagramServer + the same); asyncio-line and asyncio-unix-line
(start_server / start_unix_server echoing lines), asyncio-oneshot (the seed
handler on start_server), asyncio-udp and asyncio-unixdgram (a
DatagramProtocol sending every datagram back). Every socketserver server keeps socketserver's defaults (request_queue_size 5)
except daemon_threads, so that the process exits when the harness stops it.
"""
import asyncio
import json
import os
import socket
import socketserver
import sys

mode = sys.argv[1] if len(sys.argv) > 1 else ""
path = sys.argv[2] if len(sys.argv) > 2 else ""


def ready(**where):
    print("READY " + json.dumps({**where, "pid": os.getpid()}, separators=(",", ":")), flush=True)


class LineEcho(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


class MyTCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data = self.request.recv(1024).strip()
        self.request.sendall(data.upper() + b"\n")


class DatagramEcho(socketserver.DatagramRequestHandler):
    def handle(self):
        self.wfile.write(self.rfile.read())


class ThreadingTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True


class ThreadingUnixStreamServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


async def echo_lines(reader, writer):
    try:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


async def shout(reader, writer):
    try:
        data = (await reader.read(1024)).strip()
        writer.write(data.upper() + b"\n")
        await writer.drain()
    except ConnectionError:
        pass
    writer.close()


class EchoDatagrams(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)

    def error_received(self, exc):
        pass  # a client's socket is gone


async def asyncio_server():
    if mode in ("asyncio-udp", "asyncio-unixdgram"):
        loop = asyncio.get_running_loop()
        if mode == "asyncio-udp":
            transport, _ = await loop.create_datagram_endpoint(
                EchoDatagrams, local_addr=("127.0.0.1", 0)
            )
            ready(port=transport.get_extra_info("sockname")[1])
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
            transport, _ = await loop.create_datagram_endpoint(EchoDatagrams, sock=sock)
            ready(path=path)
        await asyncio.Event().wait()
    if mode == "asyncio-unix-line":
        server = await asyncio.start_unix_server(echo_lines, path)
        ready(path=path)
    else:
        handler = shout if mode == "asyncio-oneshot" else echo_lines
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        ready(port=server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def main():
    if mode == "threading-line":
        server = ThreadingTCPServer(("127.0.0.1", 0), LineEcho)
    elif mode == "tcp-oneshot":
        server = socketserver.TCPServer(("127.0.0.1", 0), MyTCPHandler)
    elif mode == "threading-oneshot":
        server = ThreadingTCPServer(("127.0.0.1", 0), MyTCPHandler)
    elif mode == "unix-line":
        server = ThreadingUnixStreamServer(path, LineEcho)
    elif mode == "udp":
        server = socketserver.UDPServer(("127.0.0.1", 0), DatagramEcho)
    elif mode == "unixdgram":
        server = socketserver.UnixDatagramServer(path, DatagramEcho)
    elif mode.startswith("asyncio-"):
        asyncio.run(asyncio_server())
        return
    else:
        print(f'Unknown mode "{mode}"', file=sys.stderr)
        sys.exit(2)
    if path:
        ready(path=path)
    else:
        ready(port=server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
