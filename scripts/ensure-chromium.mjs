// The browser tests drive the distribution's Chromium, never a browser Playwright downloads.
// Finds it (CHROMIUM_PATH, /usr/bin/chromium, /usr/bin/chromium-browser); installs Debian's
// package when running as root; otherwise says exactly what to install.
import { spawnSync } from "node:child_process";
import fs from "node:fs";

const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter(Boolean);

export function findChromium() {
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}

export function ensureChromium() {
  const found = findChromium();
  if (found) return found;
  if (process.getuid?.() === 0 && fs.existsSync("/usr/bin/apt-get")) {
    console.log("nslab test: installing the distribution's Chromium (apt-get install -y chromium)");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
    const r = spawnSync("apt-get", ["install", "-y", "-qq", "chromium"], { stdio: "inherit", env });
    if (r.status === 0 && findChromium()) return findChromium();
  }
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
