// SPADE painter: the label map lives in an array of class indices (P.labels), never in canvas
// pixels. Brush, fill and eraser write indices; the canvas only shows them through the palette
// (putImageData, no anti-aliasing anywhere), and the server receives the indices themselves.
'use strict';

const DEBOUNCE_MS = 250;   // synthesis starts this long after the last change
const UNDO_LIMIT = 100;
const VIEW_PX = 448;       // on-screen size of the longer side of the map and the image

const P = window.painter = {
  info: null, W: 0, H: 0, labels: null, colors: [], names: [],
  cls: 0, eraseCls: 0, tool: 'brush', size: 8,
  undo: [], version: 0, shownVersion: -1, sentVersion: -1,
  inFlight: false, timer: null, imageBlob: null, imageUrl: null,
  style: { seed: null, photo: null }, stroke: null,
  idle() { return !this.inFlight && this.timer === null && this.shownVersion === this.version; },
};

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ messages
function say(text, kind) {
  const box = $('message');
  box.textContent = text || '';
  box.className = text ? (kind || 'note') : '';
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (e) { /* not JSON */ }
  return `the server answered ${response.status} ${response.statusText}`;
}

// A busy server answers 503 with Retry-After: wait that long and ask again (a few times)
// rather than show an error for a request that will succeed a moment later.
const RETRIES = 5;
async function send(url, options) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(url, options);
    if (response.status !== 503 || attempt >= RETRIES) return response;
    const wait = Number(response.headers.get('Retry-After')) || 1;
    await new Promise(resolve => setTimeout(resolve, 1000 * wait));
  }
}

// ------------------------------------------------------------------ start
async function start() {
  let response;
  try {
    response = await send('api/info');
  } catch (e) {
    say('cannot reach the painter server; is app.py still running?', 'error');
    return;
  }
  if (!response.ok) { say(await errorText(response), 'error'); return; }
  const info = P.info = await response.json();
  P.W = info.width; P.H = info.height;
  P.names = info.classes.map((c) => c.name);
  P.colors = info.classes.map((c) => c.color);
  P.labels = info.dtype === 'u8' ? new Uint8Array(P.W * P.H) : new Uint16Array(P.W * P.H);
  $('run-title').textContent = `run ${info.name}, epoch ${info.epoch} · ${info.dataset_mode} · ` +
    `${info.classes.length} classes · ${P.W}×${P.H} · ${info.device}`;
  $('class-note').textContent = info.note || '';
  buildPalette();
  buildEraseSelect();
  sizeViews();
  if (info.use_vae) {
    $('style-panel').classList.remove('hidden');
    showStyle();
  }
  wire();
  selectClass(P.names.length > 1 ? 1 : 0);
  render();
  changed();
  loadTestSplit();
}

function buildPalette() {
  const box = $('palette');
  box.textContent = '';
  P.names.forEach((name, index) => {
    const item = document.createElement('button');
    item.className = 'swatch';
    item.type = 'button';
    item.dataset.index = index;
    item.setAttribute('role', 'option');
    item.title = `${index}: ${name}`;
    const chip = document.createElement('span');
    chip.className = 'chip';
    chip.style.background = rgb(P.colors[index]);
    const idx = document.createElement('span');
    idx.className = 'idx';
    idx.textContent = index;
    const label = document.createElement('span');
    label.textContent = name;
    item.append(chip, idx, label);
    item.addEventListener('click', () => selectClass(index));
    box.appendChild(item);
  });
}

function buildEraseSelect() {
  const select = $('erase-class');
  P.names.forEach((name, index) => {
    const option = document.createElement('option');
    option.value = index;
    option.textContent = `${index}: ${name}`;
    select.appendChild(option);
  });
  select.value = '0';
}

function sizeViews() {
  const canvas = $('label-canvas');
  canvas.width = P.W; canvas.height = P.H;
  // about VIEW_PX on screen; whole screen pixels per label pixel while the map is small
  const side = Math.max(P.W, P.H);
  const scale = 2 * side <= VIEW_PX ? Math.floor(VIEW_PX / side) : VIEW_PX / side;
  for (const element of [canvas, $('image')]) {
    element.style.width = `${P.W * scale}px`;
    element.style.height = `${P.H * scale}px`;
  }
}

const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

