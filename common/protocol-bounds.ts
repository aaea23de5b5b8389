// The protocol's sizes and rates, apart from its schemas: the server's terminal input
// (server/sandbox/pty-input.ts) is bounded by them too, and `nslab run` loads that module on
// its way to a sandbox without loading the protocol's zod schemas. common/protocol.ts
// re-exports every one of them; import them from there everywhere else.
//
// Shared by the browser and the server: no DOM, no Node.

/** Largest frame either side accepts; larger ones close the socket with MessageTooBig. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Keystroke bytes the server accepts per second and session (a pasted script is fine, a
 *  flood is not); the page refuses a larger paste before sending it. */
export const INPUT_BYTES_PER_SECOND = 256 * 1024;
/** The page sends terminal input in frames of at most this size (well under MAX_FRAME_BYTES). */
export const INPUT_FRAME_BYTES = 16 * 1024;
/** Terminal size bounds: more than any screen shows (a 4K display at a small font is about
 *  480 columns), and small enough that the server's copy of a terminal stays cheap to redraw
 *  for a page that attaches. */
export const TERMINAL_LIMITS = { minCols: 2, maxCols: 500, minRows: 1, maxRows: 200 } as const;
