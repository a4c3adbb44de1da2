// The timeline: the session laid out by time, not by event number. Idle gaps are
// shaded (and marked "skipped" when the player skips them), the moments worth
// finding are coloured markers with a label on hover, and a click seeks there.
//
// It draws a bounded number of elements whatever the session's size: markers are
// kept one per kind per half-percent of the track, gaps the largest few dozen.

import { el, formatDuration, formatMs, isObject } from "./dom.js";

const BUCKETS = 200; // marker slots per kind across the track
const MAX_GAPS = 40;
const HIT_PX = 7; // how near the pointer must be to a marker to pick it

export const KIND_LABELS = {
  user: "User turn",
  tool: "Tool call",
  error: "Error",
  status: "Status",
  end: "End",
};

export function markerKind(envelope) {
  const data = isObject(envelope.data) ? envelope.data : {};
  if (envelope.type === "error" || (envelope.type === "tool.result" && data.is_error === true)) {
    return "error";
  }
  if (envelope.type === "tool.call") return "tool";
  if (envelope.type === "user.message") return "user";
  if (envelope.type === "status") return "status";
  if (envelope.type === "final") return "end";
  return null;
}

function markerLabel(envelope, kind) {
  const data = isObject(envelope.data) ? envelope.data : {};
  const detail =
    kind === "tool" || (kind === "error" && envelope.type === "tool.result") ? data.name
      : kind === "error" ? data.message
      : kind === "status" ? data.label
      : kind === "user" ? data.text
      : data.reason;
  const text = typeof detail === "string" && detail ? ` · ${detail.replace(/\s+/g, " ").slice(0, 60)}` : "";
  return `${KIND_LABELS[kind]}${text} · ${formatMs(envelope.offset_ms)} · #${envelope.seq}`;
}

// A tick step of 1, 2 or 5 times a power of ten seconds (or minutes) giving 4 to 10 ticks.
function tickStep(duration) {
  const steps = [100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 900000, 1800000, 3600000];
  return steps.find((step) => duration / step <= 10) || Math.ceil(duration / 10 / 3600000) * 3600000;
}

function shortTime(ms, step) {
  const text = formatMs(ms);
  // "0:10.0" → "0:10" when every tick falls on a whole second.
  return step % 1000 === 0 ? text.replace(/\.\d$/, "") : text;
}

export class Timeline {
  constructor(root, { onSeek, onSeekTime }) {
    this.root = root;
    this.track = root.querySelector(".track");
    this.layers = {
      gaps: root.querySelector(".gaps"),
      markers: root.querySelector(".markers"),
      ticks: root.querySelector(".ticks"),
    };
    this.progress = root.querySelector(".progress");
    this.thumb = root.querySelector(".thumb");
    this.tip = root.querySelector(".tip");
    this.label = root.querySelector(".zoom-label");
    this.onSeek = onSeek;
    this.onSeekTime = onSeekTime;
    this.duration = 0;
    // The part of the session the track shows: all of it, or (zoomed) `span` ms from `from`.
    this.from = 0;
    this.span = null;
    this.offsets = [0]; // offsets[seq], for the seqs known so far in order
    this.slots = new Map(); // "kind:bucket" -> {seq, offset, label, node}
    this.skipping = true;
    this.skipAbove = Infinity;
    this.redrawPending = false;
    this.wire();
  }

  // ------------------------------------------------------------ geometry

  get shown() {
    return this.span === null ? this.duration : this.span;
  }

  // Where `ms` falls on the track, 0 to 1 (clamped: use `where` to know if it is shown).
  at(ms) {
    return Math.min(Math.max(this.where(ms), 0), 1);
  }

  where(ms) {
    return this.shown > 0 ? (ms - this.from) / this.shown : 0;
  }

  timeAtX(clientX) {
    const box = this.track.getBoundingClientRect();
    return this.from + this.shown * Math.min(Math.max((clientX - box.left) / box.width, 0), 1);
  }

