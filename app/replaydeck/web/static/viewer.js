// replaydeck replay viewer: plays a session through its replay endpoint as the
// app's user saw it. Plain DOM and ES modules, no build step, no dependencies.
// Event data is untrusted (it comes from whatever app was recorded): it reaches the
// page only through textContent (see dom.js), never innerHTML.

import { wireActions } from "./actions.js";
import { $, formatMs, momentHref } from "./dom.js";
import { clearNotice, explainFailure, notice, onKeyEntered, showSession } from "./header.js";
import { getJson, HttpError, KEY_STORAGE, streamSse, useApiKey, withQuery } from "./http.js";
import { Inspector } from "./inspector.js";
import { TimelineMarkers } from "./timeline.js";
import { Transcript } from "./transcript.js";

const body = document.body;
const config = {
  base: body.dataset.base,
  sessionUrl: body.dataset.sessionUrl,
  mode: body.dataset.mode === "key" ? "key" : "share",
};
const PAGE_SIZE = 500;
// "Skip idle gaps" caps every wait at this long, so minutes of thinking time play
// as a short pause that is still visible.
const MAX_GAP_MS = 1500;

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
  scrubbing: false, // the reader holds the timeline thumb: do not move it under them
  viewPending: false,
  afterKey: null, // what to do once the key form is sent (default: load the session)
};

let transcript;
let inspector;
let markers;

function setState(state) {
  player.state = state;
  body.dataset.state = state;
  const play = $("play");
  const playing = state === "playing";
  play.textContent = playing ? "Pause" : state === "ended" ? "Replay" : "Play";
  play.setAttribute("aria-label", play.textContent);
  play.classList.toggle("is-playing", playing);
  if (!playing) {
    transcript.stopTyping();
    showPosition(); // flush a view update still waiting for its animation frame
  }
}

function remember(envelope) {
  if (!Number.isInteger(envelope.seq) || envelope.seq < 1) return;
  player.known.set(envelope.seq, envelope);
  while (player.known.has(player.contiguous + 1)) player.contiguous += 1;
  if (envelope.seq > player.lastSeq) {
    player.lastSeq = envelope.seq;
    $("scrub").max = String(player.lastSeq);
    markers.setLastSeq(player.lastSeq);
  }
  markers.add(envelope);
}

function apply(envelope) {
  transcript.add(envelope);
  inspector.add(envelope);
  player.position = envelope.seq;
}

function showPosition() {
  transcript.flush();
  const seq = player.position;
  body.dataset.position = String(seq);
  if (!player.scrubbing) {
    $("scrub").value = String(seq);
    $("position").textContent = `seq ${seq} / ${player.lastSeq}`;
  }
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

function renderUpTo(target, { deferView = false } = {}) {
  if (target < player.position) {
    transcript.reset();
    inspector.reset();
    player.position = 0;
  }
  while (player.position < target && player.known.has(player.position + 1)) {
    apply(player.known.get(player.position + 1));
  }
  if (!deferView) {
    showPosition();
    return;
  }
  // At max speed events arrive far faster than frames: update the clock, timeline
  // and scroll once per frame, not once per event (each would force a layout).
  if (player.viewPending) return;
  player.viewPending = true;
  requestAnimationFrame(() => {
    player.viewPending = false;
    showPosition();
    followScroll();
  });
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
  clearNotice(); // an earlier "stopped early" or network notice no longer applies
  setState("playing");
  let ended = false;
  let incomplete = false;
  try {
    await streamSse(replayUrl(), controller.signal, (frame) => {
      if (generation !== player.generation) return;
      if (frame.type === "replay.end") {
        ended = true;
        try {
          incomplete = JSON.parse(frame.data).reason === "incomplete";
        } catch {
          // not replaydeck's own end frame: an end all the same
        }
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
      renderUpTo(envelope.seq, { deferView: true });
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
  } else if (incomplete) {
    transcript.abandoned();
    notice("The session did not finish", "Its producer stopped sending events before the final one; this is everything it recorded.", { soft: true });
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

function askKey(scope, then) {
  notice(`A key with the ${scope} scope is needed`, `Enter an API key with the ${scope} scope to go on.`, {
    keyForm: true,
    scope,
  });
  player.afterKey = then;
}

function failed(error, what) {
  if (error instanceof HttpError && (error.status === 401 || error.status === 403)) {
    sessionStorage.removeItem(KEY_STORAGE); // refused: do not send it again
  }
  explainFailure(error, what, config.mode);
  setState(player.session ? "paused" : "error");
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
  if (!player.session) {
    wireActions({ base: config.base, mode: config.mode, sessionId: String(session.id), askKey });
  }
  player.session = session;
  showSession(session);
  if (Number.isInteger(session.last_seq) && session.last_seq > player.lastSeq) {
    player.lastSeq = session.last_seq;
    $("scrub").max = String(player.lastSeq);
    markers.setLastSeq(player.lastSeq);
  }
  $("player").hidden = false;
  $("stage").hidden = false;
  setState("paused");
  showPosition();
  // A seq as the page writes it; parseInt would also take "5abc", " 5" or "1e3".
  const raw = new URL(window.location.href).searchParams.get("at") || "";
  const at = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : 0;
  if (at > 0) {
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
  markers = new TimelineMarkers($("markers"));
  useApiKey(config.mode === "key");

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
  scrub.addEventListener("pointerdown", () => {
    player.scrubbing = true;
  });
  scrub.addEventListener("input", () => {
    $("position").textContent = `seq ${scrub.value} / ${player.lastSeq}`;
  });
  scrub.addEventListener("change", () => {
    player.scrubbing = false;
    seek(Number(scrub.value));
  });
  // A press that ends without moving fires no change event: release the thumb.
  scrub.addEventListener("pointerup", () => {
    player.scrubbing = false;
  });

  onKeyEntered(() => {
    const next = player.afterKey || load;
    player.afterKey = null;
    next();
  });

  $("retry").addEventListener("click", () => {
    clearNotice();
    if (player.session) seek(player.position, { resume: false });
    else load();
  });

  document.addEventListener("keydown", (event) => {
    // Only when focus is on the page itself, not in a control that uses these keys.
    if (event.target !== body || !player.session || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    if (event.key === " ") {
      event.preventDefault();
      $("play").click();
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      // Step one event back or forward, as on the timeline.
      event.preventDefault();
      const step = event.key === "ArrowLeft" ? -1 : 1;
      seek(Math.min(Math.max(player.position + step, 0), player.lastSeq), { resume: false });
    }
  });
}

wire();
load();
