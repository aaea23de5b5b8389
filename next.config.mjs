// JavaScript, not TypeScript: Next transpiles a next.config.ts with the TypeScript package,
// and where that is absent (the Dockerfile's runtime, whose development packages are pruned)
// it installs it, with all the development packages, at the server's first start.

// The lab runs on machines without internet access, and a build or a server must not try to
// reach out. Telemetry is read from the environment after this file loads, so setting it here
// covers `next build` and the custom server alike.
process.env.NEXT_TELEMETRY_DISABLED ??= "1";

// NSLAB_NEXT_DIR: where the build goes, relative to the project (default .next). `npm test`
// builds into .next-test, so that a test run never rebuilds the pages under a running
// `npm start` of the same checkout. The server reads the same setting when it loads the build.
const distDir = process.env.NSLAB_NEXT_DIR || ".next";
if (!/^\.?[\w-]+$/.test(distDir)) {
  throw new Error(`NSLAB_NEXT_DIR must be a directory name in the project, such as .next-test (it is ${JSON.stringify(distDir)})`);
}

/** @type {import("next").NextConfig} */
const nextConfig = {
  distDir,
  reactStrictMode: true,
  poweredByHeader: false,
  // Native addons the custom server loads; Next must not try to bundle them if a server
  // module is ever reached from a route.
  serverExternalPackages: ["node-pty", "koffi", "better-sqlite3"],
};

export default nextConfig;
