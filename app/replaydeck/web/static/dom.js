// Small DOM and formatting helpers shared by the viewer modules.
// Untrusted text only ever enters the page through el(..., text), i.e. textContent.

export const $ = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// The clock, m:ss.t (h:mm:ss.t past an hour), rounded to the tenth as durations are.
export function formatMs(ms) {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const tenths = Math.round(ms / 100);
  const hours = Math.floor(tenths / 36000);
  const minutes = Math.floor((tenths % 36000) / 600);
  const seconds = ((tenths % 600) / 10).toFixed(1).padStart(4, "0");
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

// A duration in words: "850 ms", "12.3 s", "4 min 5 s", "2 h 0 min". Each unit is
// rounded once, from the whole, so no "60 s" or "60 min" is ever shown.
export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (Math.round(ms) < 1000) return `${Math.round(ms)} ms`;
  if (Math.round(ms / 100) < 600) return `${(Math.round(ms / 100) / 10).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  const minutes = Math.round(ms / 60000);
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function pretty(value) {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

export function oneLine(value, max) {
  let text;
  try {
    text = typeof value === "string" ? value : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  text = (text || "").replace(/\s+/g, " ");
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

export function momentHref(seq) {
  const url = new URL(window.location.href);
  url.searchParams.set("at", String(seq));
  return `${url.pathname}${url.search}`;
}

// ?at= is a seq ("42") or a time: "12.5s", "850ms", "1:02.5" (m:ss) or "1:02:03".
// Anything else is ignored, so a mangled link still opens the session.
export function parseAt(raw) {
  if (/^[0-9]{1,16}$/.test(raw)) return { seq: Number(raw), ms: null };
  let match = /^([0-9]{1,9}(?:\.[0-9]+)?)(ms|s)$/.exec(raw);
  if (match) return { seq: 0, ms: Number(match[1]) * (match[2] === "s" ? 1000 : 1) };
  match = /^(?:([0-9]{1,6}):)?([0-9]{1,6}):([0-5]?[0-9](?:\.[0-9]+)?)$/.exec(raw);
  if (match) {
    const [hours, minutes, seconds] = [Number(match[1] || 0), Number(match[2]), Number(match[3])];
    return { seq: 0, ms: ((hours * 60 + minutes) * 60 + seconds) * 1000 };
  }
  return { seq: 0, ms: null };
}
