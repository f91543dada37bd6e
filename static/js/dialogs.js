// Modal questions (<dialog>: focus stays inside, Escape cancels, focus returns where it was).
import { $, initCounter } from './ui.js';

const dialog = $('#confirm-dialog');
const reasonRow = $('#confirm-reason-row');
const reason = $('#confirm-reason');
const counter = initCounter(reason, $('#confirm-reason-count'));

/** Asks; resolves to null (cancelled) or {reason}. `danger` colours the action; `reason`
 * ({label}) adds an optional text box. */
export function ask({ title, text, action, danger = false, reasonLabel = null }) {
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  const ok = $('#confirm-ok');
  ok.textContent = action;
  ok.classList.toggle('danger-action', danger);
  ok.classList.toggle('primary', !danger);
  reasonRow.hidden = !reasonLabel;
  $('#confirm-reason-label').textContent = reasonLabel ?? '';
  reason.value = '';
  counter.update();
  const back = document.activeElement;
  dialog.returnValue = '';
  dialog.showModal();
  (reasonLabel && !danger ? reason : $('#confirm-cancel')).focus(); // the safe choice first
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      if (back?.isConnected) back.focus();
      resolve(dialog.returnValue === 'ok' ? { reason: reason.value.trim() } : null);
    }, { once: true });
  });
}

dialog.querySelector('form').addEventListener('submit', (event) => {
  if (event.submitter?.value === 'ok' && counter.tooLong()) {
    event.preventDefault();
    reason.focus();
  }
});

$('#confirm-cancel').addEventListener('click', () => dialog.close('cancel'));
