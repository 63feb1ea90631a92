/**
 * The OpenTelemetry attributes of a server and of one of its requests, by
 * the semantic conventions' names (`network.*`, `server.*`, `client.*`).
 *
 * @module
 */

import type { Attributes } from "@opentelemetry/api";

/** A `Deno.NetAddr` or `Deno.UnixAddr`, read without trusting its kind. */
type Address = { transport?: string; hostname?: string; port?: number; path?: string | null };

function address(value: unknown): Address | undefined {
  return value !== null && typeof value === "object" ? value as Address : undefined;
}

/** `network.transport` of an address: `tcp` (TLS too), `udp` or `unix`. */
function transportOf(addr: Address | undefined): string | undefined {
  switch (addr?.transport) {
    case "tcp":
    case "udp":
      return addr.transport;
    case "unix":
    case "unixpacket":
      return "unix";
  }
  return undefined;
}

/** What every metric of a server carries: its transport and address. */
export function serverAttributes(server: { serverAddress: unknown }): Attributes {
  const addr = address(server.serverAddress);
  const attributes: Attributes = {};
  const transport = transportOf(addr);
  if (transport !== undefined) attributes["network.transport"] = transport;
  if (typeof addr?.path === "string") attributes["server.address"] = addr.path;
  else if (addr?.hostname !== undefined) {
    attributes["server.address"] = addr.hostname;
    if (addr.port !== undefined) attributes["server.port"] = addr.port;
  }
  return attributes;
}

/**
 * A request span's attributes: the server's, the socket's peer
 * (`network.peer.*`: the connection's remote address, or a datagram's
 * sender) and, when the client address the server was given differs from
 * that peer (a PROXY protocol header named the original client), `client.*`.
 */
export function requestAttributes(
  server: Attributes,
  request: unknown,
  clientAddress: unknown,
): Attributes {
  const attributes: Attributes = { ...server };
  const peer = peerOf(request, clientAddress);
  if (peer?.hostname !== undefined) {
    attributes["network.type"] = peer.hostname.includes(":") ? "ipv6" : "ipv4";
    attributes["network.peer.address"] = peer.hostname;
    if (peer.port !== undefined) attributes["network.peer.port"] = peer.port;
  } else if (peer?.path) {
    attributes["network.peer.address"] = peer.path;
  }
  return Object.assign(attributes, clientAttributes(request, clientAddress));
}

/** The socket's peer: a connection's remote address, else the client address
 * (a datagram's sender). */
function peerOf(request: unknown, clientAddress: unknown): Address | undefined {
  return address((request as { remoteAddr?: unknown } | null)?.remoteAddr) ??
    address(clientAddress);
}

/** `client.*`, when the client address is not the socket's peer. */
export function clientAttributes(request: unknown, clientAddress: unknown): Attributes {
  const client = address(clientAddress);
  const peer = peerOf(request, clientAddress);
  if (
    client === undefined || client === peer || client.hostname === undefined ||
    (client.hostname === peer?.hostname && client.port === peer?.port)
  ) return {};
  const attributes: Attributes = { "client.address": client.hostname };
  if (client.port !== undefined) attributes["client.port"] = client.port;
  return attributes;
}
