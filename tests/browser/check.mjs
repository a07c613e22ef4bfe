// Opens the siamface page in Debian's Chromium with a fake camera playing a y4m file, waits
// until the page names someone (or the timeout), saves a screenshot and prints what it showed.
// Usage: node check.mjs URL VIDEO.y4m SCREENSHOT.png EXPECTED_NAME
import { chromium } from 'playwright-core';

const [url, video, shot, expected] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-video-capture=${video}`,
  ],
});
const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
await page.goto(url);
const seen = new Set();
const counts = {};
let fps = '';
const deadline = Date.now() + 40000;
while (Date.now() < deadline) {
  const who = (await page.textContent('#who')) || '';
  const name = who.replace(/\s+[0-9.]+$/, '');
  if (name && name !== '—') { seen.add(name); counts[name] = (counts[name] || 0) + 1; }
  fps = (await page.textContent('#fps')) || fps;
  if ((counts[expected] || 0) >= 25 && fps) break;
  await page.waitForTimeout(200);
}
await page.waitForTimeout(1500);
fps = (await page.textContent('#fps')) || fps;
await page.screenshot({ path: shot });
const status = await page.textContent('#status');
console.log(JSON.stringify({ seen: [...seen], counts, fps, status }));
await browser.close();
