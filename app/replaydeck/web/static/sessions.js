// The sessions page: newest first, searchable by id or metadata, paged over the
// API's cursor (GET /v1/sessions). Like the viewer, it asks for a key when the API
// answers 401 and keeps it in this tab only; every value from the API is text.

import { $, el, formatDuration, isObject, oneLine } from "./dom.js";
import { clearNotice, explainFailure, onKeyEntered } from "./header.js";
import { getJson, HttpError, KEY_STORAGE, useApiKey } from "./http.js";

const PAGE_SIZE = 25;
const root = document.body.dataset.root || "";

const list = {
  q: "",
  status: "",
  cursors: [null], // the cursor of each page shown so far; the last is this page's
  next: null,
};

function setState(state) {
  document.body.dataset.state = state;
}

// "key=value key2=value2" → metadata filters; anything else is a session id.
function metadataFilters(q) {
  const pairs = q.split(/\s+/).filter(Boolean);
  return pairs.length > 0 && pairs.every((pair) => /^[^=]+=/.test(pair)) ? pairs : null;
}

function sessionHref(id) {
  return `${root}/sessions/${encodeURIComponent(id)}`;
}

function row(session) {
  const metadata = isObject(session.metadata) ? session.metadata : {};
  const name = [metadata.title, metadata.name].find((v) => typeof v === "string" && v);
  const tr = el("tr");
  tr.dataset.id = session.id;
  const first = el("td", "col-session");
  const link = el("a", "session-link", name || session.id);
  link.href = sessionHref(session.id);
  first.append(link);
  if (name) first.append(el("code", "session-id", session.id));
  const rest = Object.entries(metadata).filter(([key]) => key !== "title" && key !== "name");
  if (rest.length > 0) first.append(el("span", "session-meta", oneLine(Object.fromEntries(rest), 120)));
  const status = el("td");
  const badge = el("span", "badge", session.status);
  badge.dataset.status = session.status;
  status.append(badge);
  const started = session.first_ts || session.created_at;
  const date = started ? new Date(started) : null;
  const when = el("td", "col-started", date && !Number.isNaN(date.getTime()) ? date.toLocaleString() : "—");
  if (started) when.title = started;
  const errors = el("td", "num errors", String(session.error_count ?? 0));
  if (session.error_count > 0) errors.classList.add("has-errors");
  const duration = el("td", "num", formatDuration(session.duration_ms));
  const count = el("td", "num", String(session.event_count ?? "—"));
  // The labels a phone shows before each number, where the table has no header row.
  duration.dataset.label = "Duration";
  count.dataset.label = "Events";
  errors.dataset.label = "Errors";
  tr.append(first, status, when, duration, count, errors);
  return tr;
}

function show(sessions, emptyText) {
  $("rows").replaceChildren(...sessions.map(row));
  $("sessions").hidden = sessions.length === 0;
  $("empty").hidden = sessions.length > 0;
  $("empty").textContent = emptyText;
  const page = list.cursors.length;
  $("newer").disabled = page <= 1;
  $("older").disabled = list.next === null;
  $("page-label").textContent = sessions.length > 0 ? `Page ${page}` : "";
}

async function fetchPage() {
  const filters = metadataFilters(list.q);
  if (list.q && !filters) {
    // An id: the one session with it, or none.
    list.next = null;
    try {
      const session = await getJson(`${root}/v1/sessions/${encodeURIComponent(list.q)}`);
      return { sessions: [session], empty: "" };
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) {
        return { sessions: [], empty: `No session has the id “${list.q}”.` };
      }
      if (error instanceof HttpError && error.status === 422) return { sessions: [], empty: error.detail };
      throw error;
    }
  }
  const query = new URLSearchParams();
  if (list.status) query.set("status", list.status);
  for (const pair of filters || []) query.append("metadata", pair);
  const cursor = list.cursors[list.cursors.length - 1];
  if (cursor) query.set("cursor", cursor);
  query.set("limit", String(PAGE_SIZE));
  const page = await getJson(`${root}/v1/sessions?${query}`);
  list.next = page.next_cursor ?? null;
  const sessions = Array.isArray(page.sessions) ? page.sessions : [];
  const what = filters || list.status ? "No session matches this search." : "No sessions are stored yet.";
  return { sessions, empty: what };
}

async function load() {
  setState("loading");
  try {
    const { sessions, empty } = await fetchPage();
    clearNotice();
    show(sessions, empty);
    setState("ready");
  } catch (error) {
    if (error instanceof HttpError && (error.status === 401 || error.status === 403)) {
      sessionStorage.removeItem(KEY_STORAGE);
    }
    explainFailure(error, "The session list", "key");
    setState("error");
  }
}

function remember() {
  const url = new URL(window.location.href);
  for (const [name, value] of [["q", list.q], ["status", list.status]]) {
    if (value) url.searchParams.set(name, value);
    else url.searchParams.delete(name);
  }
  history.replaceState(null, "", url);
}

function wire() {
  useApiKey(true);
  const params = new URL(window.location.href).searchParams;
  list.q = (params.get("q") || "").trim();
  list.status = ["open", "complete"].includes(params.get("status")) ? params.get("status") : "";
  $("q").value = list.q;
  $("status").value = list.status;

  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    list.q = $("q").value.trim();
    list.status = $("status").value;
    list.cursors = [null];
    remember();
    load();
  });
  $("status").addEventListener("change", () => $("search").requestSubmit());
  $("older").addEventListener("click", () => {
    if (list.next === null) return;
    list.cursors.push(list.next);
    load();
  });
  $("newer").addEventListener("click", () => {
    if (list.cursors.length <= 1) return;
    list.cursors.pop();
    load();
  });
  onKeyEntered(load);
  $("retry").addEventListener("click", () => load());
}

wire();
load();
