// The dashboard's view of a build that failed (tests/integration/t-source.sh):
// the matrix cells of an arch whose kernel did not build look unlike any boot
// outcome, the build regression is listed, and a cell opens the build log with
// the first error highlighted and scrolled into view. Prints "ok: ..." /
// "FAIL: ..." lines and exits 1 if any check failed.
//
// node builds.mjs --url URL --arch ARCH --error LINE --screenshot PNG [--job-shot PNG] [--hash H]
//   [--kind regression|change|fix]   the kind of the arch's build row listed (default regression)
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
	options: {
		url: { type: 'string' }, arch: { type: 'string' }, error: { type: 'string' },
		screenshot: { type: 'string' }, 'job-shot': { type: 'string' }, hash: { type: 'string', default: '' },
		kind: { type: 'string', default: 'regression' },
		chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
	},
});
if (!opt.url || !opt.arch || !opt.error || !opt.screenshot) {
	console.error('usage: node builds.mjs --url URL --arch ARCH --error LINE --screenshot PNG');
	process.exit(2);
}
let failed = 0;
const check = (what, cond, detail) => {
	if (cond) console.log(`  ok: ${what}`);
	else { failed++; console.log(`  FAIL: ${what}${detail ? ` (${detail})` : ''}`); }
};
const T = { timeout: 15000 };
mkdirSync(dirname(opt.screenshot), { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'kfarm-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
	executablePath: opt.chromium, headless: true,
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
	viewport: { width: 1280, height: 900 },
});
try {
	const page = await ctx.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(e.message));
	page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
	await page.goto(`${opt.url}/${opt.hash}`, T);
	await page.waitForSelector('body[data-loaded="yes"]', T);
	const cells = page.locator(`#matrix td.cell[data-arch="${opt.arch}"]`);
	const n = await cells.count();
	const built = await cells.evaluateAll((l) => l.filter((e) => e.dataset.build === 'FAIL').length);
	check(`every ${opt.arch} cell is a build-failed cell (${built} of ${n})`, n > 0 && built === n);
	check('... stored MISSING, not PASS', (await cells.evaluateAll((l) => l.every((e) => e.dataset.status === 'MISSING'))));
	const look = await cells.first().evaluate((e) => {
		const s = getComputedStyle(e);
		return { img: s.backgroundImage, code: e.querySelector('.code')?.textContent };
	});
	// a boot that failed leaves MISSING cells too: the build's must differ
	const missing = await page.evaluate(() => {
		const td = document.createElement('td');
		td.className = 'cell st-MISSING';
		document.querySelector('#matrix table tr').append(td);
		const s = getComputedStyle(td), v = [s.backgroundColor, s.backgroundImage];
		td.remove();
		return v;
	});
	check('the build-failed cell is hatched and says BUILD, unlike a boot failure\'s MISSING',
		/gradient/.test(look.img) && look.code === 'BUILD' && missing[1] === 'none', `${JSON.stringify(look)} vs ${missing}`);
	const reg = page.locator(`tr.regression-row[data-kind="${opt.kind}"][data-arch="${opt.arch}"][data-test="build"]`);
	check(`the build ${opt.kind} of ${opt.arch} is listed`, (await reg.count()) === 1);
	await page.screenshot({ path: opt.screenshot, fullPage: true });
	check(`screenshot ${opt.screenshot}`, true);

	await cells.first().click();
	await page.waitForFunction(() => /^#job\/\d+$/.test(location.hash), null, T);
	const mark = page.locator('#job-view pre.log mark.first-error');
	await mark.waitFor(T).catch(() => {});
	const text = (await mark.count()) ? await mark.innerText() : '';
	check('the cell opens the build log with the first error marked', text.endsWith(opt.error) || text.includes(opt.error), text || 'no mark');
	const seen = await page.evaluate(() => {
		const pre = document.querySelector('#job-view pre.log'), m = pre?.querySelector('mark.first-error');
		if (!m) return false;
		const top = m.offsetTop - pre.offsetTop;
		return top >= pre.scrollTop && top < pre.scrollTop + pre.clientHeight;
	});
	check('... scrolled into view', seen);
	check('the job says NOT_BUILT and "Build log"', (await page.locator('#job-view h2 .badge').innerText()) === 'NOT_BUILT' &&
		(await page.locator('#job-view h3', { hasText: 'Build log' }).count()) === 1);
	if (opt['job-shot']) await page.screenshot({ path: opt['job-shot'] });
	check('no console errors', errors.length === 0, errors.join(' | '));
} catch (e) {
	check('browser test ran', false, e.stack || String(e));
} finally {
	await ctx.close();
	rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
