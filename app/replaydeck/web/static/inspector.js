// The inspector: every event shown so far, and the raw JSON of the selected one.
//
// The list is virtual: only the rows in view (and a few around them) are elements,
// so a session of 20,000 events costs a few dozen nodes, and adding an event is O(1)
// (the row model is rebuilt once per frame, when the view is drawn). A long run of
// message.delta rows is one row ("message.delta × 180") until it is opened.

import { $, el, formatMs, momentHref } from "./dom.js";

const ROW_PX = 26; // each row's height, as viewer.css sets it
const OVERSCAN = 15; // rows drawn beyond each edge of the view
const MIN_ROWS = 40; // drawn when the list has no height yet (collapsed, or not laid out)
const RUN_MIN = 10; // consecutive deltas from which they are one row

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

export class Inspector {
  constructor(onSelect, lookup) {
    this.list = $("event-list");
    this.scroller = $("event-scroll"); // the list scrolls inside it, padded to its full height
    this.raw = $("raw");
    this.title = $("raw-title");
    this.link = $("raw-link");
    this.count = $("inspector-count");
    this.lookup = lookup; // seq -> envelope
    this.hiddenKinds = new Set();
    this.expanded = new Set(); // first seqs of delta runs the reader opened
    this.list.addEventListener("click", (event) => {
      const run = event.target.closest("[data-run]");
      if (run) {
        this.expanded.add(Number(run.dataset.run));
        this.dirty = true;
        this.flush();
        return;
      }
      const row = event.target.closest("[data-seq]");
      if (row) onSelect(Number(row.dataset.seq));
    });
    // The list's height and scroll offset are kept here rather than read at each draw:
    // reading them right after the transcript changed would force the page's layout.
    this.height = null;
    this.scrollTop = 0;
    this.scroller.addEventListener(
      "scroll",
      () => {
        this.scrollTop = this.scroller.scrollTop;
        this.drawWindow();
      },
      { passive: true },
    );
    new ResizeObserver(() => {
      this.height = this.scroller.clientHeight;
      this.drawWindow();
    }).observe(this.scroller);
    this.reset();
  }

  reset() {
    this.position = 0;
    this.rows = []; // each a seq, or [first, last] for a collapsed run
    this.dirty = true;
    this.selected = null;
    this.show(null);
  }

  add(envelope) {
    this.position = envelope.seq;
    this.dirty = true;
  }

  setHidden(kind, hidden) {
    if (hidden) this.hiddenKinds.add(kind);
    else this.hiddenKinds.delete(kind);
    this.dirty = true;
    this.flush();
  }

  // ------------------------------------------------------------ the row model

  build() {
    const rows = [];
    let run = null; // [first, last] of the deltas in a row so far
    const endRun = () => {
      if (!run) return;
      if (run[1] - run[0] + 1 >= RUN_MIN && !this.expanded.has(run[0])) rows.push(run);
      else for (let seq = run[0]; seq <= run[1]; seq += 1) rows.push(seq);
      run = null;
    };
    for (let seq = 1; seq <= this.position; seq += 1) {
      const envelope = this.lookup(seq);
      if (!envelope) continue;
      if (this.hiddenKinds.has(filterKind(envelope.type))) continue;
      if (envelope.type === "message.delta") {
        if (run && run[1] === seq - 1) run[1] = seq;
        else {
          endRun();
          run = [seq, seq];
        }
      } else {
        endRun();
        rows.push(seq);
      }
    }
    endRun();
    this.rows = rows;
    this.dirty = false;
  }

  // The row holding `seq`, by binary search (rows are in seq order).
  indexOf(seq) {
    let low = 0;
    let high = this.rows.length - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const row = this.rows[mid];
      const first = Array.isArray(row) ? row[0] : row;
      const last = Array.isArray(row) ? row[1] : row;
      if (seq < first) high = mid - 1;
      else if (seq > last) low = mid + 1;
      else return mid;
    }
    return -1;
  }

  // ------------------------------------------------------------ drawing

  flush() {
    if (this.dirty) this.build();
    this.count.textContent = this.position > 0 ? `(${this.position})` : "";
    this.drawWindow();
  }

  drawWindow() {
    const total = this.rows.length;
    this.height ??= this.scroller.clientHeight;
    const inView = this.height > 0 ? Math.ceil(this.height / ROW_PX) : MIN_ROWS;
    const first = Math.max(0, Math.floor(this.scrollTop / ROW_PX) - OVERSCAN);
    const last = Math.min(total, first + inView + 2 * OVERSCAN);
    const items = [];
    for (let index = first; index < last; index += 1) items.push(this.row(this.rows[index]));
    // Padding stands in for the rows not drawn, so the scrollbar is the whole list's.
    this.list.style.paddingTop = `${first * ROW_PX}px`;
    this.list.style.paddingBottom = `${(total - last) * ROW_PX}px`;
    this.list.replaceChildren(...items);
  }

  row(entry) {
    const run = Array.isArray(entry);
    const seq = run ? entry[0] : entry;
    const envelope = this.lookup(seq);
    const item = el("li", `k-${filterKind(envelope.type)}${run ? " run" : ""}`);
    const button = el("button");
    button.type = "button";
    if (run) {
      button.dataset.run = String(seq);
      button.title = "Show each event of this run";
      button.append(
        el("span", "seq", `#${seq}`),
        el("span", "type t-message", `message.delta × ${entry[1] - entry[0] + 1} (to #${entry[1]})`),
        el("span", "offset", `+${formatMs(envelope.offset_ms)}`),
      );
    } else {
      button.dataset.seq = String(seq);
      button.append(
        el("span", "seq", `#${seq}`),
        el("span", `type t-${String(envelope.type).split(".")[0]}`, String(envelope.type)),
        el("span", "offset", `+${formatMs(envelope.offset_ms)}`),
      );
    }
    const selected = this.selected;
    if (selected !== null && (run ? selected >= entry[0] && selected <= entry[1] : selected === seq)) {
      button.setAttribute("aria-current", "true");
    }
    item.append(button);
    return item;
  }

  // Scroll the list only: scrollIntoView would also move the page, which on a phone
  // (inspector below the transcript) would drag the reader away from the text.
  reveal(index) {
    const top = index * ROW_PX;
    const bottom = top + ROW_PX;
    const height = this.height || 0;
    let scrollTop = this.scrollTop;
    if (top < scrollTop) scrollTop = top;
    else if (bottom > scrollTop + height) scrollTop = bottom - height;
    if (scrollTop === this.scrollTop) return;
    this.scrollTop = scrollTop;
    // Drawn first, so the rows and padding are there for the list to scroll to.
    this.drawWindow();
    this.scroller.scrollTop = scrollTop;
  }

  show(envelope) {
    this.selected = envelope ? envelope.seq : null;
    if (envelope) {
      if (this.dirty) this.build();
      const index = this.indexOf(envelope.seq);
      if (index >= 0) this.reveal(index);
    }
    this.drawWindow();
    this.raw.textContent = envelope ? JSON.stringify(envelope, null, 2) : "";
    this.title.textContent = envelope ? `Event #${envelope.seq} · ${envelope.type}` : "No event selected";
    this.link.hidden = !envelope;
    if (envelope) this.link.href = momentHref(envelope.seq);
  }
}
