// Moderator tools on the page (issue 25, point 7 and 6): slow mode, removing a user's last
// half hour, lifting a ban, owners' grants, and the open reports as one list to resolve. Shown
// to moderators (body[data-moderator]); the server refuses anyone else, and says why.
import { $, el, timeEl, showError } from './ui.js';
import { request } from './connection.js';

let system = () => {};

async function act(event, payload, done) {
  const ack = await request(event, payload);
  if (!ack.ok) return showError(ack.error);
  done?.(ack);
}

function reportEl(r) {
  const what = r.deleted ? 'a deleted message' : `${r.name}: ${r.txt}`;
  const reasons = r.reasons.map((x) => (x.reason ? `${x.reporter} (${x.reason})` : x.reporter)).join(', ');
  const buttons = [];
  if (!r.deleted) {
    buttons.push(el('button', {
      type: 'button', class: 'small',
      on: { click: () => act('mod_delete', { id: r.message_id }, refreshReports) },
    }, 'Delete the message'));
  }
  buttons.push(el('button', {
    type: 'button', class: 'small',
    on: { click: () => act('mod_resolve', { message_id: r.message_id }, refreshReports) },
  }, 'Resolve'));
  return el('li', { dataset: { messageId: r.message_id } },
    el('p', { class: 'report-what' }, `${r.reports} × `, what, ' ', timeEl(r.ts)),
    el('p', { class: 'report-reasons' }, `Reported by ${reasons}`),
    el('div', { class: 'mod-row' }, ...buttons));
}

export async function refreshReports() {
  if (document.body.dataset.moderator !== 'true') return;
  const ack = await request('mod_reports', {});
  if (!ack.ok) return;
  const list = $('#reports-list');
  list.replaceChildren(...ack.reports.map(reportEl));
  if (!ack.reports.length) list.append(el('li', {}, 'No open reports.'));
}

let owner = false;

/** After naming, and on `role_changed`: an owner who does not moderate sees its grants only. */
export async function checkOwner() {
  const ack = await request('my_roles', {});
  owner = !!ack.ok && ack.roles.includes('owner');
  render();
}

/** body[data-moderator] changed (moderation.checkModerator): show or hide the tools. */
export function render() {
  const moderator = document.body.dataset.moderator === 'true';
  $('#mod-tools').hidden = !moderator && !owner;
  $('#mod-tools').querySelectorAll('.mod-only').forEach((n) => { n.hidden = !moderator; });
  $('#grant-form').hidden = !owner;
  if (moderator) refreshReports();
}

/** `slow_mode {seconds}`, and the join-time history's `slow_mode`. */
export function showSlowMode(seconds) {
  if (!Number.isInteger(seconds)) return;
  const note = $('#slow-mode-note');
  note.hidden = !seconds;
  note.textContent = seconds ? `Slow mode: one message every ${seconds} s.` : '';
  $('#slow-seconds').value = String(seconds);
}

function onSubmit(id, fn) {
  $(id).addEventListener('submit', (event) => {
    event.preventDefault();
    fn(event.submitter);
  });
}

export function initModTools({ addSystem }) {
  system = addSystem;
  onSubmit('#slow-form', () => act('mod_slow', { seconds: Number($('#slow-seconds').value) }));
  onSubmit('#purge-form', () => {
    const user = $('#purge-name').value.trim();
    if (user) act('mod_purge', { user, minutes: 30 }, (ack) => system(`Removed ${ack.deleted} messages of ${user}.`));
  });
  onSubmit('#unban-form', () => {
    const name = $('#unban-name').value.trim();
    if (name) act('mod_unban', { name }, (ack) => system(`${ack.name} is no longer banned.`));
  });
  onSubmit('#grant-form', (submitter) => {
    const name = $('#grant-name').value.trim();
    if (!name) return;
    const grant = submitter?.value !== 'revoke';
    act(grant ? 'mod_grant' : 'mod_revoke', { name },
      (ack) => system(grant ? `${ack.name} is a moderator.` : `${ack.name} is no longer a moderator.`));
  });
  $('#reports-refresh').addEventListener('click', refreshReports);
  new MutationObserver(render).observe(document.body, { attributes: true, attributeFilter: ['data-moderator'] });
}
