// The import rules of ARCHITECTURE.md, enforced: app -> components -> common, server -> common,
// common imports neither Node nor the DOM, and the browser never reaches the server.
import fs from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { PROJECT_ROOT } from "./kernel";

function sourceFiles(dir: string): string[] {
  const abs = path.join(PROJECT_ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  const out: string[] = [];
  for (const entry of fs.readdirSync(abs, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && /\.(ts|tsx|mts)$/.test(entry.name)) out.push(path.join(entry.parentPath, entry.name));
  }
  return out;
}

function imports(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  return [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)].map(
    (m) => m[1] ?? m[2] ?? "",
  );
}

function layerOf(file: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null;
  const target = path.relative(PROJECT_ROOT, path.resolve(path.dirname(file), spec));
  return target.split(path.sep)[0] ?? null;
}

const RULES: Record<string, { may: string[]; why: string }> = {
  common: { may: ["common"], why: "common/ is shared by the browser and the server, so it imports neither" },
  components: { may: ["components", "common", "lessons"], why: "the browser never imports server code" },
  app: { may: ["app", "components", "common", "lessons"], why: "routes compose components; they never import server code" },
  server: { may: ["server", "common", "native"], why: "the server never imports browser code" },
};

describe("layer import rules", () => {
  for (const [layer, rule] of Object.entries(RULES)) {
    it(`${layer}/ imports only ${rule.may.join(", ")}`, () => {
      const violations: string[] = [];
      for (const file of sourceFiles(layer)) {
        for (const spec of imports(file)) {
          const target = layerOf(file, spec);
          // A test of common/ may read the course's own files as data.
          const testData = layer === "common" && file.endsWith(".test.ts") && target === "lessons";
          if (target && !testData && !rule.may.includes(target)) violations.push(`${path.relative(PROJECT_ROOT, file)} imports ${spec} (${rule.why})`);
          if (layer === "common" && !file.endsWith(".test.ts") && (spec.startsWith("node:") || ["react", "react-dom", "next"].includes(spec))) {
            violations.push(`${path.relative(PROJECT_ROOT, file)} imports ${spec} (${rule.why})`);
          }
        }
      }
      expect(violations).toEqual([]);
    });
  }

  it("finds the imports it checks", () => {
    // Guard against a rule that passes because the scanner sees nothing.
    const lab = path.join(PROJECT_ROOT, "server/ws/lab-connection.ts");
    expect(imports(lab)).toContain("../../common/protocol");
  });
});
