// xterm.js paints with inline colours, so the page's light and dark themes are repeated here.
// The values match Tailwind's zinc scale used by the rest of the panel.

import type { ITheme } from "@xterm/xterm";

const dark: ITheme = {
  background: "#09090b",
  foreground: "#e4e4e7",
  cursor: "#e4e4e7",
  cursorAccent: "#09090b",
  selectionBackground: "#3f3f46",
};

const light: ITheme = {
  background: "#fafafa",
  foreground: "#18181b",
  cursor: "#18181b",
  cursorAccent: "#fafafa",
  selectionBackground: "#d4d4d8",
  // The default ANSI yellow and white are unreadable on a light background.
  yellow: "#a16207",
  brightYellow: "#854d0e",
  white: "#52525b",
  brightWhite: "#3f3f46",
};

export const DARK_SCHEME_QUERY = "(prefers-color-scheme: dark)";

export function terminalTheme(prefersDark: boolean): ITheme {
  return prefersDark ? dark : light;
}
