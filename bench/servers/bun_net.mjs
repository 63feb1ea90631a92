// Bun reference servers, as Bun's documentation writes them: Bun.listen
// with socket handlers, Bun.udpSocket. Run by Bun, not Deno (`bun run`).
//
//     bun bench/servers/bun_net.mjs <mode> [path]
//
// Modes: tcp-echo and unix-echo (each chunk written back; what the socket
// does not take waits for `drain`, as Bun's documentation asks), tcp-oneshot
// (the seed handler: the first chunk, trimmed, upper-cased, a newline put
// back, then end()), udp-echo (every datagram sent back). Bun has no Unix
// datagram sockets.

const [mode = "", path = ""] = process.argv.slice(2);
const ready = (where) => console.log(`READY ${JSON.stringify({ ...where, pid: process.pid })}`);

function flush(socket) {
  const queue = socket.data.queue;
  while (queue.length > 0) {
    const chunk = queue[0];
    const n = socket.write(chunk);
    if (n < chunk.length) {
      queue[0] = chunk.subarray(Math.max(n, 0));
      return;
    }
    queue.shift();
  }
}

const echo = {
  open(socket) {
    socket.data = { queue: [] };
  },
  data(socket, data) {
    const queue = socket.data.queue;
    if (queue.length > 0) {
      queue.push(data.slice());
      return;
    }
    const n = socket.write(data);
    if (n < data.length) queue.push(data.slice(Math.max(n, 0)));
  },
  drain: flush,
  error() {},
};

const oneShot = {
  data(socket, data) {
    socket.end(new TextDecoder().decode(data).trim().toUpperCase() + "\n");
  },
  error() {},
};

switch (mode) {
  case "tcp-echo":
  case "tcp-oneshot": {
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: mode === "tcp-echo" ? echo : oneShot,
    });
    ready({ port: server.port });
    break;
  }
  case "unix-echo": {
    Bun.listen({ unix: path, socket: echo });
    ready({ path });
    break;
  }
  case "udp-echo": {
    const socket = await Bun.udpSocket({
      hostname: "127.0.0.1",
      socket: {
        data(sock, buf, port, address) {
          try {
            sock.send(buf, port, address);
          } catch {
            // the client's socket is gone (ECONNREFUSED)
          }
        },
      },
    });
    ready({ port: socket.port });
    break;
  }
  default:
    console.error(`Unknown mode "${mode}": use tcp-echo, tcp-oneshot, unix-echo PATH or udp-echo`);
    process.exit(2);
}