function selectClass(index) {
  P.cls = index;
  for (const item of document.querySelectorAll('.swatch')) {
    item.classList.toggle('selected', Number(item.dataset.index) === index);
  }
  $('current-class').textContent = `${index}: ${P.names[index]}`;
  $('current-chip').style.background = rgb(P.colors[index]);
  if (P.tool === 'erase') setTool('brush');
}

function setTool(tool) {
  P.tool = tool;
  $(`tool-${tool}`).checked = true;
}

function setSize(value) {
  const size = Math.max(1, Math.min(256, Math.round(Number(value)) || 1));
  P.size = size;
  $('brush-size-value').value = size;
  $('brush-size').value = Math.min(size, Number($('brush-size').max));
}

// ------------------------------------------------------------------ drawing on indices
function render() {
  const canvas = $('label-canvas');
  const context = canvas.getContext('2d');
  const image = context.createImageData(P.W, P.H);
  const out = image.data;
  for (let i = 0; i < P.labels.length; i++) {
    const c = P.colors[P.labels[i]] || [0, 0, 0];
    out[4 * i] = c[0]; out[4 * i + 1] = c[1]; out[4 * i + 2] = c[2]; out[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

// a disc: the pixels whose offset (dx, dy) from the centre pixel has dx² + dy² <= (size / 2)²
function stamp(x, y, cls) {
  const r = P.size / 2;
  const reach = Math.floor(r);
  for (let dy = -reach; dy <= reach; dy++) {
    const yy = y + dy;
    if (yy < 0 || yy >= P.H) continue;
    for (let dx = -reach; dx <= reach; dx++) {
      const xx = x + dx;
      if (xx < 0 || xx >= P.W || dx * dx + dy * dy > r * r) continue;
      P.labels[yy * P.W + xx] = cls;
    }
  }
}

// every pixel of the Bresenham line from (x0, y0) to (x1, y1) gets a disc
function line(x0, y0, x1, y1, cls) {
  const dx = Math.abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  const dy = -Math.abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    stamp(x0, y0, cls);
    if (x0 === x1 && y0 === y1) break;
    const e2 = 2 * err;
    if (e2 >= dy) { err += dy; x0 += sx; }
    if (e2 <= dx) { err += dx; y0 += sy; }
  }
}

// the 4-connected region of (x, y)'s class becomes cls
function fill(x, y, cls) {
  const target = P.labels[y * P.W + x];
  if (target === cls) return false;
  const stack = [y * P.W + x];
  while (stack.length) {
    const i = stack.pop();
    if (P.labels[i] !== target) continue;
    P.labels[i] = cls;
    const px = i % P.W;
    if (px > 0) stack.push(i - 1);
    if (px < P.W - 1) stack.push(i + 1);
    if (i >= P.W) stack.push(i - P.W);
    if (i < P.W * (P.H - 1)) stack.push(i + P.W);
  }
  return true;
}

// the label pixel under a pointer event (the canvas's content box, borders excluded)
function pixelAt(event) {
  const canvas = $('label-canvas');
  const rect = canvas.getBoundingClientRect();
  const x = Math.floor((event.clientX - rect.left - canvas.clientLeft) * P.W / canvas.clientWidth);
  const y = Math.floor((event.clientY - rect.top - canvas.clientTop) * P.H / canvas.clientHeight);
  return [Math.max(0, Math.min(P.W - 1, x)), Math.max(0, Math.min(P.H - 1, y))];
}

function pushUndo() {
  P.undo.push(P.labels.slice());
  if (P.undo.length > UNDO_LIMIT) P.undo.shift();
}

function paintClass() { return P.tool === 'erase' ? P.eraseCls : P.cls; }

function onPointerDown(event) {
  if (event.button !== 0 || !P.labels) return;
  event.preventDefault();
  const [x, y] = pixelAt(event);
  if (P.tool === 'fill') {
    const before = P.labels.slice();
    if (fill(x, y, P.cls)) { P.undo.push(before); if (P.undo.length > UNDO_LIMIT) P.undo.shift(); changed(); }
    return;
  }
  $('label-canvas').setPointerCapture(event.pointerId);
  pushUndo();
  P.stroke = { x, y, cls: paintClass(), id: event.pointerId };
  stamp(x, y, P.stroke.cls);
  render();
}

function onPointerMove(event) {
  if (!P.stroke || event.pointerId !== P.stroke.id) return;
  const points = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const point of (points.length ? points : [event])) {
    const [x, y] = pixelAt(point);
    line(P.stroke.x, P.stroke.y, x, y, P.stroke.cls);
    P.stroke.x = x; P.stroke.y = y;
  }
  render();
}

function onPointerUp(event) {
  if (!P.stroke || event.pointerId !== P.stroke.id) return;
  onPointerMove(event);
  P.stroke = null;
  changed();
}

// ------------------------------------------------------------------ synthesis (debounced, latest map wins)
function changed() {
  P.version++;
  render();
  $('image').classList.add('stale');
  schedule(DEBOUNCE_MS);
}

function schedule(delay) {
  if (P.timer !== null) clearTimeout(P.timer);
  P.timer = setTimeout(() => { P.timer = null; synthesize(); }, delay);
}

function query(extra) {
  const params = new URLSearchParams({ width: P.W, height: P.H, dtype: P.info.dtype });
  for (const [key, value] of Object.entries(extra || {})) {
    if (value !== null && value !== undefined) params.set(key, value);
  }
  return params.toString();
}

function rawMap() {
  if (P.labels instanceof Uint8Array) return P.labels.slice();
  const bytes = new DataView(new ArrayBuffer(P.labels.length * 2));
  P.labels.forEach((value, i) => bytes.setUint16(2 * i, value, true));
  return new Uint8Array(bytes.buffer);
}

async function synthesize() {
  if (P.inFlight) return;  // finished requests look at P.version and send again
  P.inFlight = true;
  const version = P.version;
  P.sentVersion = version;
  $('status').textContent = '· synthesising…';
  const started = performance.now();
  try {
    const response = await send(`api/synthesize?${query({ style_seed: P.style.seed, photo: P.style.photo })}`, {
      method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: rawMap(),
    });
    if (!response.ok) {
      say(await errorText(response), 'error');
      $('status').textContent = '· not updated';
      P.shownVersion = version;  // nothing better to show for this map; do not retry it
      return;
    }
    const blob = await response.blob();
    if (P.imageUrl) URL.revokeObjectURL(P.imageUrl);
    P.imageBlob = blob;
    P.imageUrl = URL.createObjectURL(blob);
    const image = $('image');
    await new Promise((resolve) => { image.onload = resolve; image.onerror = resolve; image.src = P.imageUrl; });
    P.shownVersion = version;
    const server = Number(response.headers.get('X-Synthesis-Seconds') || 0);
    const total = (performance.now() - started) / 1000;
    $('status').textContent = `· ${server.toFixed(2)} s synthesis, ${total.toFixed(2)} s round trip`;
    if (version === P.version) image.classList.remove('stale');
  } catch (e) {
    say(`synthesis failed: ${e.message || e} (is app.py still running?)`, 'error');
    $('status').textContent = '· not updated';
    P.shownVersion = version;
  } finally {
    P.inFlight = false;
    if (P.version !== version && P.timer === null) schedule(0);
  }
}

function whenIdle() {
  return new Promise((resolve) => {
    const check = () => (P.idle() ? resolve() : setTimeout(check, 50));
    check();
  });
}

// ------------------------------------------------------------------ maps from files and the test split
function setMap(map) {
  if (map.width !== P.W || map.height !== P.H) {
    say(`the server sent a ${map.width}×${map.height} map for a ${P.W}×${P.H} canvas`, 'error');
    return;
  }
  const bytes = Uint8Array.from(atob(map.data), (ch) => ch.charCodeAt(0));
  const values = map.dtype === 'u8' ? bytes : new Uint16Array(bytes.length / 2).map(
    (_, i) => bytes[2 * i] | (bytes[2 * i + 1] << 8));
  pushUndo();
  P.labels.set(values);
  changed();
}

async function uploadLabel(file) {
  if (!file) return;
  say(`reading ${file.name}…`, 'note');
  const response = await send(`api/upload_label?filename=${encodeURIComponent(file.name)}`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: file,
  });
  if (!response.ok) { say(`upload refused: ${await errorText(response)}`, 'error'); return; }
  const map = await response.json();
  setMap(map);
  say(map.note || `${file.name} loaded`, 'note');
}

