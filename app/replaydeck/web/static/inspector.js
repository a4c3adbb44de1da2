// The inspector: every event shown so far, and the raw JSON of the selected one.

import { $, el, formatMs, momentHref } from "./dom.js";

export class Inspector {
  constructor(onSelect) {
    this.list = $("event-list");
    this.raw = $("raw");
    this.title = $("raw-title");
    this.link = $("raw-link");
    this.count = $("inspector-count");
    this.list.addEventListener("click", (event) => {
      const row = event.target.closest("[data-seq]");
      if (row) onSelect(Number(row.dataset.seq));
    });
    this.reset();
  }

  reset() {
    this.list.replaceChildren();
    this.rows = new Map();
    this.selectedRow = null;
    this.count.textContent = "";
    this.show(null);
  }

  add(envelope) {
    const row = el("li", `k-${filterKind(envelope.type)}`);
    const button = el("button");
    button.type = "button";
    button.dataset.seq = String(envelope.seq);
    button.append(
      el("span", "seq", `#${envelope.seq}`),
      el("span", `type t-${String(envelope.type).split(".")[0]}`, String(envelope.type)),
      el("span", "offset", `+${formatMs(envelope.offset_ms)}`),
    );
    row.append(button);
    this.list.append(row);
    this.rows.set(envelope.seq, button);
    this.count.textContent = `(${this.rows.size})`;
  }

  // Scroll the list only: scrollIntoView would also move the page, which on a phone
  // (inspector below the transcript) would drag the reader away from the text.
  reveal(row) {
    const top = row.offsetTop;
    const bottom = top + row.offsetHeight;
    if (top < this.list.scrollTop) this.list.scrollTop = top;
    else if (bottom > this.list.scrollTop + this.list.clientHeight) {
      this.list.scrollTop = bottom - this.list.clientHeight;
    }
  }

  show(envelope) {
    if (this.selectedRow) this.selectedRow.removeAttribute("aria-current");
    this.selectedRow = envelope ? this.rows.get(envelope.seq) || null : null;
    if (this.selectedRow) {
      this.selectedRow.setAttribute("aria-current", "true");
      this.reveal(this.selectedRow);
    }
    this.raw.textContent = envelope ? JSON.stringify(envelope, null, 2) : "";
    this.title.textContent = envelope ? `Event #${envelope.seq} · ${envelope.type}` : "No event selected";
    this.link.hidden = !envelope;
    if (envelope) this.link.href = momentHref(envelope.seq);
  }
}

// Which type filter an event falls under (the final is always shown).
const FILTER_KINDS = {
  "user.message": "user",
  "message.delta": "message",
  "tool.call": "tool",
  "tool.result": "tool",
  status: "status",
  error: "error",
  final: "end",
};

export function filterKind(type) {
  return FILTER_KINDS[type] || "other";
}
