// The stack diagram as text: what a screen reader reads, what shows while the drawing loads, and
// what anyone can open under the drawing. No d3 here, so the fallback costs nothing to load.

import { type SandboxFacts, type StackModel, describeStack, formatMiB } from "./stack-model";

export function StackTextVersion({ vm, container, facts }: { vm: StackModel; container: StackModel; facts: SandboxFacts | null }) {
  return (
    <>
      {[vm, container].map((model) => (
        <div key={model.side}>
          {describeStack(model).map((line) => (
            <p key={line}>{line}</p>
          ))}
        </div>
      ))}
      {facts ? (
        <p>
          Your sandbox, live: hostname {facts.hostname}; your shell is pid 1 inside and pid {facts.hostPid} on the host; the kernel
          release is {facts.kernelRelease} both inside and outside
          {facts.memoryUsageBytes !== null && facts.memoryLimitBytes !== null
            ? `; memory ${formatMiB(facts.memoryUsageBytes)} used of a ${formatMiB(facts.memoryLimitBytes)} limit`
            : ""}
          .
        </p>
      ) : (
        <p>Reference figures: connect the lab to see your own sandbox in the container stack.</p>
      )}
    </>
  );
}