async function loadTestSplit() {
  const select = $('test-split');
  const response = await send('api/test_split');
  select.textContent = '';
  if (!response.ok) { say(await errorText(response), 'error'); return; }
  const split = await response.json();
  if (!split.items.length) {
    const option = document.createElement('option');
    option.value = '';
    option.textContent = 'none available';
    select.appendChild(option);
    select.title = split.reason;
    $('load-test').disabled = true;
    $('load-test').title = split.reason;
    return;
  }
  split.items.forEach((name, index) => {
    const option = document.createElement('option');
    option.value = index;
    option.textContent = name;
    select.appendChild(option);
  });
}

async function loadTestMap() {
  const index = $('test-split').value;
  if (index === '') return;
  const response = await send(`api/test_split/${index}`);
  if (!response.ok) { say(await errorText(response), 'error'); return; }
  const map = await response.json();
  setMap(map);
  say(map.note || `${$('test-split').selectedOptions[0].textContent} loaded`, 'note');
}

// ------------------------------------------------------------------ downloads
function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function downloadLabel() {
  const response = await send(`api/labelmap?${query()}`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: rawMap(),
  });
  if (!response.ok) { say(await errorText(response), 'error'); return; }
  saveBlob(await response.blob(), `${P.info.name}_label.png`);
  say(`label map saved (class indices; test.py reads it with: ${P.info.test_command})`, 'note');
}

