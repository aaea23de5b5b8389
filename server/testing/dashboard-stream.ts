// The instructor's dashboard as a browser reads it: the class's server-sent events, parsed
// with the page's own schema, and the cards as they stand after each event.
import { DashboardEvent, type LearnerCard } from "../../common/classroom";

export /** The dashboard's event stream, read as a browser's EventSource would. */
class DashboardStream {
  readonly events: DashboardEvent[] = [];
  readonly cards = new Map<string, LearnerCard>();
  private readonly controller = new AbortController();
  bye: string | null = null;

  constructor(url: string, cookie: string) {
    void this.read(url, cookie);
  }

  private async read(url: string, cookie: string): Promise<void> {
    try {
      const response = await fetch(url, { headers: { cookie }, signal: this.controller.signal });
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (!data) continue;
          if (block.startsWith("event: bye")) {
            this.bye = (JSON.parse(data) as { reason: string }).reason;
            continue;
          }
          const event = DashboardEvent.parse(JSON.parse(data));
          this.events.push(event);
          if (event.type === "detail") for (const card of event.detail.learners) this.cards.set(card.memberId, card);
          if (event.type === "cards") for (const card of event.cards) this.cards.set(card.memberId, card);
        }
      }
    } catch {
      // aborted
    }
  }

  card(name: string): LearnerCard | undefined {
    return [...this.cards.values()].find((c) => c.name === name);
  }

  close(): void {
    this.controller.abort();
  }
}
