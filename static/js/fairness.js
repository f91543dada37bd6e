// Provably fair computer rounds (docs/protocol.md, "Provably fair computer rounds"): the
// page checks each round itself, with the browser's SHA-256, that the computer's move and the
// revealed salt open the commitment it was sent before it threw.

/** Whether sha256("<move>:<salt>") is `commit`; null when it can't be checked (a missing
 * field, or no Web Crypto: pages served over plain HTTP from another host have none). */
export async function opens(commit, move, salt) {
  if (!commit || !move || !salt || !globalThis.crypto?.subtle) return null;
  const bytes = new TextEncoder().encode(`${move}:${salt}`);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  return hex === commit;
}

/** The words beside a checked round. */
export function verdictText(verified) {
  if (verified === true) return 'verified';
  if (verified === false) return 'NOT verified: the move does not match its commitment';
  return '';
}
