// nslab command line. Each command imports its own modules when it runs (`nslab help` loads
// none of them; `nslab run` neither the doctor's nor the server's).
import { projectRoot } from "../project-root";

const USAGE = `usage: nslab <command>

  serve              serve the lessons and the lab (PORT, HOST; default http://localhost:3000)
  doctor             check what this kernel supports, and how to fix what it lacks
  run [FLAGS] -- CMD run one command in a fresh sandbox (see nslab run --help)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve": {
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
      const { doctor } = await import("./doctor");
      return doctor(projectRoot);
    }
    case "run": {
      process.env.NSLAB_LOG_TO_STDERR = "1";
      process.env.LOG_LEVEL ??= "warn";
      const { runCommand } = await import("./run");
      return runCommand(rest, projectRoot);
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`nslab: unknown command '${command}'\n${USAGE}`);
      return 2;
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
