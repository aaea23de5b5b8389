#!/usr/bin/env node
// The nslab command: `nslab serve`, `nslab doctor`, `nslab run -- CMD`. The CLI is written in
// TypeScript (server/cli/); tsx compiles it on the fly.
import { register } from "tsx/esm/api";

register();
await import("../server/cli/main.ts");
