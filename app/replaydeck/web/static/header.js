// What the page says around the replay: the session header and the notices.

import { $, el, formatDuration, isObject, oneLine } from "./dom.js";
import { HttpError, KEY_STORAGE } from "./http.js";

export function notice(title, text, { soft = false, keyForm = false, retry = false, scope = "read" } = {}) {
  $("notice").hidden = false;
  $("key-scope").textContent = scope;
  $("notice").classList.toggle("soft", soft);
  $("notice-title").textContent = title;
  $("notice-text").textContent = text;
  $("key-form").hidden = !keyForm;
  $("retry").hidden = !retry;
  if (keyForm) $("key-input").focus();
}

// The key form keeps the key in this tab's sessionStorage, then calls `entered()`.
export function onKeyEntered(entered) {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    $("key-input").value = "";
    clearNotice();
    entered();
  });
}

export function clearNotice() {
  $("notice").hidden = true;
}

export function showSession(session) {
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

  const links = isObject(session.links) ? session.links : {};
  const jaeger = [session.jaeger_url, links.jaeger].find((v) => typeof v === "string") || "";
  // Only http(s): a configured URL still must never become a javascript: link.
  const jaegerOk = /^https?:\/\//i.test(jaeger);
  $("jaeger-link").hidden = !jaegerOk;
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

export function explainFailure(error, what, mode) {
  if (!(error instanceof HttpError)) {
    notice("Something went wrong", `${what} could not be shown: ${error.message}`, { retry: true });
  } else if (error.status === 0) {
    notice("Could not reach replaydeck", `${what} could not be loaded: check your connection, then try again.`, { retry: true });
  } else if (error.status === 401 || error.status === 403) {
    if (mode === "key") {
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
    if (mode === "key") {
      notice("Session not found", "No session with this id is stored on this server; it may have been deleted.");
    } else {
      linkInvalid();
    }
  } else {
    const detail = error.detail ? ` The server said: ${error.detail}` : "";
    notice("Something went wrong", `${what} could not be loaded (HTTP ${error.status}).${detail}`, { retry: true });
  }
}

function linkInvalid() {
  $("title").textContent = "Replay unavailable";
  notice(
    "This replay link is not valid",
    "It may have expired or been revoked, or part of it was lost when it was copied. Ask whoever shared it for a new link.",
  );
}
