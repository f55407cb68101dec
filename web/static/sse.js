// Server-sent events over fetch(): EventSource cannot send the Authorization
// header, so the text/event-stream format is parsed here. Reconnects with
// exponential backoff and Last-Event-ID.
import { authHeaders, showSignIn, waitForToken } from './api.js';

const sleep = ms => new Promise(r => setTimeout(r, ms));

// EventParser turns text/event-stream chunks into {type, data, id} events
// (WHATWG HTML, "Interpreting an event stream").
export class EventParser {
  constructor(onEvent, onComment = () => {}) {
    this.onEvent = onEvent;
    this.onComment = onComment;
    this.buf = '';
    this.lastEventId = '';
    this.retry = null;
    this.reset();
  }
  reset() { this.type = ''; this.data = []; this.sawData = false; }
  push(chunk) {
    this.buf += chunk;
    for (;;) {
      const i = this.buf.search(/[\r\n]/);
      if (i < 0) return;
      // A CR at the end of the buffer may be the first half of CRLF.
      if (this.buf[i] === '\r' && i === this.buf.length - 1) return;
      const len = this.buf[i] === '\r' && this.buf[i + 1] === '\n' ? 2 : 1;
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + len);
      this.line(line);
    }
  }
  line(line) {
    if (line === '') {
      if (this.sawData) {
        this.onEvent({ type: this.type || 'message', data: this.data.join('\n'), id: this.lastEventId });
      }
      this.reset();
      return;
    }
    if (line[0] === ':') { this.onComment(line.slice(1).trim()); return; }
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value[0] === ' ') value = value.slice(1);
    switch (field) {
      case 'event': this.type = value; break;
      case 'data': this.data.push(value); this.sawData = true; break;
      case 'id': if (!value.includes('\0')) this.lastEventId = value; break;
      case 'retry': if (/^\d+$/.test(value)) this.retry = Number(value); break;
    }
  }
}

// openEvents follows url until stop() is called. handlers: onEvent({type,
// data, id}), onState('connecting' | 'open' | 'reconnecting' | 'signin'),
// onComment(text).
export function openEvents(url, { onEvent, onState = () => {}, onComment = () => {} }) {
  let stopped = false;
  let ctrl = null;
  let lastEventId = '';
  let retry = 2000;
  let failures = 0;
  (async () => {
    while (!stopped) {
      ctrl = new AbortController();
      onState(failures ? 'reconnecting' : 'connecting');
      let gotData = false;
      try {
        const headers = authHeaders({ Accept: 'text/event-stream' });
        if (lastEventId) headers.set('Last-Event-ID', lastEventId);
        const resp = await fetch(url, { headers, signal: ctrl.signal, cache: 'no-store' });
        if (resp.status === 401) {
          onState('signin');
          let detail = '';
          try { detail = (await resp.json()).detail; } catch { /* no body */ }
          showSignIn(detail || 'Sign in to see live data.');
          await waitForToken();
          continue;
        }
        if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
        onState('open');
        const parser = new EventParser(ev => {
          lastEventId = ev.id || lastEventId;
          gotData = true;
          try { onEvent(ev); } catch (err) { console.error('event handler', ev.type, err); }
        }, onComment);
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
          if (parser.retry != null) retry = parser.retry;
        }
      } catch (err) {
        if (stopped) return;
        console.warn('event stream:', err.message);
      }
      if (stopped) return;
      failures = gotData ? 1 : failures + 1;
      onState('reconnecting');
      const delay = Math.min(retry * 2 ** (failures - 1), 30000);
      await sleep(delay * (0.8 + 0.4 * Math.random()));
    }
  })();
  return {
    stop() { stopped = true; ctrl?.abort(); },
    get lastEventId() { return lastEventId; },
  };
}