  // ------------------------------------------------------------ zoom

  // Zoom by `factor` (2 = twice as close) around the playhead; back to the whole
  // session once the window would hold it all.
  zoom(factor) {
    if (this.duration <= 0) return;
    const span = Math.max(this.shown / factor, Math.min(1000, this.duration));
    if (span >= this.duration) {
      this.span = null;
      this.from = 0;
    } else {
      this.span = span;
      this.from = this.clampFrom((this.positionMs ?? 0) - span / 2);
    }
    this.label.textContent = this.span === null ? "whole session" : `${formatDuration(this.span)} shown`;
    this.root.dataset.zoomed = String(this.span !== null);
    this.draw();
  }

  clampFrom(from) {
    return Math.min(Math.max(from, 0), Math.max(this.duration - this.shown, 0));
  }

  // ------------------------------------------------------------ data

  setDuration(ms) {
    const duration = Number.isFinite(ms) && ms > 0 ? ms : 0;
    if (duration <= this.duration) return;
    this.duration = duration;
    this.redraw();
  }

  setSkipping(on, capMs) {
    this.skipping = on;
    this.skipAbove = capMs;
    this.redraw();
  }

  add(envelope) {
    const offset = Number.isFinite(envelope.offset_ms) ? envelope.offset_ms : 0;
    if (envelope.seq === this.offsets.length) this.offsets.push(offset);
    if (offset > this.duration) this.duration = offset;
    this.redraw(); // the gaps (and, past the end, the scale) change
    const kind = markerKind(envelope);
    if (!kind) return;
    const bucket = Math.round((this.duration > 0 ? offset / this.duration : 0) * BUCKETS);
    const key = `${kind}:${bucket}`;
    if (this.slots.has(key)) return;
    const slot = { kind, seq: envelope.seq, offset, label: markerLabel(envelope, kind), node: null };
    this.slots.set(key, slot);
    this.place(slot);
  }

