// Markdown for text summaries, rendered to DOM nodes from markdown-it's token stream: raw HTML is
// disabled in the parser and no string is ever assigned to innerHTML; links and images are
// checked, and only a fixed set of elements and attributes can be produced.

import MarkdownIt, { type Token } from "markdown-it";

const md = new MarkdownIt({ html: false, linkify: true, typographer: false, breaks: false });

const ALLOWED = new Set([
  "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "em", "strong", "s",
  "a", "code", "pre", "table", "thead", "tbody", "tr", "th", "td", "hr", "br", "img",
]);

function safeUrl(url: string, image: boolean): string | null {
  const u = url.trim();
  if (/^(https?:|mailto:)/i.test(u)) return image ? (/^https?:/i.test(u) ? u : null) : u;
  if (/^[a-z][a-z0-9+.-]*:/i.test(u)) {
    if (image && /^data:image\/(png|jpeg|gif|webp);/i.test(u)) return u;
    return null; // javascript:, vbscript:, data: links, …
  }
  return u.startsWith("//") ? null : u;
}

function open(t: Token): HTMLElement {
  const tag = ALLOWED.has(t.tag) ? t.tag : "span";
  const el = document.createElement(tag);
  if (tag === "a") {
    const href = safeUrl(String(t.attrGet("href") ?? ""), false);
    if (href !== null) {
      el.setAttribute("href", href);
      el.setAttribute("rel", "noopener noreferrer nofollow");
      el.setAttribute("target", "_blank");
    }
  } else if (tag === "ol") {
    // markdown-it sets `start` only when the list does not begin at 1 (Number(null) would be 0).
    const raw = t.attrGet("start");
    const start = raw === null ? NaN : Number(raw);
    if (Number.isInteger(start)) el.setAttribute("start", String(start));
  } else if (tag === "th" || tag === "td") {
    const style = String(t.attrGet("style") ?? "");
    const m = /text-align:\s*(left|right|center)/.exec(style);
    if (m) el.style.textAlign = m[1];
  }
  return el;
}

function inline(tokens: Token[], stack: Node[]): void {
  for (const t of tokens) {
    const parent = stack[stack.length - 1];
    if (t.nesting === 1) {
      const el = open(t);
      parent.appendChild(el);
      stack.push(el);
    } else if (t.nesting === -1) {
      if (stack.length > 1) stack.pop();
    } else if (t.type === "text" || t.type === "html_inline") {
      parent.appendChild(document.createTextNode(t.content));
    } else if (t.type === "code_inline") {
      const c = document.createElement("code");
      c.textContent = t.content;
      parent.appendChild(c);
    } else if (t.type === "softbreak") {
      parent.appendChild(document.createTextNode("\n"));
    } else if (t.type === "hardbreak") {
      parent.appendChild(document.createElement("br"));
    } else if (t.type === "image") {
      const src = safeUrl(String(t.attrGet("src") ?? ""), true);
      const alt = t.children ? t.children.map((c: Token) => c.content).join("") : t.content;
      if (src) {
        const img = document.createElement("img");
        img.src = src;
        img.alt = alt;
        parent.appendChild(img);
      } else parent.appendChild(document.createTextNode(alt));
    }
  }
}

export function renderMarkdown(src: string): DocumentFragment {
  const frag = document.createDocumentFragment();
  const stack: Node[] = [frag];
  for (const t of md.parse(src, {})) {
    const parent = stack[stack.length - 1];
    if (t.type === "inline") {
      inline(t.children ?? [], stack.slice());
    } else if (t.hidden && (t.type === "paragraph_open" || t.type === "paragraph_close")) {
      // A tight list's items hold their text directly, without a paragraph (as markdown-it renders).
    } else if (t.nesting === 1) {
      const el = open(t);
      parent.appendChild(el);
      stack.push(el);
    } else if (t.nesting === -1) {
      if (stack.length > 1) stack.pop();
    } else if (t.type === "fence" || t.type === "code_block") {
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      code.textContent = t.content;
      pre.appendChild(code);
      parent.appendChild(pre);
    } else if (t.type === "hr") {
      parent.appendChild(document.createElement("hr"));
    } else if (t.type === "html_block") {
      const p = document.createElement("p");
      p.textContent = t.content;
      parent.appendChild(p);
    }
  }
  return frag;
}
