import { $, el, formatDuration, isObject, oneLine, pretty } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

const TEXT_PARTS = new Set(["text", "input_text"]);
// The stage holds the latest this many items; "Show earlier" adds as many again.
const WINDOW = 200;

// Turns envelopes into what the app's user saw. Rendering is incremental: every
// envelope is applied once, in seq order; seeking backwards starts over.
//
// Each item is an entry whose element is built only when it is shown: applying
// 20,000 events costs objects, not elements, and the page holds the latest WINDOW
// items (each built from the entry's state as it is then; later events that change
// a shown item, such as a tool's result, change its element too).

export class Transcript {
  constructor(list, onSelect) {
    this.list = list;
    this.onSelect = onSelect;
    this.earlier = $("earlier");
    list.addEventListener("click", (event) => {
      const item = event.target.closest("[data-seq]");
      if (item && !event.target.closest("summary")) this.onSelect(Number(item.dataset.seq));
    });
    this.earlier.addEventListener("click", () => {
      this.windowSize += WINDOW;
      this.flush();
    });
    this.reset();
  }

  reset() {
    this.list.replaceChildren();
    this.entries = [];
    this.shownFrom = 0; // entries[shownFrom..attached) are on the page
    this.attached = 0;
    this.windowSize = WINDOW;
    this.messages = new Map();
    this.tools = new Map();
    // seq -> its entry; an array, filled in seq order, is far cheaper than a Map
    // of 20,000 entries rebuilt on every backward seek.
    this.itemBySeq = [];
    this.openBubble = null;
    this.selected = null;
    this.typingEntry = null;
    this.ended = false;
    this.dirty = new Set(); // bubbles whose text grew since they were last drawn
    this.earlier.hidden = true;
  }

  // A new item: `build(node)` fills its element when it is first shown.
  item(envelope, kind, build) {
    const entry = { index: this.entries.length, seq: envelope.seq, kind, build, node: null };
    this.entries.push(entry);
    this.itemBySeq[envelope.seq] = entry;
    this.openBubble = null;
    return entry;
  }

  materialize(entry) {
    if (entry.node) return entry.node;
    const node = el("li", `item ${entry.kind}`);
    node.dataset.seq = String(entry.seq);
    entry.node = node;
    entry.build(node);
    if (this.typingEntry === entry) node.classList.add("typing");
    return node;
  }

  add(envelope) {
    const data = isObject(envelope.data) ? envelope.data : {};
    switch (envelope.type) {
      case "message.delta":
        if (typeof data.text === "string") return this.delta(envelope, data);
        break;
      case "status":
        if (typeof data.label === "string") return this.status(envelope, data);
        break;
      case "tool.call":
        return this.toolCall(envelope, data);
      case "tool.result":
        return this.toolResult(envelope, data);
      case "error":
        return this.error(envelope, data);
      case "final":
        return this.final(envelope, data);
      case "user.message":
        if (typeof data.text === "string") return this.userMessage(envelope, data);
        break;
      default:
        break;
    }
    return this.custom(envelope);
  }

  delta(envelope, data) {
    const messageId = typeof data.message_id === "string" ? data.message_id : null;
    let bubble = messageId !== null ? this.messages.get(messageId) : this.openBubble;
    if (!bubble) {
      bubble = { source: "", drawn: { blocks: [] }, text: null, seq: envelope.seq };
      bubble.entry = this.item(envelope, "message", (node) => {
        bubble.text = el("div", "text md");
        node.append(el("div", "who", "Assistant"), bubble.text);
        this.dirty.add(bubble);
      });
      if (messageId !== null) this.messages.set(messageId, bubble);
    }
    bubble.source += data.text;
    bubble.seq = envelope.seq; // written to the element when drawn, not once per delta
    bubble.entry.seq = envelope.seq;
    this.dirty.add(bubble);
    this.itemBySeq[envelope.seq] = bubble.entry;
    this.openBubble = bubble;
    this.typing(bubble.entry);
  }

