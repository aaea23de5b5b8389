// nslab command line.
import path from "node:path";
import { fileURLToPath } from "node:url";

import { doctor } from "./doctor";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const USAGE = `usage: nslab <command>

  serve              serve the lessons and the lab (PORT, HOST; default http://localhost:3000)
  doctor             check what this kernel supports, and how to fix what it lacks
  run [FLAGS] -- CMD run one command in a fresh sandbox (see nslab run --help)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      await import("../main");
      return -1; // the server keeps the process alive
    case "doctor":
      return doctor(projectRoot);
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
