// replaydeck replay viewer: plays a session through its replay endpoint as the
// app's user saw it. Plain DOM and ES modules, no build step, no dependencies.
// Event data is untrusted (it comes from whatever app was recorded): it reaches the
// page only through textContent (see dom.js), never innerHTML.

import { wireActions } from "./actions.js";
import { $, formatDuration, formatMs, momentHref, parseAt } from "./dom.js";
import { followScroll, watchScroll } from "./follow.js";
import { clearNotice, explainFailure, notice, onKeyEntered, showSession } from "./header.js";
import { getJson, HttpError, KEY_STORAGE, streamSse, useApiKey, withQuery } from "./http.js";
import { Inspector } from "./inspector.js";
import { Timeline } from "./timeline.js";
import { Transcript } from "./transcript.js";

const body = document.body;
const config = {
  base: body.dataset.base,
  sessionUrl: body.dataset.sessionUrl,
  mode: body.dataset.mode === "key" ? "key" : "share",
};
const PAGE_SIZE = 1000;
// "Skip idle gaps" caps every wait at this long, so minutes of thinking time play
// as a short pause that is still visible.
const MAX_GAP_MS = 1500;
// Shift+arrow steps this far in time.
const TIME_STEP_MS = 10_000;

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
  viewPending: false,
  preview: false, // the whole session is drawn, dimmed, before the first Play
  afterKey: null, // what to do once the key form is sent (default: load the session)
};

let transcript;
let inspector;
let timeline;

function setState(state) {
  player.state = state;
  body.dataset.state = state;
  const play = $("play");
  const playing = state === "playing" || state === "live";
  play.textContent = playing ? "Pause" : state === "ended" ? "Replay" : "Play";
  const badge = $("status-badge");
  const status = state === "live" ? "live" : (player.session && player.session.status) || "";
  badge.textContent = status;
  badge.dataset.status = status;
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
  // The timeline takes events in seq order: it keeps their offsets by seq.
  while (player.known.has(player.contiguous + 1)) {
    player.contiguous += 1;
    timeline.add(player.known.get(player.contiguous));
  }
  if (envelope.seq > player.lastSeq) player.lastSeq = envelope.seq;
}

function apply(envelope) {
  transcript.add(envelope);
  inspector.add(envelope);
  player.position = envelope.seq;
}

function showPosition() {
  transcript.flush();
  inspector.flush();
  const seq = player.position;
  body.dataset.position = String(seq);
  $("position").textContent = `event ${seq} / ${player.lastSeq}`;
  const current = player.known.get(seq);
  const offset = current ? current.offset_ms : 0;
  timeline.setPosition(offset, seq);
  $("clock").textContent = `${formatMs(offset)} / ${formatMs(timeline.duration)}`;
  // A live session's counters grow with it; the session JSON is from when it loaded.
  const session = player.session || {};
  $("fact-events").textContent = String(Math.max(session.event_count || 0, player.lastSeq));
  $("fact-duration").textContent = formatDuration(Math.max(session.duration_ms || 0, timeline.duration));
  $("moment-link").href = momentHref(seq);
  $("empty").hidden = seq > 0;
  setPreview(player.preview && seq === player.lastSeq);
}

