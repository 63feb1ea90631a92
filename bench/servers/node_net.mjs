// Node reference servers, each as the Node docs would write it.
//
//     node bench/servers/node_net.mjs <mode> [path]
//
// Modes: tcp-echo (net.createServer, socket.pipe(socket) as in the Node docs),
// tcp-oneshot (the seed handler: first chunk, trimmed, upper-cased, a newline
// put back, then end()), unix-echo (tcp-echo on a Unix socket), udp-echo
// (dgram: send every message back).
import net from "node:net";
import dgram from "node:dgram";

const [mode = "", path = ""] = process.argv.slice(2);
const ready = (where) => console.log(`READY ${JSON.stringify({ ...where, pid: process.pid })}`);
const quiet = (socket) => socket.on("error", () => {});

const echo = (socket) => {
  quiet(socket);
  socket.pipe(socket);
};
const oneShot = (socket) => {
  quiet(socket);
  socket.once("data", (data) => socket.end(data.toString().trim().toUpperCase() + "\n"));
};

switch (mode) {
  case "tcp-echo":
  case "tcp-oneshot": {
    const server = net.createServer(mode === "tcp-echo" ? echo : oneShot);
    server.listen(0, "127.0.0.1", () => ready({ port: server.address().port }));
    break;
  }
  case "unix-echo": {
    const server = net.createServer(echo);
    server.listen(path, () => ready({ path }));
    break;
  }
  case "udp-echo": {
    const sock = dgram.createSocket("udp4");
    sock.on("message", (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
    sock.bind(0, "127.0.0.1", () => ready({ port: sock.address().port }));
    break;
  }
  default:
    console.error(`Unknown mode "${mode}": use tcp-echo, tcp-oneshot, unix-echo or udp-echo`);
    process.exit(2);
}
