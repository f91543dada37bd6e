// Small DOM helpers. User-provided text only ever goes in through text nodes.

export const $ = (selector, root = document) => root.querySelector(selector);

/** el('li', {class: 'x', dataset: {id: 1}}, 'text', childNode) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'on') for (const [type, fn] of Object.entries(value)) node.addEventListener(type, fn);
    else node.setAttribute(key, value === true ? '' : value);
  }
  node.append(...children);
  return node;
}

const pad = (n) => String(n).padStart(2, '0');

/** Local time as HH:MM. */
export function formatTime(ts) {
  const d = new Date(ts);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function timeEl(ts) {
  return el('time', { datetime: new Date(ts).toISOString(), title: new Date(ts).toLocaleString() }, formatTime(ts));
}

const MAX_ERRORS = 3;

/** Shows a message in the aria-live error region; it fades out after a while. */
export function showError(text) {
  if (!text) return;
  const region = $('#errors');
  const item = el('p', { class: 'error' }, el('span', { text }));
  const close = el('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Dismiss' }, '×');
  close.addEventListener('click', () => item.remove());
  item.append(close);
  region.append(item);
  while (region.children.length > MAX_ERRORS) region.firstElementChild.remove();
  setTimeout(() => item.remove(), 8000);
}

/** True when keyboard input belongs to a text field. */
export function isTyping(target) {
  return target instanceof HTMLElement &&
    (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

/** Takes the errors off the screen: a success clears what it answered. */
export function clearErrors() {
  $('#errors').replaceChildren();
}

/** Length as the server counts it: code points, not UTF-16 units. */
export const charLength = (text) => [...text].length;

const URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING = /[.,;:!?)\]}'"»]+$/;

/** Text as nodes: http(s) links become <a> (new tab, no referrer, no follow), `@name` of the
 * person reading (myName) is marked; nothing else becomes markup. */
export function richText(text, myName = null) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0];
    const trail = TRAILING.exec(url)?.[0] ?? '';
    if (trail && !(trail.startsWith(')') && url.includes('('))) url = url.slice(0, -trail.length);
    if (match.index > last) out.push(...mentions(text.slice(last, match.index), myName));
    let href = null;
    try { href = new URL(url).href; } catch { /* not a URL after all */ }
    out.push(href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow ugc' }, url) : url);
    last = match.index + url.length;
  }
  out.push(...mentions(text.slice(last), myName));
  return out;
}

/** Where `@name` (any case) stands in text as a whole name: [[start, end]]. */
export function mentionSpans(text, name) {
  if (!name) return [];
  const hay = text.toLocaleLowerCase();
  const needle = `@${name.toLocaleLowerCase()}`;
  const spans = [];
  for (let at = hay.indexOf(needle); at !== -1; at = hay.indexOf(needle, at + 1)) {
    const before = at === 0 ? '' : hay[at - 1];
    const after = hay.slice(at + needle.length, at + needle.length + 1);
    if (/[\p{L}\p{N}_]/u.test(before) || /[\p{L}\p{N}_-]/u.test(after)) continue;
    spans.push([at, at + needle.length]);
  }
  return spans;
}

function mentions(text, myName) {
  const out = [];
  let last = 0;
  for (const [start, end] of mentionSpans(text, myName)) {
    out.push(text.slice(last, start), el('mark', { class: 'mention' }, text.slice(start, end)));
    last = end;
  }
  out.push(text.slice(last));
  return out.filter((part) => part !== '');
}

/** A live counter under a text box: shown near the limit, red past it (text is never cut). */
export function initCounter(input, counter) {
  const max = Number(counter.dataset.max);
  const update = () => {
    const length = charLength(input.value);
    const over = length > max;
    counter.hidden = length < max * 0.9 && !over;
    counter.dataset.over = String(over);
    counter.textContent = over
      ? `${length - max} characters too many (at most ${max})`
      : `${max - length} characters left`;
    input.setAttribute('aria-invalid', String(over));
  };
  input.addEventListener('input', update);
  update();
  return { update, tooLong: () => charLength(input.value) > max, max };
}
