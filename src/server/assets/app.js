// The siamface page: live naming from the camera, one-shot enrolment, verification of a claimed
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
const slider = bindSlider('threshold', 'tval', true);
const vthreshold = bindSlider('vthreshold', 'vtval', true);
const vfraction = bindSlider('vfraction', 'vfval', false);

function frameBlob() {
  grab.getContext('2d').drawImage(video, 0, 0, 640, 480);
  return new Promise(res => grab.toBlob(res, 'image/jpeg', 0.9));
}

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

let frames = 0, since = performance.now();
async function loop() {
  if (needToken) return;
  if (video.readyState >= 2) {
    try {
      const j = await call('POST', '/api/identify', { threshold: slider.get(), fast: 'true' }, await frameBlob());
      ctx.clearRect(0, 0, 640, 480);
      const sx = 640 / video.videoWidth, sy = 480 / video.videoHeight;
      let top = '—';
      j.faces.forEach((f, i) => {
        const [x, y, w, h] = f.box;
        const known = f.name !== null;
        ctx.strokeStyle = known ? '#38a169' : '#e53e3e';
        ctx.lineWidth = 3;
        ctx.strokeRect(x * sx, y * sy, w * sx, h * sy);
        ctx.fillStyle = ctx.strokeStyle;
        ctx.font = '18px system-ui';
        const label = `${known ? f.name : 'unknown'} ${f.score.toFixed(4)}`;
        ctx.fillText(label, x * sx, Math.max(18, y * sy - 6));
        if (i === 0) top = label;
      });
      $('who').textContent = j.faces.length ? top : 'no face';
      frames++;
      const now = performance.now();
      if (now - since > 1000) {
        $('fps').textContent = `${(1000 * frames / (now - since)).toFixed(1)} frames/s`;
        frames = 0; since = now;
      }
      status('live');
    } catch (e) { status(e.message); }
  }
  setTimeout(loop, 0);
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
    slider.set(c.threshold);
    vthreshold.set(c.verify_threshold);
    vfraction.set(c.verification);
    if (c.model) $('model').textContent = `model: ${c.model_name} (${c.model_shape}, ${c.model})`;
    await refreshNames();
  } catch (e) { status(e.message); return; }
  if (!camera) {
    camera = navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } })
      .then(s => { video.srcObject = s; status('camera on'); })
      .catch(e => status('camera: ' + e.message));
  }
  await camera;
  loop();
}
start();
