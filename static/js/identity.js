// Who you are: your name (change it), claiming it with a password, logging in to a claimed
// name: three separate actions, each a form that Enter submits. A success clears the errors
// it answered and says what happened; a refused rename puts your name back in the box.
import { $, clearErrors, initCounter, showError } from './ui.js';
import * as conn from './connection.js';
import * as store from './storage.js';

const ui = {
  name: $('#my-name'),
  lock: $('#my-lock'),
  nameForm: $('#name-form'),
  nameInput: $('#name-input'),
  claimToggle: $('#claim-toggle'),
  loginToggle: $('#login-toggle'),
  claimForm: $('#claim-form'),
  claimShown: $('#claim-name-shown'),
  claimPassword: $('#claim-password'),
  loginForm: $('#login-form'),
  loginName: $('#login-name'),
  loginPassword: $('#login-password'),
};

let say = () => {};
let onIdentity = () => {};
let nameCounter = null;

const claimed = () => {
  const mine = store.getClaimed();
  return !!mine && mine.toLocaleLowerCase() === (conn.username() ?? '').toLocaleLowerCase();
};

/** Draws the name, the lock and which actions make sense (a claimed name is kept). */
export function render() {
  const name = conn.username() ?? '';
  ui.name.textContent = name;
  ui.claimShown.textContent = name;
  ui.lock.hidden = !claimed();
  ui.nameForm.hidden = claimed();
  ui.claimToggle.hidden = claimed();
  ui.loginToggle.hidden = claimed();
  if (claimed()) {
    ui.claimForm.hidden = true;
    ui.loginForm.hidden = true;
  }
  if (!ui.nameInput.dataset.edited && document.activeElement !== ui.nameInput) ui.nameInput.value = name;
  document.body.dataset.username = name;
  document.body.dataset.claimed = String(claimed());
}

function disclose(toggle, form, other, otherToggle) {
  toggle.addEventListener('click', () => {
    const open = form.hidden;
    form.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    if (open) {
      other.hidden = true;
      otherToggle.setAttribute('aria-expanded', 'false');
      form.querySelector('input:not([value]), input')?.focus();
    }
  });
}

function closeForms() {
  for (const [form, toggle] of [[ui.claimForm, ui.claimToggle], [ui.loginForm, ui.loginToggle]]) {
    form.hidden = true;
    toggle.setAttribute('aria-expanded', 'false');
  }
}

async function changeName(event) {
  event.preventDefault();
  const name = ui.nameInput.value.trim();
  if (!name || name === conn.username()) return;
  if (nameCounter.tooLong()) return showError(`A name can be at most ${nameCounter.max} characters.`);
  const ack = await conn.rename(name);
  delete ui.nameInput.dataset.edited;
  if (!ack.ok) {
    showError(ack.error);
    ui.nameInput.value = conn.username() ?? ''; // the box shows the name you have
    nameCounter.update();
    return;
  }
  clearErrors();
  say(`You are now known as ${ack.username}.`);
  render();
}

async function claim(event) {
  event.preventDefault();
  if (!conn.isNamed()) return showError('You are not connected.');
  const ack = await conn.request('claim_name', { password: ui.claimPassword.value });
  if (!ack.ok) return showError(ack.error);
  ui.claimPassword.value = '';
  clearErrors();
  store.setClaimed(ack.username);
  store.setDevice(ack.username, ack.device); // later log-ins from here send it
  closeForms();
  say(`You claimed ${ack.username}: log in with its password from any device.`);
  render();
  onIdentity();
}

async function logIn(event) {
  event.preventDefault();
  const name = ui.loginName.value.trim();
  if (!name) return ui.loginName.focus();
  const ack = await conn.rename(name, ui.loginPassword.value);
  if (!ack.ok) return showError(ack.error);
  ui.loginPassword.value = '';
  ui.loginName.value = '';
  clearErrors();
  store.setClaimed(ack.username);
  closeForms();
  say(`Welcome back, ${ack.username}.`);
  render();
  onIdentity();
}

/** say(text) adds a line to the chat; changed() runs after a claim or a log-in. */
export function initIdentity({ system, changed }) {
  say = system;
  onIdentity = changed;
  nameCounter = initCounter(ui.nameInput, $('#name-count'));
  ui.nameInput.addEventListener('input', () => { ui.nameInput.dataset.edited = 'true'; });
  ui.nameForm.addEventListener('submit', changeName);
  ui.claimForm.addEventListener('submit', claim);
  ui.loginForm.addEventListener('submit', logIn);
  disclose(ui.claimToggle, ui.claimForm, ui.loginForm, ui.loginToggle);
  disclose(ui.loginToggle, ui.loginForm, ui.claimForm, ui.claimToggle);
  render();
}
