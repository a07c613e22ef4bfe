// Opens the page of a server started with a token: the page must ask for it, refuse to go on
// with a wrong one, work with the right one, keep it in session storage (never in the address),
// and still have it after a reload. Prints what it saw as JSON.
// Usage: node token.mjs URL VIDEO.y4m TOKEN
import { launch } from './launch.mjs';

const [url, video, token] = process.argv.slice(2);
const browser = await launch(video);
const page = await browser.newPage();
const asked = () => page.$eval('#tokenbox', e => e.classList.contains('show'));
const names = () => page.$$eval('#names li', lis => lis.map(l => l.textContent));
await page.goto(url);
await page.waitForFunction(() => document.getElementById('tokenbox').classList.contains('show'), null, { timeout: 30000 });
const first = { asked: await asked(), names: await names() };

await page.fill('#token', 'wrong-token-of-enough-length');
await page.click('#usetoken');
await page.waitForFunction(() => document.getElementById('tokenbox').classList.contains('show'), null, { timeout: 30000 });
const wrong = { asked: await asked(), names: await names() };

await page.fill('#token', token);
await page.click('#usetoken');
await page.waitForFunction(() => document.querySelectorAll('#names li').length > 0, null, { timeout: 30000 });
const right = { asked: await asked(), names: await names(), url: page.url(), stored: await page.evaluate(() => sessionStorage.getItem('siamface-token')) };

await page.reload();
await page.waitForFunction(() => document.querySelectorAll('#names li').length > 0, null, { timeout: 30000 });
const reloaded = { asked: await asked(), names: await names() };
console.log(JSON.stringify({ first, wrong, right, reloaded }));
await browser.close();