async function downloadImage() {
  await whenIdle();
  if (!P.imageBlob) { say('no image yet', 'error'); return; }
  saveBlob(P.imageBlob, `${P.info.name}_synthesized.png`);
}

// ------------------------------------------------------------------ style (--use_vae runs)
function showStyle() {
  const style = P.style;
  $('style-status').textContent = style.photo ? `from the photo ${style.photoName}`
    : style.seed !== null ? `random z (seed ${style.seed})` : "test.py's (encoder on a blank photo)";
}

function setStyle(style) {
  P.style = style;
  showStyle();
  changed();
}

async function uploadStylePhoto(file) {
  if (!file) return;
  const response = await send(`api/style_photo?filename=${encodeURIComponent(file.name)}`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: file,
  });
  if (!response.ok) { say(`style photo refused: ${await errorText(response)}`, 'error'); return; }
  const answer = await response.json();
  setStyle({ seed: null, photo: answer.photo, photoName: file.name });
  say(answer.note, 'note');
}

// ------------------------------------------------------------------ wiring
function wire() {
  const canvas = $('label-canvas');
  canvas.addEventListener('pointerdown', onPointerDown);
  canvas.addEventListener('pointermove', onPointerMove);
  canvas.addEventListener('pointerup', onPointerUp);
  canvas.addEventListener('pointercancel', onPointerUp);
  for (const tool of ['brush', 'fill', 'erase']) {
    $(`tool-${tool}`).addEventListener('change', () => { P.tool = tool; });
  }
  $('brush-size').addEventListener('input', (e) => setSize(e.target.value));
  $('brush-size-value').addEventListener('change', (e) => { if (e.target.value.trim() !== '') setSize(e.target.value); });
  $('erase-class').addEventListener('change', (e) => { P.eraseCls = Number(e.target.value); });
  $('undo').addEventListener('click', undo);
  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === 'z' && e.target.tagName !== 'INPUT') { e.preventDefault(); undo(); }
  });
  $('clear').addEventListener('click', () => { pushUndo(); P.labels.fill(P.eraseCls); changed(); });
  $('palette-filter').addEventListener('input', (e) => {
    const words = e.target.value.trim().toLowerCase();
    for (const item of document.querySelectorAll('.swatch')) {
      item.classList.toggle('hidden', words !== '' && !item.title.toLowerCase().includes(words));
    }
  });
  $('upload-label').addEventListener('change', async (e) => {
    await uploadLabel(e.target.files[0]);
    e.target.value = '';
  });
  $('load-test').addEventListener('click', loadTestMap);
  $('download-label').addEventListener('click', downloadLabel);
  $('download-image').addEventListener('click', downloadImage);
  $('new-style').addEventListener('click', () => setStyle({ seed: Math.floor(Math.random() * 2 ** 31), photo: null }));
  $('reset-style').addEventListener('click', () => setStyle({ seed: null, photo: null }));
  $('style-photo').addEventListener('change', async (e) => {
    await uploadStylePhoto(e.target.files[0]);
    e.target.value = '';
  });
}

function undo() {
  if (!P.undo.length) { say('nothing to undo', 'note'); return; }
  P.labels.set(P.undo.pop());
  changed();
}

start();