function setPreview(on) {
  player.preview = on;
  body.dataset.preview = String(on);
  $("preview-note").hidden = !on;
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
  player.preview = false;
  renderUpTo(Math.min(target, player.contiguous));
  select(player.position);
  updateAddress(player.position);
  // A jump shows its moment: centred when a link opens the page, else only as far
  // as needed, so stepping event by event does not make the page leap.
  if (reveal && transcript.selected) transcript.selected.scrollIntoView({ block: reveal === "nearest" ? "nearest" : "center" });
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

// A moment in time: the last event at or before it (the whole log is read first, so
// the answer does not depend on what has been fetched so far).
async function seekTime(ms, { atLeast = 0 } = {}) {
  const generation = player.generation;
  try {
    await ensureKnown(player.lastSeq);
  } catch (error) {
    failed(error, "The events before this moment");
    return;
  }
  if (generation !== player.generation) return;
  const target = Math.min(Math.max(timeline.seqAt(ms), atLeast), player.lastSeq);
  await seek(target, { resume: false, reveal: "nearest" });
}

// Before the first Play, the session's end state, dimmed: what happened, at a glance.
async function showPreview() {
  const generation = player.generation;
  const controller = new AbortController();
  player.controller = controller;
  try {
    await ensureKnown(player.lastSeq, controller.signal);
  } catch {
    return; // only the preview is lost; Play still works
  }
  if (generation !== player.generation || player.position !== 0) return;
  player.controller = null;
  player.preview = true;
  renderUpTo(player.contiguous);
  transcript.stopTyping(); // an end state: nothing is being typed
}

// Plays the timed replay, or (`live`) follows the session's live tail, from the next
// event on. Both read an SSE stream of envelopes; they differ in how it ends.
async function run({ live = false } = {}) {
  setPreview(false);
  if (!live && (player.state === "ended" || atEnd())) renderUpTo(0);
  stop();
  const generation = player.generation;
  const controller = new AbortController();
  player.controller = controller;
  clearNotice(); // an earlier "stopped early" or network notice no longer applies
  setState(live ? "live" : "playing");
  let ended = false;
  let incomplete = false;
  const url = live ? withQuery(`${config.base}/stream`, { after: player.position }) : replayUrl();
  try {
    await streamSse(url, controller.signal, (frame) => {
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
      if (live && envelope.type === "final") ended = true; // a tail ends with the final
      remember(envelope);
      renderUpTo(envelope.seq, { deferView: true });
    });
  } catch (error) {
    if (error.name === "AbortError" || generation !== player.generation) return;
    failed(error, live ? "The live session" : "The replay");
    return;
  }
  if (generation !== player.generation) return;
  player.controller = null;
  if (live) {
    // A tail closes at the final, or when the server finds the session abandoned.
    incomplete = !ended;
    ended = true;
    await refreshSession();
  }
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

const play = () => run();

async function refreshSession() {
  try {
    player.session = await getJson(config.sessionUrl);
    showSession(player.session);
  } catch {
    // The header keeps what it showed; the events drawn are what matters.
  }
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
  }
  timeline.setDuration(session.duration_ms);
  $("player").hidden = false;
  $("stage").hidden = false;
  setState("paused");
  showPosition();
  const at = parseAt(new URL(window.location.href).searchParams.get("at") || "");
  if (at.seq > 0) {
    await seek(at.seq, { resume: false, reveal: true });
  } else if (at.ms !== null) {
    await seekTime(at.ms);
  } else if (session.status === "open") {
    // A session still being recorded: follow it as it happens.
    await run({ live: true });
  } else if (player.lastSeq > 0) {
    await showPreview();
  }
}

// ---------------------------------------------------------------- wiring

function wire() {
  transcript = new Transcript($("transcript"), select);
  inspector = new Inspector(select, (seq) => player.known.get(seq));
  timeline = new Timeline($("timeline"), {
    onSeek: (seq) => seek(seq, { resume: false, reveal: "nearest" }),
    onSeekTime: (ms) => seekTime(ms),
  });
  useApiKey(config.mode === "key");

  watchScroll();
  $("play").addEventListener("click", () => {
    if (player.state === "playing" || player.state === "live") pause();
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
    timeline.setSkipping($("skip-gaps").checked, MAX_GAP_MS);
    if (player.state === "playing") play();
  });
  timeline.setSkipping($("skip-gaps").checked, MAX_GAP_MS);

  for (const button of document.querySelectorAll("[data-filter]")) {
    button.addEventListener("click", () => {
      const shown = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", String(shown));
      body.classList.toggle(`hide-${button.dataset.filter}`, !shown);
      inspector.setHidden(button.dataset.filter, !shown);
    });
  }

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
    // Only when focus is on the page or the timeline, not in a control that uses these keys.
    const onPage = event.target === body || event.target === $("track");
    if (!onPage || !player.session || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === " ") {
      event.preventDefault();
      $("play").click();
    } else if ((event.key === "ArrowLeft" || event.key === "ArrowRight") && event.shiftKey) {
      // Ten seconds back or on, in session time.
      event.preventDefault();
      const now = timeline.offsetOf(player.position) ?? 0;
      const forward = event.key === "ArrowRight";
      const ms = Math.min(Math.max(now + (forward ? TIME_STEP_MS : -TIME_STEP_MS), 0), timeline.duration);
      // Ten seconds on that land in an idle gap go to the event after it.
      seekTime(ms, { atLeast: forward ? player.position + 1 : 0 });
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      // One event back or on.
      event.preventDefault();
      const step = event.key === "ArrowLeft" ? -1 : 1;
      seek(Math.min(Math.max(player.position + step, 0), player.lastSeq), { resume: false, reveal: "nearest" });
    } else if (event.key === "n" || event.key === "p") {
      // The next or previous marker: a user turn, tool call, status, error or the end.
      event.preventDefault();
      const seq = timeline.markerFrom(player.position, event.key === "n" ? 1 : -1);
      if (seq !== null) seek(seq, { resume: false, reveal: "nearest" });
    } else if (event.key === "+" || event.key === "=" || event.key === "-") {
      event.preventDefault();
      timeline.zoom(event.key === "-" ? 0.5 : 2);
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      seek(event.key === "Home" ? 0 : player.lastSeq, { resume: false });
    }
  });
}

wire();
load();
