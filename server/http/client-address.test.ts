import { describe, expect, it } from "vitest";

import { NO_TRUSTED_PROXIES, TrustedProxies, addressGroup, clientAddress } from "./client-address";

describe("clientAddress", () => {
  const proxies = new TrustedProxies(["127.0.0.1", "10.0.0.0/8", "fd00::/8"]);

  it("is the socket's peer when no proxy is trusted, whatever X-Forwarded-For says", () => {
    expect(clientAddress("203.0.113.9", "198.51.100.1", NO_TRUSTED_PROXIES)).toBe("203.0.113.9");
    expect(clientAddress("127.0.0.1", "198.51.100.1", NO_TRUSTED_PROXIES)).toBe("127.0.0.1");
  });

  it("believes X-Forwarded-For only from a trusted peer", () => {
    expect(clientAddress("203.0.113.9", "198.51.100.1", proxies)).toBe("203.0.113.9");
    expect(clientAddress("127.0.0.1", "198.51.100.1", proxies)).toBe("198.51.100.1");
    expect(clientAddress("::ffff:127.0.0.1", "198.51.100.1", proxies)).toBe("198.51.100.1");
  });

  it("takes the right-most address that is not a trusted proxy, so a client cannot choose its own", () => {
    // The client wrote "1.1.1.1" itself; the first proxy appended the address it saw.
    expect(clientAddress("127.0.0.1", "1.1.1.1, 198.51.100.7, 10.2.3.4", proxies)).toBe("198.51.100.7");
    expect(clientAddress("127.0.0.1", ["1.1.1.1", "198.51.100.7"], proxies)).toBe("198.51.100.7");
    expect(clientAddress("fd00::5", "2001:db8::1, fd12::7", proxies)).toBe("2001:db8::1");
  });

  it("stops at the last proxy on a malformed entry or a missing header, rather than trust it", () => {
    expect(clientAddress("127.0.0.1", "198.51.100.7, not-an-address", proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", "198.51.100.7, garbage, 10.0.0.3", proxies)).toBe("10.0.0.3");
    expect(clientAddress("127.0.0.1", undefined, proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", "", proxies)).toBe("127.0.0.1");
  });

  it("reads an entry a proxy wrote with its port, IPv4 or bracketed IPv6, as the address", () => {
    expect(clientAddress("127.0.0.1", "198.51.100.7:51234", proxies)).toBe("198.51.100.7");
    expect(clientAddress("127.0.0.1", "[2001:db8::1]:51234", proxies)).toBe("2001:db8::1");
    expect(clientAddress("127.0.0.1", "1.1.1.1, [2001:db8::2], 10.0.0.9:443", proxies)).toBe("2001:db8::2");
  });

  it("takes the left-most hop when every hop is a trusted proxy", () => {
    expect(clientAddress("127.0.0.1", "10.0.0.1, 10.0.0.2", proxies)).toBe("10.0.0.1");
  });
});

describe("addressGroup", () => {
  it("counts an IPv4 address by itself, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64", () => {
    expect(addressGroup("198.51.100.7")).toBe("198.51.100.7");
    expect(addressGroup("::ffff:198.51.100.7")).toBe("198.51.100.7");
    expect(addressGroup("2001:db8:1:2::a")).toBe(addressGroup("2001:db8:1:2:ffff::b"));
    expect(addressGroup("2001:db8:1:2::a")).not.toBe(addressGroup("2001:db8:1:3::a"));
  });
});
