import type { NextConfig } from "next";

// The lab runs on machines without internet access, and a build or a server must not try to
// reach out. Telemetry is read from the environment after this file loads, so setting it here
// covers `next build` and the custom server alike.
process.env.NEXT_TELEMETRY_DISABLED ??= "1";

const nextConfig: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // Native addons the custom server loads; Next must not try to bundle them if a server
  // module is ever reached from a route.
  serverExternalPackages: ["node-pty", "koffi", "better-sqlite3"],
};

export default nextConfig;
