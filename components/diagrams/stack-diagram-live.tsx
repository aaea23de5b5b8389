"use client";

// The stack diagram connected to the lab: the container side shows the learner's sandbox while
// a session is live, and reference figures otherwise.

import { useOptionalLab } from "../lab/lab-context";
import { StackDiagramView } from "./stack-diagram-view";
import { containerStack, sandboxFacts, vmStack } from "./stack-model";

const VM_STACK = vmStack();

export function StackDiagramLive() {
  const lab = useOptionalLab();
  const session = lab?.state.phase === "ready" ? lab.session : null;
  const facts = sandboxFacts(session, lab?.live ?? null);
  return <StackDiagramView vm={VM_STACK} container={containerStack(facts)} facts={facts} />;
}
