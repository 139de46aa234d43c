// Drive the sample page in Debian's headless Chromium (never a downloaded browser) and print
// one JSON line: the page's final state, page errors and console errors.
//   node e2e.mjs URL [timeoutSeconds] [screenshot.png]
import {chromium} from 'playwright-core';

const [url, timeoutArg = '300', screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
});
const page = await browser.newPage();
const pageErrors = [];
const consoleErrors = [];
page.on('pageerror', (error) => pageErrors.push(String(error.message ?? error)));
page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text().slice(0, 300)); });
await page.goto(url);
const deadline = Date.now() + Number(timeoutArg) * 1000;
let state = {};
while (Date.now() < deadline) {
  state = await page.evaluate(() => ({...window.edgekitState}));
  if (['done', 'error'].includes(state.phase) || (state.phase === 'ready' && !url.includes('prompt='))) break;
  await page.waitForTimeout(500);
}
if (screenshot) await page.screenshot({path: screenshot, fullPage: true});
console.log(JSON.stringify({state, pageErrors, consoleErrors: consoleErrors.slice(0, 10)}));
await browser.close();
