// A finished game's page (/game/<id>): replays the rounds of the table below the board, one at
// a time, with the live board's look, and checks every computer round's commitment here.
import { opens } from './fairness.js';

const MOVES = { rock: '✊ Rock', paper: '✋ Paper', scissors: '✌️ Scissors' };
const STEP_MS = 1200;

const section = document.querySelector('.replay');
const rows = [...document.querySelectorAll('#rounds-table tr.round-row')];
const players = JSON.parse(section?.dataset.players ?? '[]');
const ui = {
  round: document.querySelector('#replay-round'),
  score: document.querySelector('#replay-score'),
  result: document.querySelector('#replay-result'),
  controls: document.querySelector('.replay-controls'),
  start: document.querySelector('#replay-start'),
  prev: document.querySelector('#replay-prev'),
  next: document.querySelector('#replay-next'),
  play: document.querySelector('#replay-play'),
};
let shown = rows.length; // rounds shown: 0 (before the first) .. rows.length (the end)
let timer = null;

function span(cls, text) {
  const node = document.createElement(cls === 'score-points' ? 'strong' : 'span');
  node.className = cls;
  node.textContent = text;
  return node;
}

function draw() {
  const [a, b] = players;
  const row = rows[shown - 1];
  const scoreA = row ? row.dataset.scoreA : '0';
  const scoreB = row ? row.dataset.scoreB : '0';
  ui.score.replaceChildren(span('score-name', a), ' ', span('score-points', scoreA), ' – ',
    span('score-points', scoreB), ' ', span('score-name', b));
  ui.round.textContent = String(shown);
  if (row) {
    const moveOf = (move) => MOVES[move] ?? 'no move';
    const winner = row.dataset.winner;
    const timeout = row.dataset.timeout ? ' (time ran out)' : '';
    ui.result.textContent = `Round ${row.dataset.round}: ${a}: ${moveOf(row.dataset.moveA)}, `
      + `${b}: ${moveOf(row.dataset.moveB)}. ${winner ? `${winner} wins the round` : 'Draw'}${timeout}.`;
    ui.result.dataset.outcome = winner ? (winner === a ? 'won' : 'lost') : 'draw';
  } else {
    ui.result.textContent = 'Before the first round.';
    ui.result.dataset.outcome = '';
  }
  rows.forEach((r, i) => r.classList.toggle('current', i === shown - 1));
  ui.start.disabled = ui.prev.disabled = shown === 0;
  ui.next.disabled = shown === rows.length;
  ui.play.textContent = timer ? 'Pause' : 'Play';
}

function go(to) {
  shown = Math.max(0, Math.min(rows.length, to));
  if (shown === rows.length) stop();
  draw();
}

function stop() {
  clearInterval(timer);
  timer = null;
}

function togglePlay() {
  if (timer) {
    stop();
  } else {
    if (shown === rows.length) shown = 0;
    timer = setInterval(() => go(shown + 1), STEP_MS);
  }
  draw();
}

async function verifyRounds() {
  for (const row of rows) {
    if (!row.dataset.commit) continue;
    const ok = await opens(row.dataset.commit, row.dataset.moveB, row.dataset.salt);
    if (ok === null) continue; // no Web Crypto here: the server's verdict stays
    const cell = row.querySelector('.verdict');
    cell.textContent = ok ? 'verified' : 'NOT verified: the move does not match its commitment';
    cell.dataset.checked = 'browser';
  }
}

if (section && rows.length) {
  ui.controls.hidden = false;
  ui.start.addEventListener('click', () => { stop(); go(0); });
  ui.prev.addEventListener('click', () => { stop(); go(shown - 1); });
  ui.next.addEventListener('click', () => { stop(); go(shown + 1); });
  ui.play.addEventListener('click', togglePlay);
  draw();
}
verifyRounds();
