// gallery.js - the page at GET /: stored images newest first (GET /api/images,
// keyset pages as the user scrolls), live additions from GET /api/events,
// an upload form posting to POST /api/images without leaving the page.
// Plain JavaScript, no framework, nothing from another host.
'use strict';
(() => {
  const PAGE = 24;
  const MAX_CHARS = 200; // code points, as the api counts them
  const TOKEN_KEY = 'imgcap-token';
  const FIELD_NAMES = { image: 'Image', description: 'Description' };

  const $ = (id) => document.getElementById(id);
  const gallery = $('gallery');
  const galleryStatus = $('gallery-status');
  const moreButton = $('more');
  const live = $('live');
  const form = $('upload');
  const fileInput = $('image');
  const desc = $('description');
  const count = $('description-count');
  const alertBox = $('upload-error');
  const uploadStatus = $('upload-status');
  const tokenBox = $('token-box');
  const tokenInput = $('token');
  const viewer = $('viewer');
  const viewerImg = $('viewer-img');
  const viewerCaption = $('viewer-caption');

  let next = `/api/images?limit=${PAGE}`; // the next page, null after the last
  let loading = false;
  const shown = new Map(); // id -> its <figure>

  // ---- the API token (uploads), kept for this browser session ----

  tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || '';
  tokenBox.open = tokenInput.value !== '';
  tokenInput.addEventListener('input', () => {
    const t = tokenInput.value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  });
  function authHeaders() {
    const t = tokenInput.value.trim();
    return t ? { Authorization: `Bearer ${t}` } : {};
  }

  // ---- figures ----

  const codePoints = (s) => Array.from(s).length;

  function localTime(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
  }

  // The upload time is in the first 48 bits of a UUIDv7 id.
  function timeOfId(id) {
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    return Number.isFinite(ms) ? new Date(ms).toISOString() : '';
  }

  // item: {id, url, description, received_at}; state: stored, pending or
  // failed (with reason).
  function figure(item, state, reason) {
    const fig = document.createElement('figure');
    fig.className = `item ${state}`;
    fig.dataset.id = item.id;
    if (reason) fig.dataset.reason = reason;
    if (state === 'stored') {
      const link = document.createElement('a');
      link.href = item.url;
      link.className = 'open';
      const img = document.createElement('img');
      img.src = item.url;
      img.alt = item.description;
      img.loading = 'lazy';
      img.decoding = 'async';
      link.append(img);
      link.addEventListener('click', (e) => {
        e.preventDefault();
        openViewer(item);
      });
      fig.append(link);
    } else {
      const box = document.createElement('div');
      box.className = 'placeholder';
      box.textContent = state === 'pending'
        ? 'Processing…'
        : `Failed: ${reason || 'the image could not be processed'}`;
      fig.append(box);
    }
    const caption = document.createElement('figcaption');
    const text = document.createElement('span');
    text.className = 'desc';
    text.textContent = item.description || '(description unknown)';
    caption.append(text);
    const at = item.received_at || timeOfId(item.id);
    if (at) {
      const time = document.createElement('time');
      time.dateTime = at;
      time.textContent = localTime(at);
      caption.append(time);
    }
    fig.append(caption);
    return fig;
  }

  // Puts fig in its place, newest first: ids are UUIDv7, ordered by upload
  // time. Replaces the figure the id had.
  function place(id, fig) {
    const old = shown.get(id);
    shown.set(id, fig);
    if (old) {
      old.replaceWith(fig);
    } else {
      const last = gallery.lastElementChild;
      if (!last || last.dataset.id > id) {
        gallery.append(fig);
      } else {
        const after = Array.from(gallery.children).find((el) => el.dataset.id < id);
        gallery.insertBefore(fig, after || null);
      }
    }
    galleryStatus.textContent = '';
  }

  const stateOf = (id) => {
    const fig = shown.get(id);
    return fig ? fig.className.replace('item ', '') : null;
  };

  function showStored(item) {
    if (stateOf(item.id) !== 'stored') place(item.id, figure(item, 'stored'));
  }

  function showFailed(id, reason) {
    if (stateOf(id) === 'failed') return;
    const old = shown.get(id);
    const item = { id, description: '', received_at: '' };
    if (old) {
      item.description = old.querySelector('.desc').textContent;
      const t = old.querySelector('time');
      item.received_at = t ? t.dateTime : '';
    }
    place(id, figure(item, 'failed', reason));
  }

  // ---- the list, page by page ----

  async function problemDetail(r) {
    try {
      const doc = await r.json();
      return doc.detail || `HTTP ${r.status}`;
    } catch {
      return `HTTP ${r.status}`;
    }
  }

  function nearBottom() {
    return galleryStatus.getBoundingClientRect().top < window.innerHeight + 600;
  }

  async function loadMore() {
    if (loading || !next) return;
    loading = true;
    galleryStatus.textContent = 'Loading…';
    try {
      const r = await fetch(next, { headers: authHeaders() });
      if (!r.ok) throw new Error(await problemDetail(r));
      const page = await r.json();
      for (const item of page.items) showStored(item);
      next = page.next;
      galleryStatus.textContent = shown.size ? '' : 'No images yet: upload one above.';
    } catch (e) {
      galleryStatus.textContent = `The images cannot be loaded: ${e.message}`;
      loading = false;
      moreButton.hidden = !next;
      return;
    }
    loading = false;
    moreButton.hidden = !next;
    if (next && nearBottom()) loadMore(); // a tall window shows the whole page
  }

  // After the event stream was interrupted: what was stored meanwhile is on
  // the first page (events are not replayed).
  async function catchUp() {
    try {
      const r = await fetch(`/api/images?limit=${PAGE}`, { headers: authHeaders() });
      if (r.ok) for (const item of (await r.json()).items) showStored(item);
    } catch {
      // the next reconnection tries again
    }
  }

  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  }, { rootMargin: '600px' }).observe(galleryStatus);
  moreButton.addEventListener('click', loadMore);

  // ---- live events ----

  let events = null;
  let everOpen = false;
  function connect() {
    events = new EventSource('/api/events');
    events.onopen = () => {
      live.textContent = 'live';
      live.classList.add('on');
      if (everOpen) catchUp();
      everOpen = true;
    };
    events.addEventListener('stored', (e) => showStored(JSON.parse(e.data)));
    events.addEventListener('failed', (e) => {
      const d = JSON.parse(e.data);
      showFailed(d.id, d.reason);
    });
    events.onerror = () => {
      live.textContent = 'reconnecting…';
      live.classList.remove('on');
      // EventSource retries by itself unless the server refused (503).
      if (events.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    };
  }

  // ---- upload ----

  function updateCount() {
    const left = MAX_CHARS - codePoints(desc.value);
    count.textContent = left >= 0 ? `${left} characters left` : `${-left} characters too many`;
    count.classList.toggle('over', left < 0);
  }
  desc.addEventListener('input', updateCount);

  const sentence = (s) => (s ? s.charAt(0).toUpperCase() + s.slice(1).replace(/\.?$/, '.') : '');

  function showAlert(headline, lines) {
    const p = document.createElement('p');
    p.textContent = headline;
    const parts = [p];
    if (lines.length) {
      const ul = document.createElement('ul');
      for (const line of lines) {
        const li = document.createElement('li');
        li.textContent = line;
        ul.append(li);
      }
      parts.push(ul);
    }
    alertBox.replaceChildren(...parts);
  }

  async function showProblem(r) {
    let doc = {};
    try {
      doc = await r.json();
    } catch {
      // not a problem document: the status says enough
    }
    let headline = sentence(doc.detail) || `The upload failed (HTTP ${r.status}).`;
    if (r.status === 401) {
      headline = 'This server needs an API token for uploads. Enter it under “API token” ' +
        'and upload again.';
      tokenBox.open = true;
      tokenInput.focus();
    } else if (r.status === 503) {
      headline = `${headline} Try again in a moment.`;
    }
    const lines = (doc.errors || []).map((e) =>
      `${FIELD_NAMES[e.field] || e.field}: ${sentence(e.message)}`);
    showAlert(headline, lines);
  }

  // The event stream says when an upload is stored; when it is not open,
  // or says nothing for a while, ?wait asks the api directly.
  async function watch(item) {
    const delay = events && events.readyState === EventSource.OPEN ? 15000 : 0;
    await new Promise((resolve) => setTimeout(resolve, delay));
    for (let i = 0; i < 10 && stateOf(item.id) === 'pending'; i++) {
      try {
        const r = await fetch(`/api/images/${item.id}?wait=20`, { headers: authHeaders() });
        if (r.status === 200) return showStored({ ...item, url: `/api/images/${item.id}` });
        if (r.status === 422) return showFailed(item.id, await problemDetail(r));
        if (r.status === 404) return undefined;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
    return undefined;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alertBox.replaceChildren();
    const file = fileInput.files[0];
    const problems = [];
    if (!file) problems.push('Image: Choose a JPEG file.');
    const n = codePoints(desc.value);
    if (n === 0) problems.push('Description: Write one (1 to 200 characters).');
    if (n > MAX_CHARS) problems.push(`Description: ${n - MAX_CHARS} characters too many.`);
    if (problems.length) {
      showAlert('The upload needs a few changes.', problems);
      return;
    }
    const body = new FormData();
    body.append('image', file);
    body.append('description', desc.value);
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    uploadStatus.textContent = 'Uploading…';
    try {
      const r = await fetch('/api/images', { method: 'POST', body, headers: authHeaders() });
      if (r.status === 202) {
        const accepted = await r.json();
        uploadStatus.textContent = 'Uploaded: it appears below once it is captioned.';
        fileInput.value = '';
        desc.value = '';
        updateCount();
        // Its event may have come first (a failure is quick) without the
        // description, which the answer has.
        const state = stateOf(accepted.id);
        if (!state) place(accepted.id, figure(accepted, 'pending'));
        if (state === 'failed') {
          const { reason } = shown.get(accepted.id).dataset;
          place(accepted.id, figure(accepted, 'failed', reason));
        }
        watch(accepted);
      } else {
        uploadStatus.textContent = '';
        await showProblem(r);
      }
    } catch (err) {
      uploadStatus.textContent = '';
      showAlert(`The upload did not reach the server (${err.message}).`, []);
    } finally {
      button.disabled = false;
    }
  });

  // ---- full size ----

  function openViewer(item) {
    viewerImg.src = item.url;
    viewerImg.alt = item.description;
    viewerCaption.textContent = `${item.description} — ${localTime(item.received_at)}`;
    viewer.showModal();
  }
  viewer.addEventListener('click', (e) => {
    if (e.target === viewer) viewer.close(); // a click outside the picture
  });

  updateCount();
  loadMore();
  connect();
})();
