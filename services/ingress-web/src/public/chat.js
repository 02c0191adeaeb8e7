// Web chat client: one WebSocket, authenticated by its first frame; reconnects with backoff and asks
// for the replies it missed (`since`), dropping any it has already shown.
const $ = (id) => document.getElementById(id);
const log = $('log');
const shown = new Set();
let ws;
let lastReplyAt;
let retryMs = 500;
let session;

function add(role, text, extra = '') {
  const div = document.createElement('div');
  div.className = `msg ${role} ${extra}`;
  div.textContent = text;
  log.append(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

function setStatus(text, online) {
  $('status').textContent = text;
  $('status').classList.toggle('online', online);
}

function connect() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(`${proto}//${location.host}/v1/ws`);
  ws.onopen = () =>
    ws.send(
      JSON.stringify({
        type: 'auth',
        token: session.token,
        conversationId: session.conversationId,
        since: lastReplyAt,
      }),
    );
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === 'ready') {
      retryMs = 500;
      setStatus('connected', true);
      $('composer').hidden = false;
      $('login').hidden = true;
    } else if (m.type === 'reply') {
      if (shown.has(m.id)) return;
      shown.add(m.id);
      lastReplyAt = m.createdAt;
      add('assistant', m.text, m.status === 'error' ? 'error' : '');
    } else if (m.type === 'error') {
      add('assistant', `⚠ ${m.message}`, 'error');
    }
  };
  ws.onclose = (ev) => {
    setStatus('disconnected', false);
    if (ev.code === 4401) {
      $('login').hidden = false;
      $('composer').hidden = true;
      return;
    }
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10_000);
  };
}

$('conversation').value = localStorage.getItem('sb.conversation') || `web-${crypto.randomUUID().slice(0, 8)}`;
$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  session = { token: $('token').value, conversationId: $('conversation').value };
  localStorage.setItem('sb.conversation', session.conversationId);
  connect();
});
$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text || ws?.readyState !== WebSocket.OPEN) return;
  ws.send(JSON.stringify({ type: 'message', text, id: crypto.randomUUID() }));
  add('user', text);
  $('text').value = '';
});
$('text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    $('composer').requestSubmit();
  }
});