  // The latest seq at or before `ms`, from the events known so far (0 before the first).
  seqAt(ms) {
    let low = 0;
    let high = this.offsets.length - 1;
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (this.offsets[mid] <= ms) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  // The next marker after `seq` (dir 1) or the one before it (dir -1), as a seq; null if none.
  markerFrom(seq, dir) {
    let best = null;
    for (const slot of this.slots.values()) {
      if (dir > 0 ? slot.seq > seq && (best === null || slot.seq < best) : slot.seq < seq && (best === null || slot.seq > best)) {
        best = slot.seq;
      }
    }
    return best;
  }

  offsetOf(seq) {
    return this.offsets[seq];
  }

  // ------------------------------------------------------------ drawing

  place(slot) {
    if (!slot.node) {
      slot.node = el("span", `marker m-${slot.kind}`);
      this.layers.markers.append(slot.node);
    }
    const where = this.where(slot.offset);
    slot.node.hidden = where < 0 || where > 1;
    slot.node.style.setProperty("--at", String(where));
  }

  redraw() {
    // Many events can move the end in one frame: draw once per frame.
    if (this.redrawPending) return;
    this.redrawPending = true;
    requestAnimationFrame(() => {
      this.redrawPending = false;
      this.draw();
    });
  }

  draw() {
    for (const slot of this.slots.values()) this.place(slot);
    this.drawTicks();
    this.drawGaps();
    this.setPosition(this.positionMs ?? 0, this.positionSeq ?? 0);
  }

  drawTicks() {
    const ticks = [];
    if (this.duration > 0) {
      const step = tickStep(this.shown);
      const end = this.from + this.shown;
      for (let ms = Math.ceil(this.from / step) * step; ms <= end + 1; ms += step) {
        const tick = el("span", "tick", shortTime(ms, step));
        tick.style.setProperty("--at", String(this.at(ms)));
        ticks.push(tick);
      }
    }
    this.layers.ticks.replaceChildren(...ticks);
  }

  // Idle gaps: waits longer than what "skip idle gaps" plays, and long enough to see.
  drawGaps() {
    const least = Math.max(Number.isFinite(this.skipAbove) ? this.skipAbove : 1500, this.duration * 0.02);
    const gaps = [];
    let latest = 0;
    for (let seq = 1; seq < this.offsets.length; seq += 1) {
      const offset = this.offsets[seq];
      if (offset - latest > least && seq > 1) gaps.push([latest, offset]);
      latest = Math.max(latest, offset);
    }
    gaps.sort((a, b) => b[1] - b[0] - (a[1] - a[0]));
    const shown = gaps.filter(([from, to]) => this.where(to) > 0 && this.where(from) < 1);
    const nodes = shown.slice(0, MAX_GAPS).map(([from, to]) => {
      const gap = el("span", "gap");
      gap.style.setProperty("--at", String(this.at(from)));
      gap.style.setProperty("--width", String(this.at(to) - this.at(from)));
      const idle = formatDuration(to - from);
      gap.dataset.label = this.skipping ? `idle ${idle} · skipped` : `idle ${idle}`;
      gap.classList.toggle("skipped", this.skipping);
      if (this.at(to) - this.at(from) > 0.08) gap.append(el("span", "gap-label", gap.dataset.label));
      return gap;
    });
    this.layers.gaps.replaceChildren(...nodes);
  }

  setPosition(ms, seq) {
    this.positionMs = ms;
    this.positionSeq = seq;
    if (this.span !== null && (ms < this.from || ms > this.from + this.span)) {
      // Zoomed in: the window follows the playhead, a page at a time.
      this.from = this.clampFrom(ms - this.span * 0.1);
      this.redraw();
    }
    const at = this.at(ms);
    this.progress.style.setProperty("--at", String(at));
    this.thumb.style.setProperty("--at", String(at));
    this.track.setAttribute("aria-valuemax", String(Math.round(this.duration)));
    this.track.setAttribute("aria-valuenow", String(Math.round(ms)));
    this.track.setAttribute("aria-valuetext", `${formatMs(ms)} of ${formatMs(this.duration)}, event ${seq}`);
  }

  // ------------------------------------------------------------ pointer

  nearest(clientX) {
    const box = this.track.getBoundingClientRect();
    let best = null;
    let bestDistance = HIT_PX + 1;
    for (const slot of this.slots.values()) {
      if (slot.node.hidden) continue;
      const distance = Math.abs(box.left + this.at(slot.offset) * box.width - clientX);
      if (distance < bestDistance) {
        best = slot;
        bestDistance = distance;
      }
    }
    return best;
  }

  showTip(clientX) {
    const slot = this.nearest(clientX);
    const ms = slot ? slot.offset : this.timeAtX(clientX);
    this.tip.textContent = slot ? slot.label : formatMs(ms);
    this.tip.dataset.kind = slot ? slot.kind : "";
    this.tip.hidden = false;
    const box = this.track.getBoundingClientRect();
    const x = box.left + this.at(ms) * box.width;
    const half = this.tip.offsetWidth / 2;
    const left = Math.min(Math.max(x - box.left - half, -box.left + 4), window.innerWidth - box.left - 2 * half - 4);
    this.tip.style.setProperty("--left", `${left}px`);
    return slot;
  }

  wire() {
    const track = this.track;
    track.addEventListener("pointermove", (event) => this.showTip(event.clientX));
    track.addEventListener("pointerleave", () => {
      this.tip.hidden = true;
    });
    this.root.querySelector(".zoom-in").addEventListener("click", () => this.zoom(2));
    this.root.querySelector(".zoom-out").addEventListener("click", () => this.zoom(0.5));
    track.addEventListener("click", (event) => {
      const slot = this.nearest(event.clientX);
      if (slot) this.onSeek(slot.seq);
      else this.onSeekTime(this.timeAtX(event.clientX));
    });
  }
}
