// Which client a connection comes from, for the bound on sandboxes per address. The socket's
// peer is the client unless it is a reverse proxy the operator trusts (NSLAB_TRUSTED_PROXIES);
// then X-Forwarded-For is read from the right, the end each proxy appends to, and the first
// address that is not a trusted proxy is the client. Whatever a client writes into the header
// itself sits to the left of that and is never reached, so a client cannot choose its address.
import { BlockList, isIP } from "node:net";

import { clientKey } from "../classroom/instructor-auth";

/** The group an address is counted in: an IPv4 address (also as ::ffff:a.b.c.d) by itself, an
 *  IPv6 one by its /64 (a machine is usually given a whole /64 and picks from it at will). */
export const addressGroup = clientKey;

/** An address as the kernel would compare it: an IPv4-mapped IPv6 address as IPv4, no zone,
 *  and without the port some proxies append ("203.0.113.7:51234", "[2001:db8::1]:51234"). */
function plainAddress(address: string): string {
  const ported = /^\[([^\]]+)\](?::\d+)?$/.exec(address) ?? /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(address);
  const bare = ported?.[1] ?? address;
  const unzoned = bare.split("%")[0] ?? bare;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(unzoned);
  return mapped?.[1] ?? unzoned;
}

/** The proxies whose X-Forwarded-For is believed: addresses and subnets ("10.0.0.0/8"). */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly size: number;

  /** `entries` as loadConfig checked them (each an address or a subnet). */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address = "", prefix] = entry.split("/");
      const type = isIP(address) === 6 ? "ipv6" : "ipv4";
      if (prefix === undefined) this.list.addAddress(plainAddress(address), type);
      else this.list.addSubnet(address, Number(prefix), type);
    }
    this.size = entries.length;
  }

  has(address: string): boolean {
    if (this.size === 0) return false;
    const plain = plainAddress(address);
    const family = isIP(plain);
    return family !== 0 && this.list.check(plain, family === 6 ? "ipv6" : "ipv4");
  }
}

export const NO_TRUSTED_PROXIES = new TrustedProxies([]);

/**
 * The client's address: the socket's peer, or, when that is a trusted proxy, the right-most
 * address of X-Forwarded-For that is not one. A header that is missing, or an entry that is
 * not an address, stops the walk at the last proxy: its address is then the client's, and
 * everyone behind it shares its bound (closed, rather than open to a made-up header).
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | string[] | undefined, trusted: TrustedProxies): string {
  let client = socketAddress ?? "unknown";
  if (!trusted.has(client) || forwardedFor === undefined) return client;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor).split(",").map((hop) => hop.trim());
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = plainAddress(hops[i] ?? "");
    if (isIP(hop) === 0) return client;
    client = hop;
    if (!trusted.has(hop)) return client;
  }
  return client;
}
