"use client";

import { useEffect } from "react";

import { Button } from "../components/ui/button";

export default function ErrorPage({ error, retry }: { error: unknown; retry: () => void }) {
  useEffect(() => {
    // The browser console is where whoever runs the lab will look first.
    console.error(error);
  }, [error]);

  return (
    <main className="mx-auto max-w-2xl px-4 py-16">
      <h1 className="text-2xl font-bold">This page could not be shown</h1>
      <p className="mt-3 text-zinc-700 dark:text-zinc-300">Something went wrong while rendering it. Trying again often helps.</p>
      <Button onClick={retry} className="mt-6">
        Try again
      </Button>
    </main>
  );
}
