import { describe, expect, it } from "vitest";

import { expiryBannerText, expiryNotice } from "./expiry-banner";

const NOW = 1_700_000_000_000;

describe("the banner before the lab ends a sandbox", () => {
  it("asks an idle learner to type, counting down from what the server said", () => {
    const notice = expiryNotice({ type: "session.expiring", reason: "idle", inSeconds: 60, limitS: 1800 }, NOW);
    expect(notice).not.toBeNull();
    if (!notice) return;
    expect(expiryBannerText(notice, NOW)).toBe("Your sandbox ends in 60 s because it has been idle: type anything to keep it.");
    expect(expiryBannerText(notice, NOW + 59_500)).toBe("Your sandbox ends in 1 s because it has been idle: type anything to keep it.");
    expect(expiryBannerText(notice, NOW + 61_000)).toBe("Your sandbox is ending now because it has been idle: type anything to keep it.");
  });

  it("names the lifetime it reached, and asks the learner to save their work", () => {
    const at = (limitS: number) => {
      const notice = expiryNotice({ type: "session.expiring", reason: "lifetime", inSeconds: 45, limitS }, NOW);
      return notice && expiryBannerText(notice, NOW);
    };
    expect(at(4 * 3600)).toBe("Your sandbox ends in 45 s: it reached its 4-hour limit; save your work.");
    expect(at(90 * 60)).toBe("Your sandbox ends in 45 s: it reached its 90-minute limit; save your work.");
    expect(at(5)).toBe("Your sandbox ends in 45 s: it reached its 5-second limit; save your work.");
  });

  it("is taken down when the server takes the warning back", () => {
    expect(expiryNotice({ type: "session.expiring", reason: "idle", inSeconds: null, limitS: 1800 }, NOW)).toBeNull();
  });
});
