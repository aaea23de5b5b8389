import Link from "next/link";

export function SiteHeader({ courseTitle }: { courseTitle: string }) {
  return (
    <header className="sticky top-0 z-10 h-14 border-b border-zinc-200 bg-white/90 backdrop-blur dark:border-zinc-800 dark:bg-zinc-950/90">
      <div className="mx-auto flex h-full max-w-[1600px] items-center gap-3 px-4 lg:px-8">
        <Link href="/" className="rounded font-mono text-base font-bold tracking-tight">
          nslab
        </Link>
        <span aria-hidden="true" className="text-zinc-400">
          /
        </span>
        <Link href="/" className="truncate rounded text-sm text-zinc-700 hover:text-zinc-950 dark:text-zinc-300 dark:hover:text-white">
          {courseTitle}
        </Link>
      </div>
    </header>
  );
}

/** The first thing a keyboard user can reach: a way past the header to the page's content. */
export function SkipLink() {
  return (
    <a
      href="#content"
      className="sr-only z-20 rounded bg-white px-3 py-2 text-sm font-medium text-zinc-900 focus:not-sr-only focus:fixed focus:top-2 focus:left-2 dark:bg-zinc-900 dark:text-zinc-100"
    >
      Skip to content
    </a>
  );
}
