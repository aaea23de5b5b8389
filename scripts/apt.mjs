// The one way nslab's scripts install Debian packages: as root, with apt-get, saying first what
// it installs and why. NSLAB_NO_APT=1 (or not being root, or a host without apt-get) installs
// nothing and prints the exact command to run instead, so that nothing is ever installed on a
// host without a word.
import { spawnSync } from "node:child_process";
import fs from "node:fs";

/** Installs `packages` (the reason: `why`), printing each line through `say`. True when they
 *  are installed; false, having printed the command to run by hand, when they were not. */
export function aptInstall(packages, why, say) {
  const command = `apt-get install -y ${packages.join(" ")}`;
  const byHand = (reason) => {
    say(`${packages.join(", ")} needed (${why}); ${reason}. Install by hand: ${process.getuid?.() === 0 ? "" : "sudo "}${command}`);
    return false;
  };
  if (process.env.NSLAB_NO_APT === "1") return byHand("NSLAB_NO_APT=1, so nothing is installed");
  if (process.getuid?.() !== 0) return byHand("not root, so nothing is installed");
  if (!fs.existsSync("/usr/bin/apt-get")) return byHand("this host has no apt-get");
  say(`installing ${packages.join(" ")} with apt-get (${why}); NSLAB_NO_APT=1 skips this`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => spawnSync("apt-get", ["install", "-y", "-qq", ...packages], { stdio: "inherit", env }).status === 0;
  // The package lists are refreshed only when the install fails without them: a machine whose
  // lists are current spends no time, and no network, on it.
  if (install()) return true;
  say("apt-get install failed; updating the package lists and trying again");
  if (spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env }).status === 0 && install()) return true;
  say(`apt-get could not install ${packages.join(" ")} (see its output above)`);
  return false;
}