  // The page catches up with the entries: new items shown, the oldest beyond the
  // window taken off, and markdown drawn once per frame (or once after a seek), not
  // once per delta, which would re-parse the message each time.
  flush() {
    const from = Math.max(0, this.entries.length - this.windowSize);
    if (from < this.shownFrom) {
      const older = this.entries.slice(from, this.shownFrom).map((entry) => this.materialize(entry));
      this.list.prepend(...older);
      this.shownFrom = from;
    }
    // Off first, then on: entries that arrived and left the window since the last
    // flush (a seek over thousands) are never built at all.
    for (let index = this.shownFrom; index < Math.min(from, this.attached); index += 1) {
      const entry = this.entries[index];
      if (entry.node) entry.node.remove();
    }
    this.shownFrom = Math.max(this.shownFrom, from);
    const fresh = this.entries.slice(Math.max(this.attached, this.shownFrom));
    if (fresh.length > 0) this.list.append(...fresh.map((entry) => this.materialize(entry)));
    this.attached = this.entries.length;
    this.earlier.hidden = this.shownFrom === 0;
    const more = Math.min(WINDOW, this.shownFrom);
    this.earlier.textContent = `Show ${more} earlier item${more === 1 ? "" : "s"} (${this.shownFrom} not shown)`;
    for (const bubble of this.dirty) {
      if (!bubble.text) continue; // not shown: drawn when it is
      renderMarkdown(bubble.text, bubble.source, bubble.drawn);
      bubble.entry.node.dataset.seq = String(bubble.seq);
    }
    this.dirty.clear();
  }

  // The caret marks the message being typed; tracked rather than queried, because a
  // query per delta would make a long session quadratic.
  typing(entry) {
    if (this.typingEntry === entry) return;
    this.stopTyping();
    if (entry.node) entry.node.classList.add("typing");
    this.typingEntry = entry;
  }

  stopTyping() {
    const entry = this.typingEntry;
    if (entry && entry.node) entry.node.classList.remove("typing");
    this.typingEntry = null;
  }

  // What the user sent: their words, and any other parts (images, files) as JSON.
  userMessage(envelope, data) {
    this.stopTyping();
    this.item(envelope, "prompt", (node) => {
      node.append(el("div", "who", "User"), el("div", "text", data.text));
      const parts = Array.isArray(data.content) ? data.content : [];
      const attached = parts.filter((part) => !(isObject(part) && TEXT_PARTS.has(part.type)));
      if (attached.length > 0) {
        const details = el("details");
        const label = attached.length === 1 ? "1 attachment" : `${attached.length} attachments`;
        details.append(el("summary", null, label), el("pre", "json", pretty(attached)));
        node.append(details);
      }
    });
  }

  status(envelope, data) {
    this.item(envelope, "status", (node) => {
      node.append(el("span", "dot"), el("span", "label", data.label));
    });
  }

  toolCall(envelope, data) {
    const card = { offset: envelope.offset_ms, result: null, parts: null };
    card.entry = this.item(envelope, "tool pending", (node) => {
      const details = el("details");
      const summary = el("summary");
      const name = typeof data.name === "string" ? data.name : "tool";
      summary.append(
        el("span", "tool-name", name),
        el("span", "tool-preview", oneLine(data.args ?? {}, 80)),
        el("span", "tool-state", "running…"),
      );
      const bodyNode = el("div", "tool-body");
      bodyNode.append(el("h3", null, "Arguments"), el("pre", "json", pretty(data.args ?? {})));
      const result = el("div", "tool-result");
      bodyNode.append(result);
      details.append(summary, bodyNode);
      node.append(details);
      card.parts = { node, result, state: summary.lastChild };
      if (card.result) this.showResult(card);
    });
    const callId = typeof data.call_id === "string" ? data.call_id : `#${envelope.seq}`;
    this.tools.set(callId, card);
  }

  toolResult(envelope, data) {
    const callId = typeof data.call_id === "string" ? data.call_id : null;
    let card = callId !== null ? this.tools.get(callId) : undefined;
    if (!card) {
      // A result whose call is not in the log (or not yet in view): show it on its own.
      this.toolCall({ ...envelope }, { name: data.name, args: {}, call_id: callId ?? undefined });
      card = this.tools.get(callId ?? `#${envelope.seq}`);
    }
    card.result = { envelope, data };
    card.entry.seq = envelope.seq;
    card.entry.kind = data.is_error === true ? "tool failed" : "tool done";
    this.itemBySeq[envelope.seq] = card.entry;
    if (card.parts) this.showResult(card);
  }

