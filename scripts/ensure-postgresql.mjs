// The store's PostgreSQL tests start a throwaway server of their own (server/testing/pg-cluster.ts)
// from the distribution's PostgreSQL server programs. Finds them (the newest
// /usr/lib/postgresql/<major>/bin, else initdb on PATH); installs Debian's package when running
// as root; otherwise says exactly what to install. Never fatal: without a server those tests
// skip and say why, and under CI=true they fail, as every test of a missing feature does.
//
// Only `npm test` calls this, never setup.mjs: setup runs at `npm ci` in the production image,
// which talks to a PostgreSQL elsewhere and needs no server of its own.
import fs from "node:fs";
import path from "node:path";

import { aptInstall } from "./apt.mjs";

/** What a throwaway cluster runs, all from one directory so that their versions match. */
const PROGRAMS = ["initdb", "pg_ctl", "postgres"];

const INSTALL_HINT =
  "  Debian/Ubuntu: sudo apt-get install -y postgresql\n" +
  "  elsewhere: your distribution's PostgreSQL server package, with initdb, pg_ctl and postgres on PATH";

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The bin directory the tests will use, or null. Keep in step with findPgBinDir in pg-cluster.ts. */
export function findPostgresqlBin() {
  const root = "/usr/lib/postgresql";
  let majors = [];
  try {
    majors = fs.readdirSync(root).filter((name) => /^\d+(\.\d+)?$/.test(name));
  } catch {
    // no Debian-style installation
  }
  majors.sort((a, b) => Number(b) - Number(a));
  const candidates = majors.map((major) => path.join(root, major, "bin"));
  for (const dir of (process.env.PATH ?? "").split(":").filter(Boolean)) {
    try {
      candidates.push(path.dirname(fs.realpathSync(path.join(dir, "initdb"))));
    } catch {
      // not on this PATH entry
    }
  }
  return candidates.find((dir) => PROGRAMS.every((program) => isExecutable(path.join(dir, program)))) ?? null;
}

/** The PostgreSQL server's bin directory, installing the distribution's package as root when
 *  there is none; null (having said what to install) when it cannot. */
export function ensurePostgresql() {
  const found = findPostgresqlBin();
  if (found) return found;
  // Debian's package also makes and starts a cluster of its own ("main"); the tests never use
  // it, and start their own on a free port.
  if (aptInstall(["postgresql"], "the store's PostgreSQL tests start a server of their own", (line) => console.log(`nslab test: ${line}`))) {
    const bin = findPostgresqlBin();
    if (bin) return bin;
  }
  const consequence = process.env.CI === "true" ? "so the store's PostgreSQL tests will fail (CI=true)" : "so the store's PostgreSQL tests will skip";
  console.log(`nslab test: no PostgreSQL server (initdb, pg_ctl, postgres) found, ${consequence}. To run them, install it:\n${INSTALL_HINT}`);
  return null;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bin = ensurePostgresql();
  if (bin) console.log(bin);
  else process.exit(1);
}
