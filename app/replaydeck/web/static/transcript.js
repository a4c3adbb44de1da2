import { el, formatDuration, isObject, oneLine, pretty } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

const TEXT_PARTS = new Set(["text", "input_text"]);

// Turns envelopes into what the app's user saw. Rendering is incremental: every
// envelope is applied once, in seq order; seeking backwards starts over.

export class Transcript {
  constructor(list, onSelect) {
    this.list = list;
    this.onSelect = onSelect;
    list.addEventListener("click", (event) => {
      const item = event.target.closest("[data-seq]");
      if (item && !event.target.closest("summary")) this.onSelect(Number(item.dataset.seq));
    });
    this.reset();
  }

  reset() {
    this.list.replaceChildren();
    this.messages = new Map();
    this.tools = new Map();
    // seq -> its item; an array, filled in seq order, is far cheaper than a Map
    // of 20,000 entries rebuilt on every backward seek.
    this.itemBySeq = [];
    this.openBubble = null;
    this.selected = null;
    this.typingNode = null;
    this.dirty = new Set(); // bubbles whose text grew since they were last drawn
  }

  item(envelope, kind) {
    const node = el("li", `item ${kind}`);
    node.dataset.seq = String(envelope.seq);
    this.list.append(node);
    this.itemBySeq[envelope.seq] = node;
    this.openBubble = null;
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
      const node = this.item(envelope, "message");
      const text = el("div", "text md");
      node.append(el("div", "who", "Assistant"), text);
      bubble = { node, text, source: "", drawn: { blocks: [] } };
      if (messageId !== null) this.messages.set(messageId, bubble);
    }
    bubble.source += data.text;
    bubble.seq = envelope.seq; // written to the node when drawn, not once per delta
    this.dirty.add(bubble);
    this.itemBySeq[envelope.seq] = bubble.node;
    this.openBubble = bubble;
    this.typing(bubble.node);
  }

  // Markdown is drawn once per frame (or once after a seek), not once per delta:
  // a delta of a few characters would otherwise re-parse the message each time.
  flush() {
    for (const bubble of this.dirty) {
      renderMarkdown(bubble.text, bubble.source, bubble.drawn);
      bubble.node.dataset.seq = String(bubble.seq);
    }
    this.dirty.clear();
  }

  // The caret marks the message being typed; tracked rather than queried, because a
  // query per delta would make a long session quadratic.
  typing(node) {
    if (this.typingNode === node) return;
    this.stopTyping();
    node.classList.add("typing");
    this.typingNode = node;
  }

  stopTyping() {
    if (this.typingNode) this.typingNode.classList.remove("typing");
    this.typingNode = null;
  }

  // What the user sent: their words, and any other parts (images, files) as JSON.
  userMessage(envelope, data) {
    this.stopTyping();
    const node = this.item(envelope, "prompt");
    node.append(el("div", "who", "User"), el("div", "text", data.text));
    const parts = Array.isArray(data.content) ? data.content : [];
    const attached = parts.filter((part) => !(isObject(part) && TEXT_PARTS.has(part.type)));
    if (attached.length > 0) {
      const details = el("details");
      const label = attached.length === 1 ? "1 attachment" : `${attached.length} attachments`;
      details.append(el("summary", null, label), el("pre", "json", pretty(attached)));
      node.append(details);
    }
  }

  status(envelope, data) {
    const node = this.item(envelope, "status");
    node.append(el("span", "dot"), el("span", "label", data.label));
  }

  toolCall(envelope, data) {
    const node = this.item(envelope, "tool pending");
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
    const callId = typeof data.call_id === "string" ? data.call_id : `#${envelope.seq}`;
    this.tools.set(callId, { node, result, state: summary.lastChild, offset: envelope.offset_ms });
  }

  toolResult(envelope, data) {
    const callId = typeof data.call_id === "string" ? data.call_id : null;
    let card = callId !== null ? this.tools.get(callId) : undefined;
    if (!card) {
      // A result whose call is not in the log (or not yet in view): show it on its own.
      this.toolCall({ ...envelope }, { name: data.name, args: {}, call_id: callId ?? undefined });
      card = this.tools.get(callId ?? `#${envelope.seq}`);
    }
    const failed = data.is_error === true;
    card.node.classList.remove("pending");
    card.node.classList.add(failed ? "failed" : "done");
    const took = envelope.offset_ms - card.offset;
    card.state.textContent =
      (failed ? "failed" : "done") + (Number.isFinite(took) ? ` · ${formatDuration(took)}` : "");
    card.result.replaceChildren(
      el("h3", null, failed ? "Error result" : "Result"),
      el("pre", "json", pretty(data.result)),
    );
    card.node.dataset.seq = String(envelope.seq);
    this.itemBySeq[envelope.seq] = card.node;
  }

  error(envelope, data) {
    const node = this.item(envelope, "error");
    node.setAttribute("role", "note");
    const head = el("div", "error-head");
    head.append(el("strong", null, "Error"));
    if (data.code !== undefined && data.code !== null) head.append(el("code", null, String(data.code)));
    node.append(head, el("p", null, typeof data.message === "string" ? data.message : pretty(data)));
  }

  final(envelope, data) {
    const [kind, text] = endOf(data);
    const node = this.item(envelope, `final end-${kind}`);
    const parts = [text];
    if (isObject(data.usage)) {
      for (const [key, value] of Object.entries(data.usage)) {
        if (typeof value === "number" || typeof value === "string") {
          parts.push(`${key.replace(/_/g, " ")}: ${value}`);
        }
      }
    }
    node.textContent = parts.join(" · ");
  }

  // The replay ended without a final: the producer went quiet (an abandoned session).
  abandoned() {
    this.stopTyping();
    if (this.list.querySelector(".end-abandoned")) return;
    const node = el("li", "item final end-abandoned", "The session did not finish: its producer stopped sending events before the final one");
    this.list.append(node);
    this.openBubble = null;
  }

  custom(envelope) {
    const node = this.item(envelope, "custom");
    const details = el("details");
    const summary = el("summary");
    summary.append(el("code", null, String(envelope.type)), el("span", "tool-preview", oneLine(envelope.data, 80)));
    details.append(summary, el("pre", "json", pretty(envelope.data)));
    node.append(details);
  }

  select(seq) {
    if (this.selected) this.selected.classList.remove("selected");
    this.selected = this.itemBySeq[seq] || null;
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
