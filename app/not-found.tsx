import Link from "next/link";

export default function NotFound() {
  return (
    <main className="mx-auto max-w-2xl px-4 py-16">
      <h1 className="text-2xl font-bold">Page not found</h1>
      <p className="mt-3 text-zinc-700 dark:text-zinc-300">Nothing lives at this address.</p>
      <Link href="/" className="mt-6 inline-block font-medium text-sky-700 underline underline-offset-2 dark:text-sky-400">
        Back to the course
      </Link>
    </main>
  );
}