  showResult(card) {
    const { envelope, data } = card.result;
    const { node, result, state } = card.parts;
    const failed = data.is_error === true;
    node.classList.remove("pending");
    node.classList.add(failed ? "failed" : "done");
    const took = envelope.offset_ms - card.offset;
    state.textContent =
      (failed ? "failed" : "done") + (Number.isFinite(took) ? ` · ${formatDuration(took)}` : "");
    result.replaceChildren(
      el("h3", null, failed ? "Error result" : "Result"),
      el("pre", "json", pretty(data.result)),
    );
    node.dataset.seq = String(envelope.seq);
  }

  error(envelope, data) {
    this.item(envelope, "error", (node) => {
      node.setAttribute("role", "note");
      const head = el("div", "error-head");
      head.append(el("strong", null, "Error"));
      if (data.code !== undefined && data.code !== null) head.append(el("code", null, String(data.code)));
      node.append(head, el("p", null, typeof data.message === "string" ? data.message : pretty(data)));
    });
  }

  final(envelope, data) {
    const [kind, text] = endOf(data);
    this.item(envelope, `final end-${kind}`, (node) => {
      const parts = [text];
      if (isObject(data.usage)) {
        for (const [key, value] of Object.entries(data.usage)) {
          if (typeof value === "number" || typeof value === "string") {
            parts.push(`${key.replace(/_/g, " ")}: ${value}`);
          }
        }
      }
      node.textContent = parts.join(" · ");
    });
  }

  // The replay ended without a final: the producer went quiet (an abandoned session).
  abandoned() {
    this.stopTyping();
    if (this.ended) return;
    this.ended = true;
    const text = "The session did not finish: its producer stopped sending events before the final one";
    this.item({ seq: 0 }, "final end-abandoned", (node) => {
      node.textContent = text;
      delete node.dataset.seq;
    });
    this.itemBySeq[0] = undefined; // no event of its own to select
    this.flush();
  }

  custom(envelope) {
    this.item(envelope, "custom", (node) => {
      const details = el("details");
      const summary = el("summary");
      summary.append(el("code", null, String(envelope.type)), el("span", "tool-preview", oneLine(envelope.data, 80)));
      details.append(summary, el("pre", "json", pretty(envelope.data)));
      node.append(details);
    });
  }

  select(seq) {
    if (this.selected) this.selected.classList.remove("selected");
    const entry = this.itemBySeq[seq];
    if (entry && entry.index < this.shownFrom && this.shownFrom - entry.index <= WINDOW) {
      // An item just before the window: widen it to show the item. One further back
      // is left off the stage (the inspector shows the event), so the page stays small.
      this.windowSize = this.entries.length - entry.index;
    }
    this.flush();
    this.selected = entry && entry.index >= this.shownFrom ? entry.node : null;
    if (this.selected) this.selected.classList.add("selected");
    return this.selected;
  }
}

// What a `final` says about how the session ended. Capture marks the finals it makes
// itself (`synthetic`) with a reason: a stream cut short is not "complete".
const END_REASONS = {
  eof: ["interrupted", "The stream ended without a final event (the connection closed)"],
  interrupted: ["interrupted", "Interrupted: the user's connection closed before the answer ended"],
  cancelled: ["interrupted", "Cancelled before the answer ended"],
  error: ["error", "Ended by an error in the app"],
  capture_error: ["error", "Recording failed; the session ends here"],
};

function endOf(data) {
  const reason = typeof data.reason === "string" ? data.reason : "complete";
  const known = END_REASONS[reason];
  if (!known) return ["complete", "Session complete"];
  const [kind, text] = known;
  const type = typeof data.exception_type === "string" ? ` (${data.exception_type})` : "";
  return [kind, text + (reason === "error" ? type : "")];
}
