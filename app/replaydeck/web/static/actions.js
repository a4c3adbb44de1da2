// The session page's buttons: make a share link (admin key), download the session
// as NDJSON, download its trace as OTLP JSON. Downloads go through fetch(), not a
// plain link, because a key holder's reads carry the key in a header.

import { $ } from "./dom.js";
import { HttpError, postJson, request } from "./http.js";

function say(text) {
  $("action-status").textContent = text;
}

function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its own reference by now; the page's one can go.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function download(url, accept, filename) {
  say(`Preparing ${filename}…`);
  try {
    const response = await request(url, undefined, accept);
    save(await response.blob(), filename);
    say(`Downloaded ${filename}.`);
  } catch (error) {
    say(`${filename} could not be downloaded: ${error.detail || error.message}`);
  }
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false; // no clipboard outside a secure context, or permission refused
  }
}

// `askKey(scope, then)` shows the key form for `scope` and calls `then` once a key is entered.
export function wireActions({ base, mode, sessionId, askKey }) {
  const keyHolder = mode === "key";
  for (const button of document.querySelectorAll("[data-key-only]")) button.hidden = !keyHolder;
  $("all-sessions").hidden = !keyHolder;
  $("actions").hidden = false;
  const safeName = sessionId.replace(/[^\w.-]+/g, "_");

  async function share() {
    say("Making a share link…");
    try {
      const made = await postJson(`${base}/shares`, {});
      $("share-box").hidden = false;
      $("share-url").value = made.url;
      $("share-expires").textContent = new Date(made.expires_at).toLocaleString();
      $("share-url").select();
      say((await copy(made.url)) ? "Share link copied to the clipboard." : "Share link made: copy it from the box.");
    } catch (error) {
      if (error instanceof HttpError && (error.status === 401 || error.status === 403)) {
        say("Making a share link needs a key with the admin scope.");
        askKey("admin", share);
      } else {
        say(`No share link was made: ${error.detail || error.message}`);
      }
    }
  }

  $("share").addEventListener("click", share);
  $("download").addEventListener("click", () =>
    download(`${base}/events`, "application/x-ndjson", `${safeName}.ndjson`),
  );
  $("trace").addEventListener("click", () =>
    download(`${base}/trace`, "application/json", `trace-${safeName}.json`),
  );
}
