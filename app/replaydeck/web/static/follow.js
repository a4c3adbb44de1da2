// Following new events down the page, politely.

import { $ } from "./dom.js";

// The reader is at the bottom of the page: new events scroll into view.
let pinned = true;

// Only follow new events while the reader is at the bottom: never pull someone away
// from the part they scrolled up to read; offer a button back down instead.
export function followScroll() {
  const doc = document.scrollingElement;
  if (pinned) doc.scrollTop = doc.scrollHeight;
  else if (doc.scrollHeight > doc.scrollTop + doc.clientHeight) $("to-latest").hidden = false;
}

export function watchScroll() {
  const doc = document.scrollingElement;
  window.addEventListener(
    "scroll",
    () => {
      pinned = doc.scrollHeight - doc.scrollTop - doc.clientHeight < 48;
      if (pinned) $("to-latest").hidden = true;
    },
    { passive: true },
  );
  $("to-latest").addEventListener("click", () => {
    pinned = true;
    doc.scrollTop = doc.scrollHeight;
  });
}
