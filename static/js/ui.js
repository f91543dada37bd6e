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
