/**
 * {@linkcode ProxyAdmission}: a `proxyProtocol` server's step before `verifyRequest()`: refuse an
 * untrusted peer before any read, take the header off within its limits, give back the payload
 * read with it, name the original client. Built once per server, only when the option is set.
 *
 * @module
 */

import { AccessList } from "./access_list.ts";
import { MAX_TIMER_MS } from "./_deadline.ts";
import { formatAddress } from "./_format.ts";
import type { Admission } from "./_open_requests.ts";
import { readProxyHeader } from "./_proxy_reader.ts";
import { replayFirst } from "./_proxy_replay.ts";
import { setProxyInfo } from "./proxy_info.ts";
import { ProxyHeaderError, type ProxyProtocolMode } from "./proxy_protocol.ts";
import { headerError } from "./_proxy_common.ts";

/** The spelling of a Unix socket's peers in `trustedProxies`, nginx's
 * (`set_real_ip_from unix:`): a Unix peer has no IP address to list. */
export const UNIX_PEERS = "unix:";

/** `trustedProxies`: networks, or an `AccessList`. */
export type TrustedProxies = Iterable<string> | AccessList;

/** Checks the `trustedProxies` attribute: null, an `AccessList`, or an
 * iterable of networks (checked when the server builds its admission). */
export function checkTrustedProxies(name: string, value: unknown): void {
  if (value === null || value instanceof AccessList) return;
  if (
    typeof value === "string" || typeof value !== "object" ||
    typeof (value as Iterable<unknown>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(
      `"${name}" must be a list of networks such as ["10.0.0.0/8", "unix:"], or an AccessList, got ${
        typeof value === "string" ? JSON.stringify(value) : typeof value
      }`,
    );
  }
}

/** Checks the `proxyProtocol` attribute. */
export function checkProxyProtocol(name: string, value: unknown): void {
  if (value === null || value === "v1" || value === "v2" || value === "any") return;
  throw new TypeError(
    `"${name}" must be "v1", "v2", "any" or null, got ${JSON.stringify(value) ?? String(value)}`,
  );
}

/** Checks the `proxyHeaderTimeout` attribute: a positive number of ms. */
export function checkHeaderTimeout(name: string, value: unknown): void {
  if (typeof value !== "number" || !(value >= 1) || !Number.isFinite(value)) {
    throw new RangeError(
      `"${name}" must be a finite number of milliseconds, at least 1, got ${
        typeof value === "number" ? value : JSON.stringify(value) ?? String(value)
      }${
        typeof value === "number" && value > 0 && value < 1
          ? `: durations here are milliseconds, so write ${value * 1000} for ${value} s`
          : ""
      }`,
    );
  }
}

/** The trust test of `trustedProxies`, by peer address; a list that no
 * peer of the server (`unixPeers`: a Unix socket's) can match throws. */
function trustOf(
  trusted: TrustedProxies,
  className: string,
  unixPeers: boolean,
): (peer: Deno.Addr) => boolean {
  if (trusted instanceof AccessList) return (peer) => trusted.allows(peer as Deno.NetAddr);
  const networks = [...trusted];
  if (networks.length === 0) {
    throw new RangeError(
      `${className} has proxyProtocol set and an empty "trustedProxies": it would drop every connection; list the balancers' networks, e.g. ["10.0.0.0/8"]`,
    );
  }
  const path = networks.find((n) =>
    typeof n === "string" && n.startsWith(UNIX_PEERS) && n !== UNIX_PEERS
  );
  if (path !== undefined) {
    throw new TypeError(
      `"trustedProxies" has "${path}", but a Unix socket's peers have no address to tell one proxy from another: write "${UNIX_PEERS}" to trust every peer of the socket, and let only the proxy reach it (its file's permissions)`,
    );
  }
  const unix = networks.includes(UNIX_PEERS);
  if (unixPeers && !unix) {
    throw new TypeError(
      `${className} listens on a Unix socket and its "trustedProxies" lacks "${UNIX_PEERS}": its peers have no IP address, so it would drop every connection; set it to ["${UNIX_PEERS}"]`,
    );
  }
  if (!unixPeers && networks.every((n) => n === UNIX_PEERS)) {
    throw new TypeError(
      `${className} listens on TCP and its "trustedProxies" has only "${UNIX_PEERS}", which stands for a Unix socket's peers: it would drop every connection; list the balancers' networks, e.g. ["10.0.0.0/8"]`,
    );
  }
  const list = new AccessList({ allow: networks.filter((n) => n !== UNIX_PEERS) });
  return (peer) => peer.transport === "unix" ? unix : list.allows(peer as Deno.NetAddr);
}

/** A header being read, and its deadline. */
interface Reading {
  conn: Deno.Conn;
  at: number;
  done: boolean;
  expired: boolean;
}

/** A server's PROXY protocol step: its settings, decided when the options are, and the
 * per-connection work. */
export class ProxyAdmission implements Admission<Deno.Conn, Deno.Addr> {
  readonly concurrent: boolean;
  #mode: ProxyProtocolMode;
  #timeoutMs: number;
  #trusts: (peer: Deno.Addr) => boolean;
  /** Each peer host's trust, for the balancers' few addresses; bounded. */
  #seen = new Map<string, boolean>();
  /** The headers being read, oldest first: with one timeout for all they expire in that order, so
   * one timer for the oldest serves all (cheaper than one each: bench/README.md). */
  #reading: Reading[] = [];
  #oldest = 0;
  #pending = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /**
   * @param mode The versions accepted.
   * @param trusted `trustedProxies`; `null` throws, saying what to set.
   * @param timeoutMs `proxyHeaderTimeout`.
   * @param concurrent Whether the server runs a task per request.
   * @param className For messages.
   * @param unixPeers Whether the server listens on a Unix socket.
   */
  constructor(
    mode: ProxyProtocolMode,
    trusted: TrustedProxies | null,
    timeoutMs: number,
    concurrent: boolean,
    className: string,
    unixPeers: boolean,
  ) {
    if (trusted === null) {
      throw new TypeError(
        `${className} has proxyProtocol "${mode}" but no "trustedProxies": set it to the networks of the proxies that send the header (e.g. ["10.0.0.0/8"], or ["unix:"] on a Unix socket), or an AccessList; any client could otherwise claim any address`,
      );
    }
    this.#mode = mode;
    this.#trusts = trustOf(trusted, className, unixPeers);
    this.#timeoutMs = timeoutMs;
    this.concurrent = concurrent;
  }

  refuse(peer: Deno.Addr): ProxyHeaderError | null {
    const host = "hostname" in peer ? peer.hostname : "";
    let trusted = this.#seen.get(host);
    if (trusted === undefined) {
      trusted = this.#trusts(peer);
      if (this.#seen.size >= 1024) this.#seen.clear(); // a scan from many addresses
      if (host !== "") this.#seen.set(host, trusted);
    }
    if (trusted) return null;
    return new ProxyHeaderError(
      "untrusted",
      `Connection from "${
        formatAddress(peer)
      }" refused before any read: it is not in "trustedProxies"; add the proxy's network there, or let clients reach the server only through the proxy`,
    );
  }

  async admit(conn: Deno.Conn, peer: Deno.Addr): Promise<Deno.Addr> {
    const reading: Reading = {
      conn,
      at: performance.now() + this.#timeoutMs,
      done: false,
      expired: false,
    };
    this.#reading.push(reading);
    this.#pending++;
    if (this.#timer === undefined) this.#schedule(this.#timeoutMs);
    let read;
    try {
      // no deadline of its own: the timer closes the connection at it
      read = await readProxyHeader(conn, { mode: this.#mode, timeoutMs: Infinity });
    } catch (error) {
      if (!reading.expired) throw error;
      throw headerError(
        "timeout",
        `No complete PROXY header within ${this.#timeoutMs} ms`,
        this.#mode,
      );
    } finally {
      reading.done = true;
      if (--this.#pending === 0 && this.#closed) this.close();
    }
    const { header, rest } = read;
    replayFirst(conn, rest);
    setProxyInfo(conn, { proxyAddress: peer as Deno.NetAddr | Deno.UnixAddr, header });
    const source = header.source;
    if (header.command === "LOCAL" || source === null) return peer;
    // a TCP server's client address is a NetAddr: a Unix client of the
    // proxy (version 2's UNIX family) is left in the header
    if (peer.transport !== "unix" && !("hostname" in source)) return peer;
    return source;
  }

  /** The server closed (or changed its options): the timer goes once the
   * headers still being read are done, which it may have to cut short. */
  close(): void {
    this.#closed = true;
    if (this.#pending > 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#reading.length = 0;
    this.#oldest = 0;
  }

  #schedule(ms: number): void {
    // past MAX_TIMER_MS setTimeout() fires at once: fire early, find nothing due, set it again
    this.#timer = setTimeout(this.#expire, Math.min(MAX_TIMER_MS, ms));
    Deno.unrefTimer(this.#timer); // the connections keep the process alive, not their deadline
  }

  /** Closes the connections whose deadline passed (their read fails), and
   * sets the timer for the next one. */
  #expire = (): void => {
    const now = performance.now();
    const reading = this.#reading;
    let i = this.#oldest;
    for (; i < reading.length; i++) {
      const r = reading[i];
      if (r.done) continue;
      if (r.at > now) break;
      r.expired = true;
      try {
        r.conn.close();
      } catch {
        // closed already
      }
    }
    if (i === reading.length) {
      reading.length = 0; // all done: the timer lapses until the next header
      i = 0;
    } else if (i > 1024 && i * 2 > reading.length) {
      reading.splice(0, i);
      i = 0;
    }
    this.#oldest = i;
    this.#timer = undefined;
    if (i < reading.length) this.#schedule(reading[i].at - now);
  };
}
