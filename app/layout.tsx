import type { Metadata, Viewport } from "next";
import type { ReactNode } from "react";

import { loadCourse } from "../components/lesson/load-lesson";
import { SiteHeader, SkipLink } from "../components/ui/site-header";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "nslab", template: "%s · nslab" },
  description: "Lessons on container internals beside a real Linux shell in namespaces and cgroups of its own.",
};

export const viewport: Viewport = {
  colorScheme: "light dark",
  themeColor: [
    { media: "(prefers-color-scheme: light)", color: "#ffffff" },
    { media: "(prefers-color-scheme: dark)", color: "#09090b" },
  ],
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  const course = await loadCourse();
  return (
    <html lang="en">
      <body className="min-h-dvh font-sans">
        <SkipLink />
        <SiteHeader courseTitle={course.title} />
        <div id="content">{children}</div>
      </body>
    </html>
  );
}
