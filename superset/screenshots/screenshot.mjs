// Headless screenshots of Superset dashboards, with a render check of every chart.
//
//   SUPERSET_ADMIN_PASSWORD=… node screenshot.mjs --url http://127.0.0.1:8088 --user admin --out data/screenshots slug …
//
// The password comes from the environment, never from the command line (other users can read a process's argv).
// Prints one JSON line per dashboard: {slug, png, charts, rendered, errors, empty, bigNumbers, text, inkShare, colors,
// chartInk}; `bigNumbers` are the KPI tiles' numbers as shown, `text` the page's visible text.
// `rendered` counts charts that drew something (canvas, svg or table rows), `errors` the error boxes,
// `empty` the "no results" placeholders; `inkShare` is the share of non-background pixels of the PNG,
// `colors` the number of distinct colours in it and `chartInk` the non-background share inside each chart's
// box (measured in the page, so no image library is needed).
// Debian's chromium is used because Playwright cannot download its own browser here.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values: options, positionals: slugs } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8088' },
    user: { type: 'string', default: 'admin' },
    out: { type: 'string', default: 'data/screenshots' },
    chromium: { type: 'string', default: process.env.CHROMIUM_PATH || '/usr/bin/chromium' },
    'timeout-ms': { type: 'string', default: '90000' },
  },
});
const timeout = Number(options['timeout-ms']);
const VIEWPORT = { width: 1600, height: 1200 };
const outDir = resolve(options.out);
mkdirSync(outDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: options.chromium,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
try {
  const context = await browser.newContext({ viewport: VIEWPORT, locale: 'ru-RU' });
  const page = await context.newPage();
  await login(page);
  for (const slug of slugs) {
    console.log(JSON.stringify(await capture(page, slug)));
  }
} finally {
  await browser.close();
}

// The login page is a React form: wait until it is interactive, submit, and retry if we land on it again
// (a submit that races the page's own initialisation is lost).
async function login(page) {
  for (let attempt = 1; ; attempt += 1) {
    await page.goto(`${options.url}/login/`, { timeout, waitUntil: 'networkidle' });
    await page.locator('input[name="username"], #username').first().fill(options.user);
    await page.locator('input[name="password"], #password').first().fill(process.env.SUPERSET_ADMIN_PASSWORD ?? '');
    await page.locator('button[type="submit"], input[type="submit"]').first().click();
    try {
      await page.waitForURL((url) => !url.pathname.startsWith('/login'), { timeout: 30000 });
      return;
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

// Every chart shows a drawing, a table, a number, an error or an empty state, and no spinner.
async function chartsSettled(page) {
  await page.locator('.dashboard-component-chart-holder').first().waitFor({ timeout });
  await page.waitForFunction(() => {
    const charts = [...document.querySelectorAll('.dashboard-component-chart-holder')];
    const done = (chart) => !chart.querySelector('[data-test="loading-indicator"], .loading')
      && chart.querySelector('canvas, svg, table, .header-line, [role="alert"], .ant-alert, [data-test="empty-state"], .ant-empty');
    return charts.length > 0 && charts.every(done);
  }, null, { timeout, polling: 500 });
  await page.waitForTimeout(1500); // echarts animations settle
}

async function capture(page, slug) {
  await page.setViewportSize(VIEWPORT);
  await page.goto(`${options.url}/superset/dashboard/${slug}/?standalone=1`, { timeout, waitUntil: 'networkidle' });
  await chartsSettled(page);
  // a filter that starts on its first value («Месяц отчёта») re-queries the charts once its options have loaded
  await page.waitForLoadState('networkidle', { timeout });
  await chartsSettled(page);
  // Grow the window to the whole dashboard: one viewport screenshot then holds every chart. (A full-page
  // screenshot resizes the page while capturing, and Superset redraws its charts right then.)
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  if (height > VIEWPORT.height) {
    await page.setViewportSize({ width: VIEWPORT.width, height });
    await chartsSettled(page);
  }
  const stats = await page.evaluate(() => {
    const charts = [...document.querySelectorAll('.dashboard-component-chart-holder')];
    const drew = (chart) => chart.querySelector('canvas, svg:not([role="img"]) path, .header-line')
      || chart.querySelectorAll('table tbody tr').length > 0;
    const errorSelector = '[role="alert"], .ant-alert-error, .alert-danger, [data-test="error-alert"]';
    return {
      charts: charts.length,
      rendered: charts.filter(drew).length,
      errors: document.querySelectorAll(errorSelector).length,
      empty: document.querySelectorAll('[data-test="empty-state"], .ant-empty').length,
      errorTexts: [...document.querySelectorAll(errorSelector)].map((e) => e.textContent.trim().slice(0, 300)),
      // what a reader sees, for the checks of formats and names: the KPI tiles' numbers and the page's text
      bigNumbers: [...document.querySelectorAll('.header-line')].map((e) => e.textContent.trim()),
      text: document.body.innerText.slice(0, 100000),
      boxes: charts.map((chart) => {
        const { x, y, width, height } = chart.getBoundingClientRect();
        return { x: Math.round(x), y: Math.round(y), width: Math.round(width), height: Math.round(height) };
      }),
    };
  });
  const png = join(outDir, `${slug}.png`);
  const buffer = await page.screenshot({ path: png });
  const { boxes, ...rest } = stats;
  return { slug, png, ...rest, ...(await pixelStats(page, buffer, boxes)) };
}

// Decode the PNG in the page itself (canvas, no image library needed) and measure, for the whole image and
// for each chart's box, the share of pixels that differ from the most common colour (the background).
async function pixelStats(page, buffer, boxes) {
  return page.evaluate(async ({ base64, boxes }) => {
    const image = new Image();
    image.src = `data:image/png;base64,${base64}`;
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const ink = (x, y, width, height) => {
      const { data } = context.getImageData(x, y, Math.max(width, 1), Math.max(height, 1));
      const counts = new Map();
      for (let i = 0; i < data.length; i += 8) { // every other pixel is plenty
        const key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        counts.set(key, (counts.get(key) || 0) + 1);
      }
      const total = data.length / 8;
      return { colors: counts.size, inkShare: 1 - Math.max(...counts.values()) / total };
    };
    const chartInk = boxes.map((box) => Number(ink(box.x, box.y, box.width, box.height).inkShare.toFixed(4)));
    return { width: image.width, height: image.height, ...ink(0, 0, image.width, image.height), chartInk };
  }, { base64: buffer.toString('base64'), boxes });
}
