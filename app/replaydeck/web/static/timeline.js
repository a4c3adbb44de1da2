// Marks on the timeline for the moments worth finding: tool calls, errors, the end.

import { el, isObject } from "./dom.js";

function markerKind(envelope) {
  const data = isObject(envelope.data) ? envelope.data : {};
  if (envelope.type === "error" || (envelope.type === "tool.result" && data.is_error === true)) {
    return "error";
  }
  if (envelope.type === "tool.call") return "tool";
  if (envelope.type === "final") return "final";
  return null;
}

export class TimelineMarkers {
  constructor(container) {
    this.container = container;
    this.markers = new Map(); // seq -> element
    this.lastSeq = 0;
  }

  setLastSeq(lastSeq) {
    if (lastSeq === this.lastSeq) return;
    this.lastSeq = lastSeq;
    for (const [seq, marker] of this.markers) this.place(seq, marker);
  }

  add(envelope) {
    const kind = markerKind(envelope);
    if (!kind || this.markers.has(envelope.seq)) return;
    const marker = el("span", `marker m-${kind}`);
    this.markers.set(envelope.seq, marker);
    this.container.append(marker);
    this.place(envelope.seq, marker);
  }

  place(seq, marker) {
    marker.style.setProperty("--at", String(this.lastSeq > 0 ? seq / this.lastSeq : 0));
  }
}
