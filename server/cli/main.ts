// nslab command line. Each command imports its own modules when it runs (`nslab help` loads
// none of them; `nslab run` neither the doctor's nor the server's), and serve and doctor check
// their flags before that: --help, --version and a wrong flag load nothing of theirs.
import { projectRoot, projectVersion } from "../project-root";

const EXIT_USAGE = 2;

const USAGE = `usage: nslab <command>

  serve [--port N] [--host ADDR]  serve the lessons and the lab (default http://localhost:3000)
  doctor [--json]                 check what this kernel supports, and how to fix what it lacks
  run [FLAGS] -- CMD              run one command in a fresh sandbox

  -h, --help     this text (each command has its own: nslab <command> --help)
  -V, --version  print nslab's version

Exit codes: 0 ok, 2 usage error, 125 nslab itself failed; each command's --help lists its own.
`;

const SERVE_USAGE = `usage: nslab serve [--port N] [--host ADDR]

Serve the lessons and the lab: the server npm start runs (after next build). Every other
setting is read from the environment (README.md, "Configuration").

  --port N       port to listen on, 0 for any free one (sets PORT; default 3000)
  --host ADDR    address to listen on (sets HOST; default 0.0.0.0)
  -h, --help     this text
  -V, --version  print nslab's version

Exit codes: 0 stopped by SIGTERM or SIGINT; 1 the server could not start (its log says why,
an invalid PORT, HOST or other setting among the reasons); 2 usage error; 125 nslab itself failed.
`;

const DOCTOR_USAGE = `usage: nslab doctor [--json]

Check what this kernel and host support, and how to fix what they lack.

  --json         the same report as one JSON object:
                 { ok, kernel, cgroupVersion, checks: [{ name, ok, warn?, detail, fix? }] }
  -h, --help     this text
  -V, --version  print nslab's version

Exit codes: 0 this host can run sandboxes; 1 it cannot (lessons are still served); 2 usage
error; 125 nslab itself failed (an invalid environment, say).
`;

/** `usage`'s first line after `message`, on stderr: the status of a usage error. */
function usageError(command: string, message: string, usage: string): number {
  process.stderr.write(`nslab${command ? ` ${command}` : ""}: ${message}\n${usage.slice(0, usage.indexOf("\n") + 1)}`);
  return EXIT_USAGE;
}

/** The flags of serve or doctor: those in `values` take one (--port 80, --port=80), those in
 *  `switches` none. A number instead is the exit status, --help, --version or a usage error
 *  having been written. */
function parseFlags(
  command: string,
  usage: string,
  argv: string[],
  spec: { values?: string[]; switches?: string[] },
): { values: Map<string, string>; switches: Set<string> } | number {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (spec.values?.includes(flag)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) return usageError(command, `${flag} needs a value`, usage);
      values.set(flag, value);
      continue;
    }
    const known = ["-h", "--help", "-V", "--version", ...(spec.switches ?? [])].includes(flag);
    if (!known) return usageError(command, arg.startsWith("-") ? `unknown flag '${flag}'` : `unexpected argument '${arg}'`, usage);
    if (eq > 0) return usageError(command, `${flag} takes no value`, usage);
    if (flag === "-h" || flag === "--help") {
      process.stdout.write(usage);
      return 0;
    }
    if (flag === "-V" || flag === "--version") {
      process.stdout.write(`nslab ${projectVersion}\n`);
      return 0;
    }
    switches.add(flag);
  }
  return { values, switches };
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve": {
      const flags = parseFlags("serve", SERVE_USAGE, rest, { values: ["--port", "--host"] });
      if (typeof flags === "number") return flags;
      // The range, and HOST, are the server's configuration's to check (server/config.ts), as
      // they are when set in the environment; a port that is no number at all is a typo here.
      const port = flags.values.get("--port");
      if (port !== undefined && !/^\d+$/.test(port)) return usageError("serve", `--port: '${port}' is not a port number (0-65535)`, SERVE_USAGE);
      if (port !== undefined) process.env.PORT = port;
      const host = flags.values.get("--host");
      if (host !== undefined) process.env.HOST = host;
      // The server's own module, not a copy bundled into the CLI's build (whose modules `run`
      // would then share): dist/server.mjs beside the compiled CLI, server/main.ts beside the
      // sources. A computed specifier, so the build leaves it alone.
      const compiled = import.meta.url.endsWith(".mjs");
      const server = new URL(compiled ? "./server.mjs" : "../main.ts", import.meta.url).href;
      // Its stack traces name server/**/*.ts and their lines, as under npm start. Turned on
      // here, before it loads: Node maps only the modules it loads with maps on.
      process.setSourceMapsEnabled(true);
      await import(server);
      return -1; // the server keeps the process alive
    }
    case "doctor": {
      const flags = parseFlags("doctor", DOCTOR_USAGE, rest, { switches: ["--json"] });
      if (typeof flags === "number") return flags;
      const { doctor } = await import("./doctor");
      return doctor(projectRoot, { json: flags.switches.has("--json") });
    }
    case "run": {
      process.env.NSLAB_LOG_TO_STDERR = "1";
      process.env.LOG_LEVEL ??= "warn";
      const { runCommand } = await import("./run");
      return runCommand(rest, projectRoot);
    }
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return 0;
    case "--version":
    case "-V":
      process.stdout.write(`nslab ${projectVersion}\n`);
      return 0;
    case undefined:
      process.stderr.write(USAGE);
      return EXIT_USAGE;
    default:
      if (command.startsWith("-")) return usageError("", `unknown flag '${command}'`, USAGE);
      process.stderr.write(`nslab: unknown command '${command}'\n${USAGE}`);
      return EXIT_USAGE;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`nslab: ${(err as Error).message}\n`);
    process.exit(125);
  },
);
