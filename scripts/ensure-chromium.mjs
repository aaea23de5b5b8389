// The browser tests drive the distribution's Chromium, never a browser Playwright downloads.
// Finds it (CHROMIUM_PATH, /usr/bin/chromium, /usr/bin/chromium-browser); installs Debian's
// package when running as root (scripts/apt.mjs); otherwise says exactly what to install.
import fs from "node:fs";

import { aptInstall } from "./apt.mjs";

const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter(Boolean);

export function findChromium() {
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}

export function ensureChromium() {
  const found = findChromium();
  if (found) return found;
  if (aptInstall(["chromium"], "the browser tests drive it", (line) => console.log(`nslab test: ${line}`)) && findChromium()) return findChromium();
  throw new Error(
    "the browser tests need Chromium from your distribution, and none was found.\n" +
      "  Debian: sudo apt-get install -y chromium\n" +
      "  Ubuntu: sudo apt-get install -y chromium-browser (or set CHROMIUM_PATH to a Chromium binary)",
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    console.log(ensureChromium());
  } catch (err) {
    console.error(`nslab: ${err.message}`);
    process.exit(1);
  }
}
