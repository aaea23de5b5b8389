// The checkout nslab runs from: the nearest directory above this module whose package.json is
// nslab's. The server and the CLI run both from their sources (server/, under tsx and vitest)
// and bundled into dist/ (scripts/build-server.mjs), where this module is part of another file
// at another depth, so no fixed "../.." from import.meta.url is right in both; the walk up is.
// The Next app, lessons/ and build/nslab-launcher are found from here.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

function findProject(from: string): { root: string; version: string } {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest)) {
      const { name, version } = JSON.parse(fs.readFileSync(manifest, "utf8")) as { name?: unknown; version?: unknown };
      if (name === "nslab") return { root: dir, version: String(version) };
    }
    if (path.dirname(dir) === dir) throw new Error(`no nslab package.json in ${from} or above it`);
  }
}

const project = findProject(path.dirname(fileURLToPath(import.meta.url)));
export const projectRoot = project.root;
/** package.json's version, taken from the read that finds the root: `--version` costs nothing
 *  more, and `nslab run` reads package.json no more than it did. */
export const projectVersion = project.version;
