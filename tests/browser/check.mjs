// Opens the siamface page in Debian's Chromium with a fake camera playing a y4m file, waits
// until the page has named the expected person 25 times (or the stream has answered for 500
// faces), then: a page of another origin (served here on
// localhost, a different site from the server's 127.0.0.1) tries to add ATTACK_PHOTO to the
// expected person; the page verifies the person on camera as themselves and as IMPOSTOR, renames
// the impostor and forgets them. Saves a screenshot and prints what it all showed, as JSON.
// Usage: node check.mjs URL VIDEO.y4m SCREENSHOT.png EXPECTED_NAME IMPOSTOR_NAME ATTACK_PHOTO
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { launch } from './launch.mjs';

const [url, video, shot, expected, impostor, attackPhoto] = process.argv.slice(2);
const browser = await launch(video);
const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
await page.goto(url);
const seen = new Set();
const counts = {};
let fps = '';
// The page is read five times a second until it has named the expected person 25 times, or
// until the stream has answered for 500 faces without that: counted in the stream's answers,
// not in seconds, so a loaded machine that answers slowly is watched for longer rather than
// failed. The five minutes only catch a page that stopped answering at all.
const hang = Date.now() + 300000;
while (Date.now() < hang) {
  const who = (await page.textContent('#who')) || '';
  const name = who.replace(/\s+[0-9.]+$/, '');
  if (name && name !== '—') { seen.add(name); counts[name] = (counts[name] || 0) + 1; }
  fps = (await page.textContent('#fps')) || fps;
  if ((counts[expected] || 0) >= 25 && fps) break;
  const answered = await page.evaluate(() => (window.siamfaceStats || { faces: 0 }).faces);
  if (answered >= 500) break;
  await page.waitForTimeout(200);
}
await page.waitForTimeout(1500);
fps = (await page.textContent('#fps')) || fps;
// What the stream answered while the camera played: faces, their states, who was named.
const stats = await page.evaluate(() => window.siamfaceStats);
const seenList = await page.$$eval('#seen li', lis => lis.map(l => l.textContent));

// Another site's page posts to the server: a simple no-cors multipart POST, a fetch with the
// page's custom header (which needs a CORS preflight), and a plain HTML form submission.
const photo = readFileSync(attackPhoto).toString('base64');
const evilHtml = `<!doctype html><title>waiting</title>
<form id="f" method="post" enctype="multipart/form-data" action="${url}api/enroll">
<input name="name" value=${JSON.stringify(expected)}><input name="add" value="true"><input id="file" type="file" name="photo"></form><script>
(async () => {
  const bytes = Uint8Array.from(atob('${photo}'), c => c.charCodeAt(0));
  const form = () => { const fd = new FormData(); fd.append('name', ${JSON.stringify(expected)}); fd.append('add', 'true');
    fd.append('photo', new Blob([bytes], { type: 'image/jpeg' }), 'attack.jpg'); return fd; };
  const out = {};
  try { await fetch('${url}api/enroll', { method: 'POST', mode: 'no-cors', body: form() }); out.simple = 'sent'; }
  catch (e) { out.simple = 'blocked: ' + e.message; }
  try { const r = await fetch('${url}api/enroll', { method: 'POST', body: form(), headers: { 'X-Siamface-Request': '1' } }); out.preflighted = 'status ' + r.status; }
  catch (e) { out.preflighted = 'blocked: ' + e.message; }
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], 'attack.jpg', { type: 'image/jpeg' }));
  document.getElementById('file').files = dt.files;
  document.title = JSON.stringify(out);
})();
</script>`;
const evil = http.createServer((req, res) => { res.setHeader('content-type', 'text/html'); res.end(evilHtml); });
await new Promise(r => evil.listen(0, '127.0.0.1', r));
const evilPage = await browser.newPage();
const attack = { statuses: [], failed: [] };
evilPage.on('response', r => { if (r.url().includes('/api/')) attack.statuses.push(r.status()); });
evilPage.on('requestfailed', r => { if (r.url().includes('/api/')) attack.failed.push(r.failure()?.errorText || 'failed'); });
await evilPage.goto(`http://localhost:${evil.address().port}/`);
await evilPage.waitForFunction(() => document.title.startsWith('{'), null, { timeout: 60000 });
Object.assign(attack, JSON.parse(await evilPage.title()));
const [sent] = await Promise.all([evilPage.waitForNavigation(), evilPage.evaluate(() => document.getElementById('f').submit())]);
attack.form = { status: sent.status(), body: await sent.text() };
await evilPage.close();
evil.close();

// Verify the person on camera, claimed as themselves and as the impostor, on four frames each,
// two seconds apart (each of the camera's photos shows for two seconds).
async function verify(name) {
  const tries = [];
  for (let i = 0; i < 4; i++) {
    if (i > 0) await page.waitForTimeout(2000);
    await page.selectOption('#claim', name);
    await page.click('#verify');
    await page.waitForFunction(() => !document.getElementById('verdict').textContent.startsWith('verifying'), null, { timeout: 60000 });
    tries.push({ verdict: await page.textContent('#verdict'), detail: await page.textContent('#vdetail') });
  }
  return tries;
}
const verify_claimed = await verify(expected);
await page.screenshot({ path: shot });
const verify_impostor = await verify(impostor);

// Rename the impostor, then forget them (accepting the page's confirmation).
const names = () => page.$$eval('#names li', lis => lis.map(l => l.textContent));
page.on('dialog', d => d.accept());
await page.selectOption('#person', impostor);
await page.fill('#newname', `${impostor} renamed`);
await page.click('#rename');
await page.waitForFunction(n => [...document.querySelectorAll('#names li')].some(li => li.textContent.startsWith(n)), `${impostor} renamed`, { timeout: 30000 });
const after_rename = await names();
await page.selectOption('#person', `${impostor} renamed`);
await page.click('#forget');
await page.waitForFunction(n => ![...document.querySelectorAll('#names li')].some(li => li.textContent.startsWith(n)), impostor, { timeout: 30000 });
const after_forget = await names();

const status = await page.textContent('#status');
console.log(JSON.stringify({ seen: [...seen], counts, fps, stats, seenList, status, verify_claimed, verify_impostor, attack, after_rename, after_forget }));
await browser.close();
