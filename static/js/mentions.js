// Completing `@name` in a text box with the names of people online (the WAI-ARIA combobox
// pattern): type @ and a few letters, pick with the arrows, Enter or Tab; Escape closes.
import { el } from './ui.js';

const MAX_OPTIONS = 8;

/** Completion on `input`, offering names from `names()` in the listbox `list`. */
export function initMentions(input, list, names) {
  let options = [];
  let active = 0;
  let start = -1; // where the "@" is

  const close = () => {
    options = [];
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  };

  const draw = () => {
    list.replaceChildren(...options.map((name, i) => el('li', {
      id: `mention-option-${i}`, role: 'option', 'aria-selected': String(i === active),
      on: { mousedown: (event) => { event.preventDefault(); pick(i); } },
    }, `@${name}`)));
    list.hidden = !options.length;
    input.setAttribute('aria-expanded', String(!!options.length));
    if (options.length) input.setAttribute('aria-activedescendant', `mention-option-${active}`);
  };

  const update = () => {
    const before = input.value.slice(0, input.selectionStart ?? input.value.length);
    const match = /(^|\s)@([^\s@]{0,32})$/u.exec(before);
    if (!match) return close();
    start = before.length - match[2].length - 1;
    const typed = match[2].toLocaleLowerCase();
    options = names().filter((n) => n.toLocaleLowerCase().startsWith(typed)).slice(0, MAX_OPTIONS);
    if (options.length === 1 && options[0].toLocaleLowerCase() === typed) options = []; // typed whole
    active = 0;
    draw();
  };

  const pick = (i) => {
    const name = options[i];
    const end = input.selectionStart ?? input.value.length;
    input.value = `${input.value.slice(0, start)}@${name} ${input.value.slice(end)}`;
    const caret = start + name.length + 2;
    input.setSelectionRange(caret, caret);
    close();
    input.dispatchEvent(new Event('input', { bubbles: true }));
  };

  input.addEventListener('input', update);
  input.addEventListener('blur', close);
  input.addEventListener('keydown', (event) => {
    if (!options.length) return;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      active = (active + (event.key === 'ArrowDown' ? 1 : -1) + options.length) % options.length;
      draw();
    } else if (event.key === 'Enter' || event.key === 'Tab') {
      pick(active);
    } else if (event.key === 'Escape') {
      close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  });
}
