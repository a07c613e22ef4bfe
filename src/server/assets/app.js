// The siamface page: live naming from the camera (or a chosen photo when there is none), one-shot enrolment, verification of a claimed
// person, rename and forget, and collection of frames for fine-tuning. Every call carries the
// X-Siamface-Request header (the server refuses state changes without it) and, when the server
// has one, the API token the user typed, which stays in this tab's session storage.
const $ = (id) => document.getElementById(id);
const video = $('video');
const overlay = $('overlay');
const ctx = overlay.getContext('2d');
const grab = document.createElement('canvas');
grab.width = 640; grab.height = 480;
const status = (t) => { $('status').textContent = t; };
let token = sessionStorage.getItem('siamface-token') || '';
let needToken = false;

function headers() {
  const h = { 'X-Siamface-Request': '1' };
  if (token) h.Authorization = 'Bearer ' + token;
  return h;
}

async function call(method, url, fields, blob) {
  let body;
  if (fields || blob) {
    body = new FormData();
    for (const [k, v] of Object.entries(fields || {})) body.append(k, v);
    if (blob) body.append('photo', blob, 'frame.jpg');
  }
  const r = await fetch(url, { method, body, headers: headers() });
  const j = await r.json().catch(() => ({}));
  if (r.status === 401) { askToken(); }
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

function askToken() {
  needToken = true;
  $('tokenbox').classList.add('show');
  status('this server needs its API token');
}

$('usetoken').onclick = () => {
  token = $('token').value.trim();
  sessionStorage.setItem('siamface-token', token);
  $('token').value = '';
  $('tokenbox').classList.remove('show');
  needToken = false;
  start();
};

// A face model's scores crowd near 1 (the shipped one verifies at 0.9866 and names at 0.9990),
// so the score sliders move along -log10(1 - score): one step right makes a false accept about
// ten times rarer, whatever the model. `get` is the score (or fraction) the slider stands for.
const toScore = k => 1 - Math.pow(10, -k);
const toStrictness = v => -Math.log10(Math.max(1e-6, 1 - v));
function bindSlider(id, out, isScore) {
  const s = $(id);
  s.get = () => isScore ? toScore(Number(s.value)) : Number(s.value);
  s.set = v => { s.value = isScore ? toStrictness(v) : v; s.oninput(); };
  s.oninput = () => { $(out).textContent = s.get().toFixed(isScore ? 4 : 2); };
  return s;
}
const vthreshold = bindSlider('vthreshold', 'vtval', true);
const vfraction = bindSlider('vfraction', 'vfval', false);

// Without a camera, the chosen photo stands in for the frame: enrol, verify and "who is this"
// all use it.
let photoFile = null;
function frameBlob() {
  if (photoFile) return Promise.resolve(photoFile);
  grab.getContext('2d').drawImage(video, 0, 0, 640, 480);
  return new Promise(res => grab.toBlob(res, 'image/jpeg', 0.9));
}

$('photo').onchange = async () => {
  photoFile = $('photo').files[0] || null;
  if (!photoFile) return;
  try {
    const j = await call('POST', '/api/identify', {}, photoFile);
    $('who').textContent = j.faces.length
      ? j.faces.map(f => f.name ? `${f.name} ${f.score.toFixed(4)}` : `unknown (best ${f.nearest || '—'} ${f.score.toFixed(4)}, needs ${f.threshold.toFixed(4)})`).join('; ')
      : 'no face';
  } catch (e) { status(e.message); }
};

function fillSelect(sel, names) {
  const keep = sel.value;
  sel.replaceChildren(...names.map(n => { const o = document.createElement('option'); o.value = n; o.textContent = n; return o; }));
  if (names.includes(keep)) sel.value = keep;
}

async function refreshNames() {
  const j = await call('GET', '/api/people');
  $('names').replaceChildren(...j.people.map(p => {
    const li = document.createElement('li');
    li.textContent = `${p.name} (${p.images})`;
    return li;
  }));
  const names = j.people.map(p => p.name);
  fillSelect($('claim'), names);
  fillSelect($('person'), names);
}

// Live naming goes over one WebSocket (/api/stream): the server follows each face across
// frames and names it on the evidence of its whole track, so a face is named by the track, not
// by one lucky or unlucky frame. At most two frames are in flight: one being looked at, one
// waiting, so the server is never idle and never queues.
let ws = null, inflight = 0, lastSent = 0;
let frames = 0, since = performance.now();
const seen = new Map();  // track id -> { name, first, last }
// Counts of what the stream answered, for anyone measuring the page (the browser test reads it).
window.siamfaceStats = { answers: 0, faces: 0, states: {}, named: {} };
const COLORS = { named: '#38a169', unknown: '#e53e3e', identifying: '#d69e2e' };

function draw(j) {
  ctx.clearRect(0, 0, 640, 480);
  const sx = 640 / (video.videoWidth || 640), sy = 480 / (video.videoHeight || 480);
  let top = null;
  const now = new Date();
  const st = window.siamfaceStats;
  st.answers++;
  for (const f of j.faces) {
    st.faces++;
    st.states[f.state] = (st.states[f.state] || 0) + 1;
    if (f.state === 'named') st.named[f.name] = (st.named[f.name] || 0) + 1;
    const [x, y, w, h] = f.box;
    ctx.strokeStyle = COLORS[f.state] || '#e53e3e';
    ctx.lineWidth = 3;
    ctx.strokeRect(x * sx, y * sy, w * sx, h * sy);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.font = '18px system-ui';
    const label = f.state === 'named' ? `${f.name} ${f.score.toFixed(4)}` : f.state === 'unknown' ? 'unknown' : 'identifying…';
    ctx.fillText(`#${f.track} ${label}`, x * sx, Math.max(18, y * sy - 6));
    if (top === null) top = label;
    const s = seen.get(f.track) || { name: null, first: now, last: now };
    s.last = now;
    if (f.state === 'named') s.name = f.name;
    seen.set(f.track, s);
  }
  $('who').textContent = top === null ? 'no face' : top;
  showSeen();
}

function showSeen() {
  const t = d => d.toLocaleTimeString();
  const rows = [...seen.entries()].filter(([, s]) => s.name !== null).slice(-12).reverse();
  $('seen').replaceChildren(...rows.map(([id, s]) => {
    const li = document.createElement('li');
    li.textContent = `${s.name} (track ${id}): ${t(s.first)}–${t(s.last)}`;
    return li;
  }));
}

async function pump() {
  while (ws && ws.readyState === 1 && inflight < 2 && video.readyState >= 2 && !needToken) {
    inflight++;
    lastSent = performance.now();
    const blob = await frameBlob();
    ws.send(await blob.arrayBuffer());
  }
}

function openStream() {
  if (needToken) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(`${proto}//${location.host}/api/stream`);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => { inflight = 0; if (token) ws.send(JSON.stringify({ token })); status('live'); pump(); };
  ws.onmessage = ev => {
    inflight = Math.max(0, inflight - 1);
    const j = JSON.parse(ev.data);
    if (j.error) status(j.error); else { draw(j); status('live'); }
    frames++;
    const now = performance.now();
    if (now - since > 1000) {
      $('fps').textContent = `${(1000 * frames / (now - since)).toFixed(1)} answers/s`;
      frames = 0; since = now;
    }
    pump();
  };
  ws.onclose = ev => {
    ws = null;
    if (ev.code === 1008) { askToken(); return; }
    status(`stream closed (${ev.code}${ev.reason ? ': ' + ev.reason : ''}); reconnecting`);
    setTimeout(openStream, 1000);
  };
}

// A frame the server dropped is never answered: after two seconds without an answer, send again.
setInterval(() => { if (inflight > 0 && performance.now() - lastSent > 2000) { inflight = 0; pump(); } }, 500);

function loop() {
  if (!ws) openStream(); else pump();
}

$('enroll').onclick = async () => {
  const name = $('name').value.trim();
  try { await call('POST', '/api/enroll', { name }, await frameBlob()); status(`enrolled ${name}`); refreshNames(); }
  catch (e) { status(e.message); }
};

$('verify').onclick = async () => {
  const name = $('claim').value;
  const [t, f] = [vthreshold.get(), vfraction.get()];
  $('verdict').textContent = 'verifying…';
  $('verdict').className = '';
  try {
    const j = await call('POST', '/api/verify', { name, threshold: t, verification: f }, await frameBlob());
    $('verdict').textContent = `${j.verified ? 'Verified' : 'Unverified'}: ${name}`;
    $('verdict').className = j.verified ? 'yes' : 'no';
    $('vdetail').textContent = `${(j.fraction * 100).toFixed(0)}% of ${j.scores.length} enrolment images scored at least ${t.toFixed(4)} `
      + `(needed ${(f * 100).toFixed(0)}%). Scores: ${j.scores.map(s => s.toFixed(4)).join(', ')}`;
  } catch (e) { $('verdict').textContent = `Not verified: ${e.message}`; $('verdict').className = 'no'; $('vdetail').textContent = ''; }
};

$('rename').onclick = async () => {
  const [from, to] = [$('person').value, $('newname').value.trim()];
  try { await call('POST', `/api/people/${encodeURIComponent(from)}/rename`, { to }); status(`renamed ${from} to ${to}`); $('newname').value = ''; refreshNames(); }
  catch (e) { status(e.message); }
};

$('forget').onclick = async () => {
  const name = $('person').value;
  if (!name || !confirm(`Forget ${name} and every picture stored for them?`)) return;
  try { await call('DELETE', `/api/people/${encodeURIComponent(name)}`); status(`forgot ${name}`); refreshNames(); }
  catch (e) { status(e.message); }
};

for (const kind of ['anchor', 'positive']) {
  $(kind).onclick = async () => {
    try { const j = await call('POST', '/api/collect', { kind }, await frameBlob()); $('collected').textContent = `saved ${j.file}`; }
    catch (e) { status(e.message); }
  };
}

let camera = null;
async function start() {
  try {
    const c = await call('GET', '/api/config');
    $('rule').textContent = c.video ? `named at ${c.video.name_at.toFixed(4)} on the evidence of the whole track` : '';
    $('collectbox').hidden = !c.collect;
    vthreshold.set(c.verify_threshold);
    vfraction.set(c.verification);
    if (c.model) $('model').textContent = `model: ${c.model_name} (${c.model_shape}, ${c.model})`;
    await refreshNames();
  } catch (e) { status(e.message); return; }
  if (!camera) {
    const media = navigator.mediaDevices;
    camera = (media ? media.getUserMedia({ video: { width: 640, height: 480 } }) : Promise.reject(new Error('no camera access on this page')))
      .then(s => { video.srcObject = s; video.onplaying = loop; status('camera on'); return true; })
      .catch(e => { status(`camera: ${e.message}; use the photo buttons instead`); $('nocamera').hidden = false; return false; });
  }
  if (await camera) loop();
}
start();
