// Markdown as the app's user saw it, built as DOM nodes.
//
// Why our own renderer rather than a library: assistant text is untrusted, the page
// runs under a CSP without 'unsafe-inline', and nothing third-party is committed or
// loaded from a CDN. Markdown libraries produce an HTML string that would then need a
// sanitizer (a second library) before innerHTML; this renderer never makes HTML at
// all: every character of the source reaches the page through textContent; the only
// attributes it sets from the source are a link's href, after checking its scheme,
// and inert text (a code block's language, a refused link's title).
// It covers what chat models write: headings, paragraphs, lists (nested), block
// quotes, fenced and indented code, rules, tables, emphasis, strikethrough, inline
// code, links, images (as links to them) and bare URLs. Raw HTML in the source is
// shown as the text it is.

import { el } from "./dom.js";

const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:"]);

// An absolute http(s) or mailto URL, or null: relative, javascript:, data: and the
// rest are refused (the link's text is still shown, as plain text).
export function safeHref(raw) {
  const text = String(raw).trim();
  if (!/^(https?:\/\/|mailto:)/i.test(text)) return null;
  try {
    const url = new URL(text);
    return SAFE_SCHEMES.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- blocks

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( {0,12})([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$/;
const TABLE_RULE = /^ {0,3}\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const blank = (line) => /^\s*$/.test(line);

// Splits the source into blocks, each with the source it came from (`src`), so a
// message growing by deltas rebuilds only its blocks that changed (the last one,
// mostly) and the text above does not move.
export function parseBlocks(source) {
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  const blocks = [];
  let i = 0;
  const take = (start, block) => {
    block.src = lines.slice(start, i).join("\n");
    blocks.push(block);
  };
  while (i < lines.length) {
    const line = lines[i];
    const start = i;
    let match;
    if (blank(line)) {
      i += 1;
    } else if ((match = FENCE.exec(line))) {
      const marker = match[1];
      const body = [];
      i += 1;
      let closed = false;
      while (i < lines.length) {
        const inner = lines[i];
        i += 1;
        if (inner.trim().startsWith(marker[0].repeat(marker.length)) && /^[`~]+$/.test(inner.trim())) {
          closed = true;
          break;
        }
        body.push(inner);
      }
      take(start, { type: "code", lang: match[2], text: body.join("\n"), closed });
    } else if ((match = HEADING.exec(line))) {
      i += 1;
      take(start, { type: "heading", level: match[1].length, text: match[2] || "" });
    } else if (RULE.test(line)) {
      i += 1;
      take(start, { type: "rule" });
    } else if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && (match = QUOTE.exec(lines[i]))) {
        inner.push(match[1]);
        i += 1;
      }
      take(start, { type: "quote", children: parseBlocks(inner.join("\n")) });
    } else if (ITEM.test(line)) {
      i = list(lines, i, blocks);
    } else if (/^( {4}|\t)/.test(line)) {
      const body = [];
      while (i < lines.length && (/^( {4}|\t)/.test(lines[i]) || blank(lines[i]))) {
        body.push(lines[i].replace(/^( {4}|\t)/, ""));
        i += 1;
      }
      while (body.length && blank(body[body.length - 1])) body.pop();
      take(start, { type: "code", lang: "", text: body.join("\n"), closed: true });
    } else if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
      const rows = [];
      i += 2;
      while (i < lines.length && lines[i].includes("|") && !blank(lines[i])) {
        rows.push(cells(lines[i]));
        i += 1;
      }
      take(start, { type: "table", head: cells(line), rows });
    } else {
      const text = [];
      while (i < lines.length && !blank(lines[i]) && !startsBlock(lines, i)) {
        text.push(lines[i]);
        i += 1;
      }
      take(start, { type: "paragraph", text: text.join("\n") });
    }
  }
  return blocks;
}

function startsBlock(lines, i) {
  const line = lines[i];
  return (
    FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
    ITEM.test(line) || (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]))
  );
}

function cells(line) {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((cell) => cell.trim());
}

// A list: its items, each item's own lines (indented continuation lines and nested
// lists included) parsed again as blocks.
function list(lines, i, blocks) {
  const start = i;
  const first = ITEM.exec(lines[i]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const items = [];
  let current = null;
  while (i < lines.length) {
    const line = lines[i];
    const match = ITEM.exec(line);
    if (match && match[1].length <= indent + 1 && /\d/.test(match[2]) === ordered) {
      current = [match[3] || ""];
      items.push(current);
      i += 1;
    } else if (blank(line)) {
      // A blank line ends the list unless the list (or this item) goes on after it.
      const next = lines[i + 1];
      if (next === undefined || !(/^\s/.test(next) || ITEM.test(next))) break;
      const nextItem = ITEM.exec(next);
      if (nextItem && nextItem[1].length <= indent + 1 && /\d/.test(nextItem[2]) !== ordered) break;
      current.push("");
      i += 1;
    } else if (/^\s/.test(line) || !startsBlock(lines, i)) {
      current.push(line.replace(new RegExp(`^ {0,${indent + 4}}`), ""));
      i += 1;
    } else {
      break;
    }
  }
  const startNumber = ordered ? parseInt(first[2], 10) : 1;
  blocks.push({
    type: "list",
    ordered,
    start: startNumber,
    items: items.map((item) => parseBlocks(item.join("\n"))),
    src: lines.slice(start, i).join("\n"),
  });
  return i;
}

// ---------------------------------------------------------------- DOM

export function renderBlock(block) {
  switch (block.type) {
    case "heading": {
      // Headings inside a message sit below the page's own h1/h2 in the outline.
      const node = el(`h${Math.min(block.level + 2, 6)}`, `md-h md-h${block.level}`);
      node.append(...inline(block.text));
      return node;
    }
    case "code": {
      const pre = el("pre", "md-code");
      const code = el("code", null, block.text);
      if (/^[\w+#.-]{1,30}$/.test(block.lang)) pre.dataset.lang = block.lang;
      pre.append(code);
      return pre;
    }
    case "rule":
      return el("hr");
    case "quote": {
      const node = el("blockquote");
      node.append(...block.children.map(renderBlock));
      return node;
    }
    case "list": {
      const node = el(block.ordered ? "ol" : "ul");
      if (block.ordered && block.start !== 1) node.start = block.start;
      for (const item of block.items) {
        const li = el("li");
        // An item's first paragraph is its text, without paragraph margins; what
        // follows (a nested list, code) goes below it.
        const [first, ...rest] = item;
        if (first && first.type === "paragraph") li.append(...inline(first.text));
        else if (first) li.append(renderBlock(first));
        li.append(...rest.map(renderBlock));
        node.append(li);
      }
      return node;
    }
    case "table": {
      const wrap = el("div", "md-table");
      const table = el("table");
      const head = el("tr");
      for (const cell of block.head) {
        const th = el("th");
        th.append(...inline(cell));
        head.append(th);
      }
      const thead = el("thead");
      thead.append(head);
      const tbody = el("tbody");
      for (const row of block.rows) {
        const tr = el("tr");
        for (let c = 0; c < block.head.length; c += 1) {
          const td = el("td");
          td.append(...inline(row[c] ?? ""));
          tr.append(td);
        }
        tbody.append(tr);
      }
      table.append(thead, tbody);
      wrap.append(table);
      return wrap;
    }
    default: {
      const node = el("p");
      node.append(...inline(block.text));
      return node;
    }
  }
}

// Renders `source` into `container`, reusing the nodes of blocks whose source has not
// changed since the last call (`state` keeps them between calls).
export function renderMarkdown(container, source, state = { blocks: [] }) {
  const blocks = parseBlocks(source);
  const kept = state.blocks;
  let same = 0;
  while (same < blocks.length && same < kept.length && kept[same].src === blocks[same].src &&
    kept[same].type === blocks[same].type) {
    same += 1;
  }
  for (const old of kept.slice(same)) old.node.remove();
  const fresh = blocks.slice(same).map((block) => ({ src: block.src, type: block.type, node: renderBlock(block) }));
  container.append(...fresh.map((b) => b.node));
  state.blocks = kept.slice(0, same).concat(fresh);
  return state;
}

// ---------------------------------------------------------------- inline

const BARE_URL = /^(?:https?:\/\/|mailto:)[^\s<>"]*[^\s<>".,;:!?)\]'*_~]/i;
// Where inline markup may start: everything between is plain text.
const SPECIAL = /[\\\n`[<*_~!]|https?:\/\/|mailto:/gi;

// Inline markdown as a list of nodes. Delimiters that are not closed stay text, so
// a half-streamed "**bo" shows as typed and becomes bold once "ld**" arrives.
export function inline(text) {
  const out = [];
  let plain = "";
  const flush = () => {
    if (plain) out.push(document.createTextNode(plain));
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    // Runs of ordinary characters are copied at once: slicing the rest of the text at
    // every character would make a long answer quadratic.
    SPECIAL.lastIndex = i;
    const found = SPECIAL.exec(text);
    const next = found ? found.index : text.length;
    if (next > i) {
      plain += text.slice(i, next);
      i = next;
      continue;
    }
    const ch = text[i];
    const rest = text.slice(i);
    let match;
    if (ch === "\\" && i + 1 < text.length && /[!-/:-@[-`{-~]/.test(text[i + 1])) {
      plain += text[i + 1];
      i += 2;
    } else if (ch === "\n") {
      flush();
      out.push(el("br"));
      i += 1;
    } else if (ch === "`" && (match = /^(`+)([^]*?[^`])\1(?!`)/.exec(rest))) {
      flush();
      let code = match[2].replace(/\n/g, " ");
      if (/^ .* $/.test(code)) code = code.slice(1, -1);
      out.push(el("code", "md-inline", code));
      i += match[0].length;
    } else if (ch === "!" && text[i + 1] === "[" && (match = link(rest.slice(1)))) {
      // An image is not loaded (the page loads nothing from other sites): it is a
      // link to it, named as one.
      flush();
      const label = `image: ${match.label || match.href}`;
      out.push(anchor(match.href, [document.createTextNode(label)], label));
      i += 1 + match.length;
    } else if (ch === "[" && (match = link(rest))) {
      flush();
      out.push(anchor(match.href, inline(match.label), match.label));
      i += match.length;
    } else if (ch === "<" && (match = /^<((?:https?:\/\/|mailto:)[^\s<>]+)>/i.exec(rest))) {
      flush();
      out.push(anchor(match[1], [document.createTextNode(match[1])], match[1]));
      i += match[0].length;
    } else if (!/\w$/.test(plain) && (match = BARE_URL.exec(rest))) {
      flush();
      out.push(anchor(match[0], [document.createTextNode(match[0])], match[0]));
      i += match[0].length;
    } else if ("*_~".includes(ch) && (match = emphasis(text, i))) {
      flush();
      const node = el(match.tag);
      node.append(...inline(match.inner));
      out.push(node);
      i = match.end;
    } else {
      plain += ch;
      i += 1;
    }
  }
  flush();
  return out;
}

function link(rest) {
  // [label](url "title"): the label may hold brackets in pairs, the url none unbalanced.
  let depth = 0;
  let close = -1;
  for (let j = 0; j < rest.length; j += 1) {
    if (rest[j] === "\\") j += 1;
    else if (rest[j] === "[") depth += 1;
    else if (rest[j] === "]" && --depth === 0) {
      close = j;
      break;
    }
  }
  if (close < 0 || rest[close + 1] !== "(") return null;
  const target = /^\(\s*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+("[^"\n]*"|'[^'\n]*'))?\s*\)/.exec(
    rest.slice(close + 1),
  );
  if (!target) return null;
  const href = target[1].replace(/^<|>$/g, "");
  return { label: rest.slice(1, close), href, length: close + 1 + target[0].length };
}

function anchor(href, children, label) {
  const safe = safeHref(href);
  if (safe === null) {
    // Not a link we let anyone click: its text stays, marked as a refused link.
    const span = el("span", "md-unsafe-link");
    span.title = `Link not shown: ${String(href).slice(0, 200)}`;
    span.append(...children);
    return span;
  }
  const a = el("a");
  a.href = safe;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  a.append(...(children.length ? children : [document.createTextNode(label)]));
  return a;
}

// **strong**, __strong__, *em*, _em_, ~~del~~: an opener not followed by a space, a
// closer not preceded by one; underscores only at word edges (snake_case stays).
function emphasis(text, i) {
  const rest = text.slice(i);
  const run = /^(\*\*|__|~~|\*|_)/.exec(rest)[1];
  if (run === "~") return null;
  const after = text[i + run.length];
  if (after === undefined || /\s/.test(after)) return null;
  if (run[0] === "_" && i > 0 && /\w/.test(text[i - 1])) return null;
  let from = i + run.length + 1;
  for (;;) {
    let at = text.indexOf(run, from);
    if (at < 0) return null;
    // "***both***": the strong closes on the last two stars, the em inside on the first.
    while (run.length === 2 && text[at + 2] === run[0]) at += 1;
    const before = text[at - 1];
    const next = text[at + run.length];
    const doubled = run.length === 1 && next === run;
    const wordAfter = run[0] === "_" && next !== undefined && /\w/.test(next);
    if (!/\s/.test(before) && !doubled && !wordAfter && text[at - 1] !== "\\") {
      const tag = run === "~~" ? "del" : run.length === 2 ? "strong" : "em";
      return { tag, inner: text.slice(i + run.length, at), end: at + run.length };
    }
    from = at + (doubled ? 2 : 1);
  }
}
