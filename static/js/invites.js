// Invite links and open challenges (protocol "Invites and open challenges"): make a link or an
// open challenge, copy or cancel it, see others' open challenges, and on /play/<code> take
// the invite the link carries once the page has a name.
import { $, el, showError } from './ui.js';
import { socket, request, username, on as onConnection } from './connection.js';

const ui = {
  invite: $('#invite-link'),
  open: $('#open-challenge'),
  mine: $('#my-invites'),
  list: $('#open-challenges'),
  offer: $('#invite-offer'),
  status: $('#invite-status'),
};
// The code of the link this page was opened with (/play/<code>), until taken or refused.
let linkCode = (location.pathname.match(/^\/play\/([A-Za-z0-9]{1,32})$/) ?? [])[1] ?? null;
const challenges = new Map(); // code -> open challenge, others' and mine
const mine = new Map(); // code -> my invite (with its url)

const bestOf = () => Number($('#best-of').value);
const say = (text) => { ui.status.textContent = text; };

function drawMine() {
  const items = [...mine.values()].map((inv) => el('li', { class: 'invite-item' },
    el('label', { for: `invite-url-${inv.code}` },
      inv.open ? `Open challenge, best of ${inv.best_of}` : `Invite link, best of ${inv.best_of}`),
    el('input', { id: `invite-url-${inv.code}`, value: inv.url, readonly: true, class: 'invite-url' }),
    el('button', { type: 'button', class: 'small', on: { click: () => copy(inv) } }, 'Copy link'),
    el('button', { type: 'button', class: 'small danger', on: { click: () => cancel(inv.code) } }, 'Cancel')));
  ui.mine.replaceChildren(...items);
  ui.mine.hidden = !items.length;
}

function drawChallenges() {
  const others = [...challenges.values()].filter((c) => c.from !== username());
  ui.list.replaceChildren(...others.map((c) => el('li', { class: 'challenge-item' },
    el('span', {}, `${c.from} is looking for a game, best of ${c.best_of}.`),
    el('button', { type: 'button', class: 'small primary', on: { click: () => accept(c.code) } },
      `Play ${c.from}`))));
  ui.list.hidden = !others.length;
}

async function make(open) {
  const ack = await request('invite', { best_of: bestOf(), open });
  if (!ack.ok) return showError(ack.error);
  mine.set(ack.code, ack);
  drawMine();
  say(open ? 'Your open challenge is listed to everyone in the lobby.'
    : 'Send this link to a friend: whoever opens it first plays you.');
  $(`#invite-url-${ack.code}`)?.select();
}

async function copy(inv) {
  try {
    await navigator.clipboard.writeText(inv.url);
    say('Link copied.');
  } catch {
    $(`#invite-url-${inv.code}`)?.select();
    say('Select the link and copy it.');
  }
}

async function cancel(code) {
  const ack = await request('cancel_invite', { code });
  if (!ack.ok && ack.code !== 'no_such_invite') return showError(ack.error);
  mine.delete(code);
  drawMine();
  say('Invite cancelled.');
}

async function accept(code) {
  const ack = await request('accept_invite', { code });
  if (code === linkCode) {
    linkCode = null;
    ui.offer.hidden = true;
    history.replaceState(null, '', '/');
  }
  if (!ack.ok) return showError(ack.error);
}

async function loadChallenges() {
  const ack = await request('open_challenges', {});
  if (!ack.ok) return;
  challenges.clear();
  for (const c of ack.challenges ?? []) challenges.set(c.code, c);
  drawChallenges();
  const invites = await request('my_invites', {});
  if (!invites.ok) return;
  mine.clear();
  for (const inv of invites.invites ?? []) mine.set(inv.code, inv);
  drawMine();
}

function offerLink() {
  if (!linkCode) return;
  ui.offer.hidden = false;
  ui.offer.replaceChildren(
    el('span', {}, `You opened an invite link. You play as ${username()}.`),
    el('button', { type: 'button', class: 'small primary', id: 'accept-invite',
      on: { click: () => accept(linkCode) } }, 'Accept the invite and play'));
}

export function initInvites() {
  ui.invite.addEventListener('click', () => make(false));
  ui.open.addEventListener('click', () => make(true));
  onConnection('named', () => { loadChallenges(); offerLink(); });
  socket.on('open_challenge', (c) => {
    if (c.action === 'add') challenges.set(c.code, c);
    else challenges.delete(c.code);
    if (c.action === 'remove' && mine.delete(c.code)) drawMine();
    drawChallenges();
  });
  socket.on('invite_accepted', (a) => {
    mine.delete(a.code);
    drawMine();
    say(`${a.by} accepted your invite.`);
  });
  socket.on('invite_ended', (e) => {
    mine.delete(e.code);
    drawMine();
    say(e.reason === 'expired' ? 'Your invite expired.' : 'Your invite ended.');
  });
}
