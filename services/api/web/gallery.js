// gallery.js - the page at GET /: stored images newest first (GET /api/images,
// keyset pages as the user scrolls) narrowed by the filter bar (q, from, to,
// camera, kept in the page's address), live additions and deletions from
// GET /api/events, an upload form posting to POST /api/images without leaving
// the page, deleting with DELETE /api/images/{id} once the API token is known.
// Plain JavaScript, no framework, nothing from another host.
'use strict';
(() => {
  const PAGE = 24;
  const MAX_CHARS = 200; // code points, as the api counts them
  const DEBOUNCE_MS = 300;
  const TOKEN_KEY = 'imgcap-token';
  const CAMERA_RE = /^[A-Za-z0-9._-]{1,64}$/; // the api's rule for a camera name
  const FIELD_NAMES = { image: 'Image', description: 'Description', camera: 'Camera' };
  const FILTERS = ['q', 'from', 'to', 'camera'];

  const $ = (id) => document.getElementById(id);
  const gallery = $('gallery');
  const galleryStatus = $('gallery-status');
  const notice = $('notice');
  const moreButton = $('more');
  const live = $('live');
  const form = $('upload');
  const fileInput = $('image');
  const cameraInput = $('camera');
  const desc = $('description');
  const count = $('description-count');
  const alertBox = $('upload-error');
  const uploadStatus = $('upload-status');
  const tokenBox = $('token-box');
  const tokenInput = $('token');
  const viewer = $('viewer');
  const viewerImg = $('viewer-img');
  const viewerCaption = $('viewer-caption');
  const confirmBox = $('confirm');
  const confirmText = $('confirm-text');
  const confirmError = $('confirm-error');
  const confirmDelete = $('confirm-delete');
  const signinButton = $('signin-button');
  const signin = $('signin');
  const signinToken = $('signin-token');
  const filterInputs = {
    q: $('f-q'), from: $('f-from'), to: $('f-to'), camera: $('f-camera'),
  };

  let active = {}; // the filters in force: q, from, to (RFC 3339), camera
  let next = null; // the next page, null after the last
  let loading = false;
  let generation = 0; // bumped by every new filter: older answers are dropped
  let controller = null; // aborts the list request of older filters
  const shown = new Map(); // id -> its <figure>

  // ---- the API token (uploads, deleting), kept for this browser session ----

  const token = () => tokenInput.value.trim();
  function authHeaders() {
    const t = token();
    return t ? { Authorization: `Bearer ${t}` } : {};
  }
  function tokenChanged() {
    const t = token();
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
    document.body.classList.toggle('can-delete', t !== '');
    signinButton.textContent = t ? 'Sign out' : 'Sign in to delete';
  }
  tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || '';
  tokenBox.open = tokenInput.value !== '';
  tokenInput.addEventListener('input', tokenChanged);
  tokenChanged();

  signinButton.addEventListener('click', () => {
    if (token()) {
      tokenInput.value = '';
      tokenChanged();
      notice.textContent = 'Signed out: the token is forgotten.';
      return;
    }
    signinToken.value = '';
    signin.returnValue = '';
    signin.showModal();
  });
  $('signin-cancel').addEventListener('click', () => signin.close('cancel'));
  signin.addEventListener('close', () => {
    if (signin.returnValue !== 'ok' || !signinToken.value.trim()) return;
    tokenInput.value = signinToken.value.trim();
    signinToken.value = '';
    tokenChanged();
    notice.textContent = 'Signed in: each image has a Delete button.';
  });

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

  // item: {id, url, thumbnail_url, description, camera, received_at}; state:
  // stored, pending or failed (with reason).
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
      img.alt = item.description;
      img.loading = 'lazy';
      img.decoding = 'async';
      if (item.thumbnail_url) {
        // A thumbnail that cannot be had (deleted meanwhile, an older api)
        // gives way to the image once.
        img.addEventListener('error', () => {
          if (img.getAttribute('src') !== item.url) img.src = item.url;
        }, { once: true });
      }
      img.src = item.thumbnail_url || item.url;
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
    const meta = document.createElement('span');
    meta.className = 'meta';
    const at = item.received_at || timeOfId(item.id);
    if (at) {
      const time = document.createElement('time');
      time.dateTime = at;
      time.textContent = localTime(at);
      meta.append(time);
    }
    if (item.camera) {
      const cam = document.createElement('span');
      cam.className = 'camera';
      cam.textContent = item.camera;
      meta.append(cam);
    }
    caption.append(meta);
    if (state === 'stored') {
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'delete danger small';
      del.textContent = 'Delete';
      del.setAttribute('aria-label', `Delete “${item.description}”`);
      del.addEventListener('click', () => askDelete(item));
      caption.append(del);
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

  function unplace(id) {
    const fig = shown.get(id);
    if (!fig) return;
    shown.delete(id);
    fig.remove();
    if (!shown.size && !next) galleryStatus.textContent = emptyText();
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
    // Whether another client's upload matches the filters cannot be told
    // from its failure: with filters, only the shown ones are marked.
    if (!old && filtering()) return;
    const item = { id, description: '', received_at: '' };
    if (old) {
      item.description = old.querySelector('.desc').textContent;
      const t = old.querySelector('time');
      item.received_at = t ? t.dateTime : '';
      const cam = old.querySelector('.camera');
      if (cam) item.camera = cam.textContent;
    }
    place(id, figure(item, 'failed', reason));
  }

  // ---- filters ----

  const pad = (n) => String(n).padStart(2, '0');

  // A datetime-local value (the viewer's local time) as RFC 3339 in UTC.
  function toRfc3339(local) {
    const d = new Date(local);
    if (!local || Number.isNaN(d.getTime())) return '';
    return d.toISOString().replace('.000Z', 'Z');
  }

  // RFC 3339 as a datetime-local value in the viewer's local time.
  function toLocalInput(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  // The filters as the inputs say now.
  function readFilters() {
    const f = {};
    const q = filterInputs.q.value;
    if (q.trim() !== '') f.q = q;
    for (const name of ['from', 'to']) {
      const v = toRfc3339(filterInputs[name].value);
      if (v) f[name] = v;
    }
    const cam = filterInputs.camera.value.trim();
    if (cam) f.camera = cam;
    return f;
  }

  const filtering = () => Object.keys(active).length > 0;
  const sameFilters = (a, b) => FILTERS.every((k) => (a[k] || '') === (b[k] || ''));

  function listUrl() {
    const p = new URLSearchParams({ limit: String(PAGE) });
    for (const k of FILTERS) if (active[k]) p.set(k, active[k]);
    // A space as %20: URLSearchParams writes "+", which not every parser reads
    // as a space (a "+" of the value itself is %2B).
    return `/api/images?${p.toString().replace(/\+/g, '%20')}`;
  }

  // Whether a stored image belongs in the filtered list (the api's rules:
  // camera exact, q a case-insensitive substring, from <= received_at < to).
  function matches(item) {
    if (active.camera && item.camera !== active.camera) return false;
    if (active.q && !(item.description || '').toLocaleLowerCase()
      .includes(active.q.toLocaleLowerCase())) return false;
    const at = Date.parse(item.received_at || timeOfId(item.id));
    if (active.from && !(at >= Date.parse(active.from))) return false;
    if (active.to && !(at < Date.parse(active.to))) return false;
    return true;
  }

  function clearFieldErrors() {
    for (const k of FILTERS) {
      $(`f-${k}-error`).textContent = '';
      filterInputs[k].removeAttribute('aria-invalid');
    }
  }

  // Shows a 422's field errors next to the filters they name; true when it
  // named at least one.
  function showFieldErrors(doc) {
    let named = false;
    for (const e of doc.errors || []) {
      if (!FILTERS.includes(e.field)) continue;
      $(`f-${e.field}-error`).textContent = sentence(e.message);
      filterInputs[e.field].setAttribute('aria-invalid', 'true');
      named = true;
    }
    return named;
  }

  // The page's address carries the filters, so a filtered view can be
  // bookmarked and reloaded.
  function writeAddress() {
    const p = new URLSearchParams();
    for (const k of FILTERS) if (active[k]) p.set(k, active[k]);
    const search = p.toString();
    const url = `${window.location.pathname}${search ? `?${search}` : ''}${window.location.hash}`;
    if (url !== `${window.location.pathname}${window.location.search}${window.location.hash}`)
      window.history.replaceState(null, '', url);
  }

  function readAddress() {
    const p = new URLSearchParams(window.location.search);
    const f = {};
    for (const k of FILTERS) {
      const v = p.get(k);
      if (v) f[k] = v;
    }
    filterInputs.q.value = f.q || '';
    filterInputs.camera.value = f.camera || '';
    // A time that is no time still goes to the api, which says what is wrong.
    filterInputs.from.value = f.from ? toLocalInput(f.from) : '';
    filterInputs.to.value = f.to ? toLocalInput(f.to) : '';
    return f;
  }

  // The list again from its first page with filters f.
  function reload(f) {
    active = f;
    writeAddress();
    clearFieldErrors();
    generation++;
    if (controller) controller.abort();
    controller = null;
    loading = false;
    shown.clear();
    gallery.replaceChildren();
    next = listUrl();
    loadMore();
  }

  function filtersChanged() {
    const f = readFilters();
    if (!sameFilters(f, active)) reload(f);
  }

  let debounce = null;
  function filtersTyped() {
    clearTimeout(debounce);
    debounce = setTimeout(filtersChanged, DEBOUNCE_MS);
  }
  for (const k of ['q', 'camera']) filterInputs[k].addEventListener('input', filtersTyped);
  for (const k of ['from', 'to']) {
    filterInputs[k].addEventListener('input', filtersTyped);
    filterInputs[k].addEventListener('change', filtersTyped);
  }
  $('filters').addEventListener('submit', (e) => {
    e.preventDefault(); // Enter: at once
    clearTimeout(debounce);
    filtersChanged();
  });
  $('f-clear').addEventListener('click', () => {
    clearTimeout(debounce);
    for (const k of FILTERS) filterInputs[k].value = '';
    filtersChanged();
    clearFieldErrors();
    filterInputs.q.focus();
  });

  // ---- the list, page by page ----

  async function readProblem(r) {
    try {
      return await r.json();
    } catch {
      return {}; // not a problem document: the status says enough
    }
  }

  function nearBottom() {
    return galleryStatus.getBoundingClientRect().top < window.innerHeight + 600;
  }

  const emptyText = () => (filtering()
    ? 'No images match these filters.'
    : 'No images yet: upload one above.');

  async function loadMore() {
    if (loading || !next) return;
    loading = true;
    const mine = generation;
    controller = new AbortController();
    galleryStatus.textContent = 'Loading…';
    try {
      const r = await fetch(next, { headers: authHeaders(), signal: controller.signal });
      if (!r.ok) {
        const doc = await readProblem(r);
        if (mine !== generation) return;
        if (r.status === 422 && showFieldErrors(doc)) {
          next = null;
          loading = false;
          moreButton.hidden = true;
          galleryStatus.textContent =
            'No images: a filter is not valid (see the message next to it).';
          return;
        }
        throw new Error(doc.detail || `HTTP ${r.status}`);
      }
      const page = await r.json();
      if (mine !== generation) return;
      for (const item of page.items) showStored(item);
      next = page.next;
      galleryStatus.textContent = shown.size ? '' : emptyText();
    } catch (e) {
      if (mine !== generation) return;
      galleryStatus.textContent = `The images cannot be loaded: ${e.message}`;
      loading = false;
      moreButton.hidden = !next;
      return;
    }
    loading = false;
    moreButton.hidden = !next;
    if (next && nearBottom()) loadMore(); // a tall window shows the whole page
  }

  // After the event stream was interrupted: what was stored (or deleted)
  // meanwhile shows on the first page (events are not replayed).
  async function catchUp() {
    const mine = generation;
    try {
      const r = await fetch(listUrl(), { headers: authHeaders() });
      if (!r.ok || mine !== generation) return;
      const items = (await r.json()).items;
      if (mine !== generation) return;
      for (const item of items) showStored(item);
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
    events.addEventListener('stored', (e) => {
      const item = JSON.parse(e.data);
      if (shown.has(item.id) || matches(item)) showStored(item);
    });
    events.addEventListener('failed', (e) => {
      const d = JSON.parse(e.data);
      showFailed(d.id, d.reason);
    });
    events.addEventListener('deleted', (e) => gone(JSON.parse(e.data).id));
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
    const doc = await readProblem(r);
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
        if (stateOf(item.id) !== 'pending') return undefined;
        if (r.status === 200) return showStored({ ...item, url: `/api/images/${item.id}` });
        if (r.status === 422) return showFailed(item.id, (await readProblem(r)).detail);
        if (r.status === 404) return unplace(item.id);
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
    return undefined;
  }

  // The Idempotency-Key of the upload being tried: a new one for each upload,
  // the same one while the same image, description and camera are submitted
  // again after an answer that was not final (none arrived, 503, 409), so
  // that a retry is answered with the first try's id if that try was stored,
  // and never stores the image twice.
  let attempt = null; // { sig, key }
  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    // randomUUID needs a secure context (HTTPS or localhost); a camera
    // network often serves plain HTTP: 122 random bits, the UUIDv4 layout.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  function uploadKey(file, description, camera) {
    const sig = [file.name, file.size, file.lastModified, description, camera].join('\u0000');
    if (!attempt || attempt.sig !== sig) attempt = { sig, key: newKey() };
    return attempt.key;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alertBox.replaceChildren();
    const file = fileInput.files[0];
    const camera = cameraInput.value.trim();
    const problems = [];
    if (!file) problems.push('Image: Choose a JPEG file.');
    const n = codePoints(desc.value);
    if (n === 0) problems.push('Description: Write one (1 to 200 characters).');
    if (n > MAX_CHARS) problems.push(`Description: ${n - MAX_CHARS} characters too many.`);
    if (camera && !CAMERA_RE.test(camera)) {
      problems.push('Camera: Use 1 to 64 characters of A–Z, a–z, 0–9, “.”, “_” and “-”, ' +
        'or leave it empty.');
    }
    cameraInput.toggleAttribute('aria-invalid', camera !== '' && !CAMERA_RE.test(camera));
    if (problems.length) {
      showAlert('The upload needs a few changes.', problems);
      return;
    }
    const body = new FormData();
    body.append('image', file);
    body.append('description', desc.value);
    if (camera) body.append('camera', camera);
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    uploadStatus.textContent = 'Uploading…';
    try {
      const key = uploadKey(file, desc.value, camera);
      const r = await fetch('/api/images',
        { method: 'POST', body, headers: { ...authHeaders(), 'Idempotency-Key': key } });
      // Answered for good: the next submission is a new upload.
      if (r.status !== 503 && r.status !== 409) attempt = null;
      if (r.status === 202) {
        const accepted = await r.json();
        if (accepted.camera === undefined) accepted.camera = camera || null;
        fileInput.value = '';
        desc.value = '';
        updateCount();
        if (!matches(accepted)) {
          uploadStatus.textContent = 'Uploaded; it is not shown: it does not match the filters.';
          return;
        }
        uploadStatus.textContent = 'Uploaded: it appears below once it is captioned.';
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

  let viewing = null; // the item in the viewer

  function caption(item) {
    const parts = [item.description, localTime(item.received_at || timeOfId(item.id))];
    if (item.camera) parts.push(`camera ${item.camera}`);
    return parts.join(' — ');
  }

  function openViewer(item) {
    viewing = item;
    viewerImg.src = item.url;
    viewerImg.alt = item.description;
    viewerCaption.textContent = caption(item);
    viewer.showModal();
  }
  viewer.addEventListener('click', (e) => {
    if (e.target === viewer) viewer.close(); // a click outside the picture
  });
  viewer.addEventListener('close', () => { viewing = null; });
  $('viewer-delete').addEventListener('click', () => {
    if (viewing) askDelete(viewing);
  });

  // ---- deleting ----

  let deleting = null; // the item the confirmation is about

  // An image deleted here or elsewhere (event: deleted).
  function gone(id) {
    unplace(id);
    if (viewing && viewing.id === id) viewer.close();
  }

  function askDelete(item) {
    deleting = item;
    const at = localTime(item.received_at || timeOfId(item.id));
    confirmText.textContent = `“${item.description}” (${at}) is removed for everyone. ` +
      'This cannot be undone.';
    confirmError.replaceChildren();
    confirmDelete.disabled = false;
    confirmDelete.textContent = 'Delete';
    confirmBox.showModal();
    $('confirm-cancel').focus(); // the safe choice is the default one
  }
  confirmBox.addEventListener('close', () => { deleting = null; });

  function deleteError(r, doc) {
    if (r.status === 401) {
      return 'The server refused the API token (HTTP 401). Sign out and sign in again ' +
        'with the token the server was started with.';
    }
    if (r.status === 403) {
      return 'This server does not allow deleting (HTTP 403): ' +
        `${sentence(doc.detail) || 'It needs API_TOKEN to be configured.'}`;
    }
    if (r.status === 404) return 'This image was already deleted (HTTP 404).';
    const why = sentence(doc.detail) || `The image was not deleted (HTTP ${r.status}).`;
    return r.status === 503 ? `${why} Try again in a moment.` : why;
  }

  confirmDelete.addEventListener('click', async () => {
    const item = deleting;
    if (!item) return;
    confirmDelete.disabled = true;
    confirmDelete.textContent = 'Deleting…';
    confirmError.replaceChildren();
    let message = '';
    try {
      const r = await fetch(`/api/images/${encodeURIComponent(item.id)}`,
        { method: 'DELETE', headers: authHeaders() });
      if (r.status === 204) {
        confirmBox.close();
        gone(item.id);
        notice.textContent = `Deleted “${item.description}”.`;
        return;
      }
      message = deleteError(r, await readProblem(r));
      if (r.status === 404) gone(item.id);
    } catch (err) {
      message = `The request did not reach the server (${err.message}).`;
    }
    if (deleting !== item) return; // closed meanwhile
    const p = document.createElement('p');
    p.textContent = message;
    confirmError.replaceChildren(p);
    confirmDelete.textContent = 'Delete';
    confirmDelete.disabled = false;
  });

  updateCount();
  reload(readAddress());
  connect();
})();
