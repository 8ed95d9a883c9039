// The web page of `cosyflow http` in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core): the page loads and lists the voices, a streamed request plays to its end
// (the page's <body data-state> goes synthesizing -> playing -> ended), then a whole-file
// request, then a voice added from a recording through the page's form plays too; the page
// shows first-audio time and RTF, draws the waveform, logs no console errors; a screenshot is
// written.
//
// Usage: node web_page_test.mjs COSYFLOW GRAPH PROMPT_WAV OUT_DIR
// Exit 0 pass, 1 fail, 77 skipped (no chromium or no node_modules: scripts/setup installs both).
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import {fileURLToPath} from 'node:url';

const SKIP = 77;
const [cosyflow, graph, promptWav, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node web_page_test.mjs COSYFLOW GRAPH PROMPT_WAV OUT_DIR');
  process.exit(2);
}
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(chromiumPath)) {
  console.log(`SKIP: no Chromium at ${chromiumPath} (scripts/setup installs Debian's chromium)`);
  process.exit(SKIP);
}
let chromium;
try {
  ({chromium} = await import('playwright-core'));
} catch (e) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  console.log(`SKIP: playwright-core is not installed in ${here}/node_modules ` +
              `(scripts/setup runs npm ci there): ${e.message}`);
  process.exit(SKIP);
}

const failures = [];
function check(cond, what) {
  if (cond) {
    console.log(`ok: ${what}`);
  } else {
    console.log(`FAIL: ${what}`);
    failures.push(what);
  }
}

fs.mkdirSync(outDir, {recursive: true});
const store = path.join(outDir, 'browser_voices.pt');
fs.rmSync(store, {force: true});
const server = spawn(cosyflow, ['http', '--graph', graph, '--listen', '127.0.0.1:0', '--greedy',
                                '--zero-noise', '--voices', path.resolve(store)],
                     {stdio: ['ignore', 'pipe', 'inherit']});
let browser = null;
const guard = setTimeout(() => {
  console.log('FAIL: the test took over 170 s');
  server.kill('SIGKILL');
  process.exit(1);
}, 170000);  // under ctest's TIMEOUT 180, so this message is what a slow run prints

try {
  const ready = await new Promise((resolve, reject) => {
    server.on('exit', code => reject(new Error(`cosyflow http exited with ${code} before ready`)));
    readline.createInterface({input: server.stdout}).once('line', line => resolve(JSON.parse(line)));
  });
  console.log(`server: ${ready.http}`);

  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // root in CI containers; audio plays to Chromium's fake output when there is no device.
    args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'],
  });
  const page = await browser.newPage({viewport: {width: 900, height: 760}});
  const consoleErrors = [];
  page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', e => consoleErrors.push(`page error: ${e.message}`));
  page.on('requestfailed', r => consoleErrors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));

  await page.goto(ready.http + '/');
  await page.waitForSelector('body[data-state="idle"]', {timeout: 15000});
  check(await page.locator('#voice option').count() >= 1, 'the voice list is loaded');

  // Records every state the page goes through.
  await page.evaluate(() => {
    window.testStates = [];
    new MutationObserver(() => window.testStates.push(document.body.dataset.state))
        .observe(document.body, {attributes: true, attributeFilter: ['data-state']});
  });
  const speak = async (label) => {
    await page.evaluate(() => { window.testStates = []; });
    await page.click('#speak');
    await page.waitForFunction(() => ['ended', 'error'].includes(document.body.dataset.state) &&
                                         window.testStates.length > 1,
                               null, {timeout: 60000});
    const states = await page.evaluate(() => window.testStates);
    const stats = await page.evaluate(() => window.cosyflowStats);
    const text = await page.textContent('#stats');
    console.log(`${label}: states ${states.join(' -> ')}; ${text}`);
    check(states[states.length - 1] === 'ended', `${label}: played to the end`);
    check(states.includes('playing'), `${label}: audio started while the page was waiting`);
    check(stats && stats.firstAudioMs > 0 && stats.rtf > 0 && stats.audioSeconds > 0,
          `${label}: first audio ${stats?.firstAudioMs} ms, RTF ${stats?.rtf}, ` +
          `${stats?.audioSeconds} s audio`);
    check(/first audio \d+ ms/.test(text) && /RTF \d/.test(text), `${label}: first audio and RTF shown`);
    return stats;
  };

  await page.fill('#text', 'Hello there, how are you today? Fine, thanks. And you? I am well, ' +
                           'thank you very much for asking. The weather is lovely, so we will ' +
                           'walk to the park after lunch.');
  check(await page.isChecked('#stream'), 'stream is the default');
  const streamed = await speak('stream');
  check(streamed?.chunks >= 2, `stream: ${streamed?.chunks} chunks arrived over the WebSocket`);
  const inked = await page.evaluate(() => {
    const c = document.getElementById('wave');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
  check(inked > 500, `the waveform is drawn (${inked} pixels)`);

  await page.uncheck('#stream');
  await speak('whole');

  // A voice from a recording through the page's form, then a streamed request with it.
  await page.fill('#vid', 'browser');
  await page.setInputFiles('#vfile', promptWav);
  await page.fill('#vtext', 'Hello, this is a short prompt for voice cloning.');
  await page.click('#vadd');
  await page.waitForFunction(() => /added|error/.test(document.getElementById('vstatus').textContent),
                             null, {timeout: 30000});
  const added = await page.textContent('#vstatus');
  check(added.startsWith('added browser'), `voice form: ${added}`);
  check(await page.inputValue('#voice') === 'browser', 'the new voice is selected');
  await page.check('#stream');
  await speak('stream with the added voice');

  const shot = path.join(outDir, 'web_page.png');
  await page.screenshot({path: shot, fullPage: true});
  check(fs.statSync(shot).size > 10000, `screenshot ${shot}`);
  check(consoleErrors.length === 0, `no console errors${consoleErrors.length ? ': ' + consoleErrors.join(' | ') : ''}`);
} catch (e) {
  console.log(`FAIL: ${e.stack || e}`);
  failures.push(String(e));
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  const code = await new Promise(resolve => {
    if (server.exitCode !== null) resolve(server.exitCode);
    else server.once('exit', c => resolve(c));
  });
  check(code === 0, `cosyflow http drained and exited (${code})`);
  clearTimeout(guard);
  fs.rmSync(store, {force: true});
  fs.rmSync(store + '.lock', {force: true});
}
console.log(failures.length ? `${failures.length} failure(s)` : 'web page test passed');
process.exit(failures.length ? 1 : 0);
