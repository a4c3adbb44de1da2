// replaydeck replay viewer. Plain DOM, no build step, no dependencies.
// Event data is untrusted (it comes from whatever app was recorded): it only ever
// reaches the page through textContent and attribute-free text nodes, never innerHTML.
"use strict";

(() => {
  const body = document.body;
  const config = {
    base: body.dataset.base,
    sessionUrl: body.dataset.sessionUrl,
    mode: body.dataset.mode === "key" ? "key" : "share",
  };
  const KEY_STORAGE = "replaydeck.apiKey";
  const PAGE_SIZE = 500;
  // "Skip idle gaps" caps every wait at this long, so minutes of thinking time play
  // as a short pause that is still visible.
  const MAX_GAP_MS = 1500;

  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function formatMs(ms) {
    if (!Number.isFinite(ms) || ms < 0) ms = 0;
    const tenths = Math.floor(ms / 100);
    const minutes = Math.floor(tenths / 600);
    const seconds = ((tenths % 600) / 10).toFixed(1).padStart(4, "0");
    return `${minutes}:${seconds}`;
  }

  function formatDuration(ms) {
    if (!Number.isFinite(ms)) return "—";
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    const minutes = Math.floor(ms / 60000);
    const seconds = Math.round((ms % 60000) / 1000);
    return `${minutes} min ${seconds} s`;
  }

  function pretty(value) {
    if (value === undefined) return "";
    if (typeof value === "string") return value;
    try {
      return JSON.stringify(value, null, 2);
    } catch {
      return String(value);
    }
  }

  function oneLine(value, max) {
    let text;
    try {
      text = typeof value === "string" ? value : JSON.stringify(value);
    } catch {
      text = String(value);
    }
    text = (text || "").replace(/\s+/g, " ");
    return text.length > max ? `${text.slice(0, max - 1)}…` : text;
  }

  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

  // ---------------------------------------------------------------- HTTP

  class HttpError extends Error {
    constructor(status, detail) {
      super(detail || `HTTP ${status}`);
      this.status = status;
      this.detail = detail;
    }
  }

  function requestHeaders(accept) {
    const headers = new Headers({ Accept: accept });
    if (config.mode === "key") {
      const key = sessionStorage.getItem(KEY_STORAGE);
      if (key) headers.set("Authorization", `Bearer ${key}`);
    }
    return headers;
  }

  async function request(url, signal, accept = "application/json") {
    let response;
    try {
      response = await fetch(url, {
        headers: requestHeaders(accept),
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

  const getJson = async (url, signal) => (await request(url, signal)).json();

  function withQuery(url, params) {
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

  async function streamSse(url, signal, onEvent) {
    const response = await request(url, signal, "text/event-stream");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser(onEvent);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.push(value);
    }
  }

  // ---------------------------------------------------------------- transcript
  // Turns envelopes into what the app's user saw. Rendering is incremental: every
  // envelope is applied once, in seq order; seeking backwards starts over.

  class Transcript {
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
      this.itemBySeq = new Map();
      this.openBubble = null;
      this.selected = null;
    }

    item(envelope, kind) {
      const node = el("li", `item ${kind}`);
      node.dataset.seq = String(envelope.seq);
      this.list.append(node);
      this.itemBySeq.set(envelope.seq, node);
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
        node.append(el("div", "who", "Assistant"));
        const text = el("div", "text");
        text.append(document.createTextNode(""));
        node.append(text);
        bubble = { node, text: text.firstChild };
        if (messageId !== null) this.messages.set(messageId, bubble);
      }
      bubble.text.appendData(data.text);
      bubble.node.dataset.seq = String(envelope.seq);
      this.itemBySeq.set(envelope.seq, bubble.node);
      this.openBubble = bubble;
      this.typing(bubble.node);
    }

    typing(node) {
      for (const other of this.list.querySelectorAll(".typing")) {
        if (other !== node) other.classList.remove("typing");
      }
      node.classList.add("typing");
    }

    stopTyping() {
      for (const node of this.list.querySelectorAll(".typing")) node.classList.remove("typing");
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
      this.itemBySeq.set(envelope.seq, card.node);
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
      const node = this.item(envelope, "final");
      const parts = ["Session complete"];
      if (isObject(data.usage)) {
        for (const [key, value] of Object.entries(data.usage)) {
          if (typeof value === "number" || typeof value === "string") {
            parts.push(`${key.replace(/_/g, " ")}: ${value}`);
          }
        }
      }
      node.textContent = parts.join(" · ");
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
      this.selected = this.itemBySeq.get(seq) || null;
      if (this.selected) this.selected.classList.add("selected");
      return this.selected;
    }
  }

  // ---------------------------------------------------------------- inspector

  class Inspector {
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
      const row = el("li");
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

    show(envelope) {
      if (this.selectedRow) this.selectedRow.removeAttribute("aria-current");
      this.selectedRow = envelope ? this.rows.get(envelope.seq) || null : null;
      if (this.selectedRow) {
        this.selectedRow.setAttribute("aria-current", "true");
        this.selectedRow.scrollIntoView({ block: "nearest" });
      }
      this.raw.textContent = envelope ? JSON.stringify(envelope, null, 2) : "";
      this.title.textContent = envelope ? `Event #${envelope.seq} · ${envelope.type}` : "No event selected";
      this.link.hidden = !envelope;
      if (envelope) this.link.href = momentHref(envelope.seq);
    }
  }

  function momentHref(seq) {
    const url = new URL(window.location.href);
    url.searchParams.set("at", String(seq));
    return `${url.pathname}${url.search}`;
  }

  // ---------------------------------------------------------------- player

  const player = {
    session: null,
    known: new Map(), // seq -> envelope, from the replay stream and from /events pages
    contiguous: 0, // every seq in 1..contiguous is known
    lastSeq: 0,
    position: 0, // the last seq rendered
    speed: "1",
    state: "loading",
    controller: null,
    generation: 0,
    markers: new Map(),
  };

  let transcript;
  let inspector;

  function setState(state) {
    player.state = state;
    body.dataset.state = state;
    const play = $("play");
    const playing = state === "playing";
    play.textContent = playing ? "Pause" : state === "ended" ? "Replay" : "Play";
    play.setAttribute("aria-label", play.textContent);
    play.classList.toggle("is-playing", playing);
    if (!playing) transcript.stopTyping();
  }

  function remember(envelope) {
    if (!Number.isInteger(envelope.seq) || envelope.seq < 1) return;
    player.known.set(envelope.seq, envelope);
    while (player.known.has(player.contiguous + 1)) player.contiguous += 1;
    if (envelope.seq > player.lastSeq) {
      player.lastSeq = envelope.seq;
      $("scrub").max = String(player.lastSeq);
      placeMarkers();
    }
    addMarker(envelope);
  }

  function markerKind(envelope) {
    const data = isObject(envelope.data) ? envelope.data : {};
    if (envelope.type === "error" || (envelope.type === "tool.result" && data.is_error === true)) {
      return "error";
    }
    if (envelope.type === "tool.call") return "tool";
    if (envelope.type === "final") return "final";
    return null;
  }

  function addMarker(envelope) {
    const kind = markerKind(envelope);
    if (!kind || player.markers.has(envelope.seq)) return;
    const marker = el("span", `marker m-${kind}`);
    player.markers.set(envelope.seq, marker);
    $("markers").append(marker);
    placeMarker(envelope.seq, marker);
  }

  function placeMarker(seq, marker) {
    const fraction = player.lastSeq > 0 ? seq / player.lastSeq : 0;
    marker.style.setProperty("--at", String(fraction));
  }

  function placeMarkers() {
    for (const [seq, marker] of player.markers) placeMarker(seq, marker);
  }

  function apply(envelope) {
    transcript.add(envelope);
    inspector.add(envelope);
    player.position = envelope.seq;
  }

  function showPosition() {
    const seq = player.position;
    body.dataset.position = String(seq);
    $("scrub").value = String(seq);
    $("position").textContent = `seq ${seq} / ${player.lastSeq}`;
    const current = player.known.get(seq);
    const offset = current ? current.offset_ms : 0;
    const duration = player.session && Number.isFinite(player.session.duration_ms)
      ? player.session.duration_ms
      : (player.known.get(player.lastSeq) || {}).offset_ms;
    $("clock").textContent = `${formatMs(offset)} / ${formatMs(duration)}`;
    $("moment-link").href = momentHref(seq);
    $("empty").hidden = seq > 0;
  }

  function followScroll() {
    const doc = document.scrollingElement;
    // Only follow the text when the reader is already at the bottom: never pull
    // someone away from the part they scrolled up to read.
    if (doc.scrollHeight - doc.scrollTop - doc.clientHeight < 160) {
      doc.scrollTop = doc.scrollHeight;
    }
  }

  function renderUpTo(target) {
    if (target < player.position) {
      transcript.reset();
      inspector.reset();
      player.position = 0;
    }
    while (player.position < target && player.known.has(player.position + 1)) {
      apply(player.known.get(player.position + 1));
    }
    showPosition();
  }

  async function ensureKnown(target, signal) {
    while (player.contiguous < target) {
      const page = await getJson(
        withQuery(`${config.base}/events`, { after: player.contiguous, limit: PAGE_SIZE }),
        signal,
      );
      const events = Array.isArray(page.events) ? page.events : [];
      const before = player.contiguous;
      for (const envelope of events) remember(envelope);
      if (events.length === 0 || page.next_after === null || player.contiguous === before) return;
    }
  }

  function stop() {
    player.generation += 1;
    if (player.controller) player.controller.abort();
    player.controller = null;
  }

  function select(seq) {
    const envelope = player.known.get(seq);
    if (!envelope || seq > player.position) return;
    inspector.show(envelope);
    transcript.select(seq);
  }

  function updateAddress(seq) {
    const url = new URL(window.location.href);
    if (seq > 0) url.searchParams.set("at", String(seq));
    else url.searchParams.delete("at");
    history.replaceState(null, "", url);
  }

  function atEnd() {
    const complete = player.session && player.session.status !== "open";
    return complete && player.position >= player.lastSeq && player.lastSeq > 0;
  }

  async function seek(target, { resume = player.state === "playing", reveal = false } = {}) {
    stop();
    const generation = player.generation;
    const controller = new AbortController();
    player.controller = controller;
    try {
      await ensureKnown(target, controller.signal);
    } catch (error) {
      if (generation === player.generation) failed(error, "The events before this moment");
      return;
    }
    if (generation !== player.generation) return;
    renderUpTo(Math.min(target, player.contiguous));
    select(player.position);
    updateAddress(player.position);
    if (reveal && transcript.selected) transcript.selected.scrollIntoView({ block: "center" });
    if (resume && !atEnd()) play();
    else setState(atEnd() ? "ended" : "paused");
  }

  function replayUrl() {
    return withQuery(`${config.base}/replay`, {
      speed: player.speed,
      from: player.position + 1,
      max_gap_ms: $("skip-gaps").checked ? MAX_GAP_MS : undefined,
    });
  }

  async function play() {
    if (player.state === "ended" || atEnd()) renderUpTo(0);
    stop();
    const generation = player.generation;
    const controller = new AbortController();
    player.controller = controller;
    setState("playing");
    let ended = false;
    try {
      await streamSse(replayUrl(), controller.signal, (frame) => {
        if (generation !== player.generation) return;
        if (frame.type === "replay.end") {
          ended = true;
          return;
        }
        let envelope;
        try {
          envelope = JSON.parse(frame.data);
        } catch {
          return; // not an envelope; nothing sensible to draw
        }
        if (!Number.isInteger(envelope.seq) || envelope.seq <= player.position) return;
        remember(envelope);
        renderUpTo(envelope.seq);
        followScroll();
      });
    } catch (error) {
      if (error.name === "AbortError" || generation !== player.generation) return;
      failed(error, "The replay");
      return;
    }
    if (generation !== player.generation) return;
    player.controller = null;
    if (!ended) {
      notice("The replay stopped early", "The connection closed before the end. Press Play to continue from here.", { soft: true });
    }
    setState(ended ? "ended" : "paused");
    select(player.position);
    updateAddress(player.position);
  }

  function pause() {
    stop();
    setState("paused");
    select(player.position);
    updateAddress(player.position);
  }

  // ---------------------------------------------------------------- notices

  function notice(title, text, { soft = false, keyForm = false, retry = false } = {}) {
    $("notice").hidden = false;
    $("notice").classList.toggle("soft", soft);
    $("notice-title").textContent = title;
    $("notice-text").textContent = text;
    $("key-form").hidden = !keyForm;
    $("retry").hidden = !retry;
    if (keyForm) $("key-input").focus();
  }

  function clearNotice() {
    $("notice").hidden = true;
  }

  function failed(error, what) {
    if (!(error instanceof HttpError)) {
      notice("Something went wrong", `${what} could not be shown: ${error.message}`, { retry: true });
    } else if (error.status === 0) {
      notice("Could not reach replaydeck", `${what} could not be loaded: check your connection, then try again.`, { retry: true });
    } else if (error.status === 401 || error.status === 403) {
      if (config.mode === "key") {
        sessionStorage.removeItem(KEY_STORAGE);
        notice(
          error.status === 401 ? "An API key is needed" : "This key cannot read sessions",
          error.status === 401
            ? "This server only shows sessions to key holders. Enter a key with the read scope."
            : "The key was accepted but lacks the read scope. Enter a key with the read scope.",
          { keyForm: true },
        );
      } else {
        linkInvalid();
      }
    } else if (error.status === 404) {
      if (config.mode === "key") {
        notice("Session not found", "No session with this id is stored on this server; it may have been deleted.");
      } else {
        linkInvalid();
      }
    } else {
      const detail = error.detail ? ` The server said: ${error.detail}` : "";
      notice("Something went wrong", `${what} could not be loaded (HTTP ${error.status}).${detail}`, { retry: true });
    }
    if (player.session) setState("paused");
    else setState("error");
  }

  function linkInvalid() {
    $("title").textContent = "Replay unavailable";
    notice(
      "This replay link is not valid",
      "It may have expired or been revoked, or part of it was lost when it was copied. Ask whoever shared it for a new link.",
    );
  }

  // ---------------------------------------------------------------- session header

  function showSession(session) {
    const metadata = isObject(session.metadata) ? session.metadata : {};
    const name = [metadata.title, metadata.name].find((v) => typeof v === "string" && v);
    const title = name || `Session ${session.id}`;
    $("title").textContent = title;
    document.title = `${title} · replaydeck`;
    const badge = $("status-badge");
    badge.hidden = typeof session.status !== "string";
    badge.textContent = session.status || "";
    badge.dataset.status = session.status || "";

    $("facts").hidden = false;
    $("fact-duration").textContent = formatDuration(session.duration_ms);
    $("fact-events").textContent = String(session.event_count ?? "—");
    const started = session.first_ts || session.created_at;
    const date = started ? new Date(started) : null;
    $("fact-started").textContent = date && !Number.isNaN(date.getTime()) ? date.toLocaleString() : "—";
    if (started) $("fact-started").title = started;

    const jaeger = typeof session.jaeger_url === "string" ? session.jaeger_url : "";
    // Only http(s): a configured URL still must never become a javascript: link.
    const jaegerOk = /^https?:\/\//i.test(jaeger);
    $("fact-trace-row").hidden = !jaegerOk;
    if (jaegerOk) $("jaeger-link").href = jaeger;

    const entries = Object.entries(metadata);
    $("metadata").hidden = entries.length === 0;
    const list = $("metadata-list");
    list.replaceChildren();
    for (const [key, value] of entries) {
      const row = el("div");
      row.append(el("dt", null, key), el("dd", null, typeof value === "string" ? value : oneLine(value, 400)));
      list.append(row);
    }
  }

  async function load() {
    stop();
    setState("loading");
    let session;
    try {
      session = await getJson(config.sessionUrl);
    } catch (error) {
      failed(error, "The session");
      return;
    }
    clearNotice();
    player.session = session;
    showSession(session);
    if (Number.isInteger(session.last_seq) && session.last_seq > player.lastSeq) {
      player.lastSeq = session.last_seq;
      $("scrub").max = String(player.lastSeq);
    }
    $("player").hidden = false;
    $("stage").hidden = false;
    setState("paused");
    showPosition();
    const at = Number.parseInt(new URL(window.location.href).searchParams.get("at") || "", 10);
    if (Number.isInteger(at) && at > 0) {
      await seek(at, { resume: false, reveal: true });
    } else if (player.lastSeq > 0 && player.lastSeq <= 2000) {
      // Small sessions: fetch the log up front so the timeline shows tool calls and
      // errors before playing. Failure here only costs the markers.
      ensureKnown(player.lastSeq).catch(() => {});
    }
  }

  // ---------------------------------------------------------------- wiring

  function wire() {
    transcript = new Transcript($("transcript"), select);
    inspector = new Inspector(select);

    $("play").addEventListener("click", () => {
      if (player.state === "playing") pause();
      else if (player.session) play();
    });

    for (const button of document.querySelectorAll("[data-speed]")) {
      button.addEventListener("click", () => {
        player.speed = button.dataset.speed;
        for (const other of document.querySelectorAll("[data-speed]")) {
          other.setAttribute("aria-checked", String(other === button));
        }
        if (player.state === "playing") play();
      });
    }

    $("skip-gaps").addEventListener("change", () => {
      if (player.state === "playing") play();
    });

    const scrub = $("scrub");
    scrub.addEventListener("input", () => {
      $("position").textContent = `seq ${scrub.value} / ${player.lastSeq}`;
    });
    scrub.addEventListener("change", () => seek(Number(scrub.value)));

    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key-input").value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY_STORAGE, key);
      $("key-input").value = "";
      load();
    });

    $("retry").addEventListener("click", () => {
      clearNotice();
      if (player.session) seek(player.position, { resume: false });
      else load();
    });

    document.addEventListener("keydown", (event) => {
      // Space toggles play when focus is not in a control that uses it itself.
      if (event.key !== " " || event.target !== body || !player.session) return;
      event.preventDefault();
      $("play").click();
    });
  }

  wire();
  load();
})();
