// HTTP for the viewer: JSON reads and the replay's event stream, with problem+json
// errors turned into HttpError(status, detail).

export class HttpError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

export const KEY_STORAGE = "replaydeck.apiKey";
let sendKey = false;

// Key holders' pages send the API key kept in this tab's sessionStorage; share
// links never send one (the token in the path is the whole credential).
export function useApiKey(on) {
  sendKey = on;
}

function requestHeaders(accept) {
  const headers = new Headers({ Accept: accept });
  if (sendKey) {
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers.set("Authorization", `Bearer ${key}`);
  }
  return headers;
}

export async function request(url, signal, accept = "application/json", { method = "GET", json } = {}) {
  let response;
  const headers = requestHeaders(accept);
  if (json !== undefined) headers.set("Content-Type", "application/json");
  try {
    response = await fetch(url, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
      signal,
      cache: "no-store",
      credentials: "same-origin",
      referrerPolicy: "no-referrer",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new HttpError(0, "The server could not be reached.");
  }
  if (!response.ok) {
    let detail = "";
    try {
      const problem = await response.json();
      detail = problem.detail || problem.title || "";
    } catch {
      // Not a problem+json body (a proxy's error page, say): the status says enough.
    }
    throw new HttpError(response.status, detail);
  }
  return response;
}

export const getJson = async (url, signal) => (await request(url, signal)).json();

export const postJson = async (url, json) =>
  (await request(url, undefined, "application/json", { method: "POST", json })).json();

export function withQuery(url, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) query.set(name, String(value));
  }
  return `${url}${url.includes("?") ? "&" : "?"}${query}`;
}

// ---------------------------------------------------------------- SSE
// EventSource cannot send an Authorization header, so the replay is read with
// fetch() and this small parser of the WHATWG event-stream format instead.

class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.reset();
  }

  reset() {
    this.data = [];
    this.type = "";
    this.id = null;
  }

  push(chunk) {
    this.buffer += chunk;
    const newline = /\r\n|\r|\n/g;
    let start = 0;
    let match;
    while ((match = newline.exec(this.buffer)) !== null) {
      // A lone trailing \r may be the first half of a \r\n split across chunks.
      if (match[0] === "\r" && match.index === this.buffer.length - 1) break;
      this.line(this.buffer.slice(start, match.index));
      start = newline.lastIndex;
    }
    this.buffer = this.buffer.slice(start);
  }

  line(text) {
    if (text === "") return this.dispatch();
    if (text.startsWith(":")) return undefined; // a comment: keep-alive
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) this.id = value;
    return undefined;
  }

  dispatch() {
    if (this.data.length > 0) {
      this.onEvent({ type: this.type || "message", id: this.id, data: this.data.join("\n") });
    }
    this.reset();
  }
}

export async function streamSse(url, signal, onEvent) {
  const response = await request(url, signal, "text/event-stream");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser(onEvent);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    parser.push(value);
  }
}
