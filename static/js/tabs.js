// Another tab of this page in this browser (a BroadcastChannel): each tab is its own
// connection, and a new tab starts as a guest of its own, since a guest's session can't be
// shared without closing the other tab's (a resume replaces the connection). So the page says
// so instead of silently showing a stranger's name: "also open in another tab as Ada", and
// how to be Ada here too (a claimed name can be open in several tabs: log in).
const channel = 'BroadcastChannel' in window ? new BroadcastChannel('rps-chat-tabs') : null;
const others = new Map(); // tab id -> {name, claimed}
const me = crypto.randomUUID();
let current = { name: null, claimed: false };
let told = false;
let onOther = () => {};

function post(type) {
  channel?.postMessage({ type, id: me, ...current });
}

/** This tab's name (after naming, a log-in, a claim): the other tabs learn it. */
export function setIdentity(name, claimed) {
  current = { name, claimed: !!claimed };
  post('here');
}

/** fn({name, claimed}) once, when another tab of this page is found while this one is new. */
export function onOtherTab(fn) {
  onOther = fn;
}

export function initTabs({ fresh }) {
  if (!channel) return;
  channel.onmessage = ({ data }) => {
    if (!data || data.id === me) return;
    if (data.type === 'gone') return others.delete(data.id);
    if (typeof data.name === 'string') others.set(data.id, { name: data.name, claimed: !!data.claimed });
    if (data.type === 'hello') post('reply');
    // only a tab that was open before this one (its reply to our hello) is "another tab"
    if (data.type === 'reply' && fresh && !told && typeof data.name === 'string' && data.name !== current.name) {
      told = true;
      onOther(others.get(data.id));
    }
  };
  post('hello');
  window.addEventListener('pagehide', () => post('gone'));
}
