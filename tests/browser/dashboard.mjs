// Drives the kfarm dashboard (web/) in the system chromium, headless, against
// a running `kfarm serve`. Prints one "ok: ..." or "FAIL: ..." line per check
// (tests/integration/t-browser.sh counts them) and exits 1 if any failed.
//
// node dashboard.mjs --url URL --screenshot PNG [--job-shot PNG]
//   [--cell ARCH:TEST:STATUS]...          matrix cell must carry data-status
//   [--regression KIND:ARCH:TEST]...      a regression row must be listed
//   [--history ARCH:TEST:S1,S2,...]       click that cell: history strip, oldest first
//   [--job ID]                            #job/ID shows results and a log with 'KTAP version 1'
//   [--candidate KERNEL:ARCH:TEST:STATUS] pick that candidate: the cell changes, the URL
//                                         keeps the choice across a reload
//   [--fact TREE:ARCH:KERNEL:FACT:changed|same]  #tree=TREE: the facts table's cell
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
	options: {
		url: { type: 'string' },
		screenshot: { type: 'string' },
		'job-shot': { type: 'string' },
		cell: { type: 'string', multiple: true, default: [] },
		regression: { type: 'string', multiple: true, default: [] },
		history: { type: 'string' },
		job: { type: 'string' },
		candidate: { type: 'string' },
		fact: { type: 'string', multiple: true, default: [] },
		chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
	},
});
if (!opt.url || !opt.screenshot) {
	console.error('usage: node dashboard.mjs --url URL --screenshot PNG [...]');
	process.exit(2);
}

let failed = 0;
const ok = (what) => console.log(`  ok: ${what}`);
const bad = (what, detail) => {
	failed++;
	console.log(`  FAIL: ${what}${detail ? ` (${detail})` : ''}`);
};
const check = (what, cond, detail) => (cond ? ok(what) : bad(what, detail));
const T = { timeout: 10000 };

mkdirSync(dirname(opt.screenshot), { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'kfarm-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
	executablePath: opt.chromium,
	headless: true,
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	viewport: { width: 1280, height: 900 },
});

// every page: console errors, uncaught exceptions and requests that left the server
function watch(page) {
	const w = { errors: [], foreign: [] };
	page.on('console', (m) => { if (m.type() === 'error') w.errors.push(m.text()); });
	page.on('pageerror', (e) => w.errors.push(`uncaught: ${e.message}`));
	page.on('request', (r) => {
		const u = r.url();
		if (!u.startsWith(opt.url) && !u.startsWith('data:')) w.foreign.push(u);
	});
	return w;
}
const loaded = (page) => page.waitForSelector('body[data-loaded="yes"]', T);
// rgb(a) of an element's background -> [r, g, b]
const bg = (loc) => loc.evaluate((e) => getComputedStyle(e).backgroundColor.match(/\d+/g).slice(0, 3).map(Number));
// hue in degrees (saturated enough to count as a colour, else -1)
const hue = ([r, g, b]) => {
	const max = Math.max(r, g, b), min = Math.min(r, g, b), d = max - min;
	if (d < 25) return -1;
	const h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
	return (h * 60 + 360) % 360;
};
const reddish = (c) => { const h = hue(c); return h >= 0 && (h < 15 || h > 340); };
const greenish = (c) => { const h = hue(c); return h >= 90 && h <= 160; };
const bluish = (c) => { const h = hue(c); return h >= 200 && h <= 250; };
const amber = (c) => { const h = hue(c); return h >= 30 && h <= 55; };

try {
	// ---- 1. the dashboard against the real database ----
	const page = await ctx.newPage();
	const w = watch(page);
	await page.goto(opt.url, T);
	await loaded(page);
	ok('dashboard loaded (every section fetched)');
	check('no degradation notes with the full API', (await page.locator('#notes .note').count()) === 0,
		await page.locator('#notes').innerText());

	for (const spec of opt.cell) {
		const [arch, test, want] = spec.split(':');
		const td = page.locator(`#matrix td[data-arch="${arch}"][data-test="${test}"]`);
		const got = (await td.count()) ? await td.getAttribute('data-status') : 'absent';
		check(`matrix ${arch} × ${test} is ${want}`, got === want, `got ${got}`);
	}
	const pass = page.locator('#matrix td[data-status="PASS"]').first();
	const fail = page.locator('#matrix td[data-status="FAIL"]').first();
	if (await pass.count()) check('PASS cells are green', greenish(await bg(pass)), String(await bg(pass)));
	if (await fail.count()) check('FAIL cells are red', reddish(await bg(fail)), String(await bg(fail)));
	const tip = await page.locator('#matrix td[data-status]').first().getAttribute('title');
	check('matrix cells carry a tooltip with kernel and job', /kernel .*\njob \d+/.test(tip || ''), tip);

	for (const spec of opt.regression) {
		const [kind, arch, test] = spec.split(':');
		const row = page.locator(`tr.regression-row[data-kind="${kind}"][data-arch="${arch}"][data-test="${test}"]`);
		check(`regression row: ${kind} ${arch} ${test}`, (await row.count()) === 1);
		if (kind === 'regression' && (await row.count()))
			check('regression kind is shown in red', reddish(await bg(row.locator('.kind'))));
	}

	const cards = await page.locator('#latest .job-card').count();
	const st = await page.evaluate(async () => (await (await fetch('/api/status')).json()));
	check('header: a latest-job card per tree x arch', cards >= 1 && cards === st.trees.length, `${cards} cards`);
	// the 6.1 and 6.12 candidates of one arch are two cards, not one overwriting the other
	for (const t of st.trees) {
		const c = page.locator(`#latest .job-card[data-tree="${t.tree}"][data-arch="${t.arch}"]`);
		const want = t.job ? t.job.outcome : 'NOT_BOOTED';
		check(`  card ${t.tree} × ${t.arch}: ${want}`, (await c.count()) === 1 &&
			(await c.getAttribute('data-outcome')) === want);
		if (t.builds.length)
			check(`  card ${t.tree} × ${t.arch} shows its build ${t.builds[0].status}`,
				(await c.locator(`[data-build="${t.builds[0].status}"]`).count()) === 1);
	}
	const perArch = {};
	for (const t of st.trees) perArch[t.arch] = (perArch[t.arch] || 0) + 1;
	check('header: an arch with candidates of two trees has two cards', Object.values(perArch).some((n) => n > 1) ===
		(await page.evaluate(() => { const n = {}; for (const e of document.querySelectorAll('#latest .job-card'))
			n[e.dataset.arch] = (n[e.dataset.arch] || 0) + 1; return Object.values(n).some((k) => k > 1); })),
		JSON.stringify(perArch));
	const card = await page.locator('#latest .job-card:not(.build-only)').first().innerText();
	check('header card shows outcome, release and QEMU version', /COMPLETE|FAIL|PANIC|TIMEOUT|INFRA/.test(card) &&
		/\d+\.\d+\.\d+/.test(card) && /QEMU \d/.test(card), card.replace(/\n/g, ' | '));

	const lines = await page.locator('#trend svg polyline').count();
	const pts = await page.locator('#trend svg circle').count();
	check('trend: one polyline per arch, a point per job', lines >= 1 && pts >= lines, `${lines} lines, ${pts} points`);

	if (opt.history) {
		const [arch, test, seq] = opt.history.split(':');
		await page.locator(`#matrix td[data-arch="${arch}"][data-test="${test}"]`).click();
		const sq = page.locator('#history .sq');
		await sq.first().waitFor(T).catch(() => {});
		const got = await sq.evaluateAll((l) => l.map((e) => e.dataset.status).join(','));
		check(`clicking ${arch} × ${test} shows its history ${seq}`, got === seq, `got ${got}`);
		const labels = await page.locator('#history .klabel').allInnerTexts();
		check('history strip has kernel labels', labels.length >= 1 && labels.every((l) => l.trim()), labels.join(','));
		check('the clicked cell is highlighted', (await page.locator('#matrix td.cell.selected').count()) === 1);
	}

	await page.screenshot({ path: opt.screenshot, fullPage: true });
	ok(`screenshot ${opt.screenshot}`);

	if (opt.job) {
		// through a link, as a user would: the newest square of the strip, or the URL
		const link = page.locator(`a[href="#job/${opt.job}"]`).first();
		if (await link.count()) await link.click(); else await page.goto(`${opt.url}/#job/${opt.job}`);
		await page.waitForFunction(() => /^#job\/\d+$/.test(location.hash), null, T);
		const pre = page.locator('#job-view pre.log');
		await pre.waitFor(T).catch(() => {});
		const log = (await pre.count()) ? await pre.innerText() : '';
		check(`job ${opt.job}: console log shown, contains 'KTAP version 1'`, log.includes('KTAP version 1'), `${log.length} chars`);
		const scroll = await pre.evaluate((e) => [e.scrollHeight > e.clientHeight, e.scrollTop > 0]).catch(() => [false, false]);
		check('job: log is a scrollable box scrolled to its end', !scroll[0] || scroll[1], String(scroll));
		const rows = await page.locator('#job-view tr[data-test]').count();
		check('job: results table', rows > 0, `${rows} rows`);
		const first = await page.locator('#job-view tr[data-test]').first().getAttribute('data-depth');
		check('job: a test is listed before its subtests', first === '0', `first row depth ${first}`);
		if (opt['job-shot']) await page.screenshot({ path: opt['job-shot'], fullPage: false });
		await page.goBack();
		await page.locator('#dashboard').waitFor({ state: 'visible', ...T });
		ok('back from the job view to the dashboard');
	}
	if (opt.candidate) {
		const [kernel, arch, test, want] = opt.candidate.split(':');
		const td = page.locator(`#matrix td[data-arch="${arch}"][data-test="${test}"]`);
		await page.locator('#cand').selectOption(kernel);
		await page.waitForSelector(`#matrix td[data-arch="${arch}"][data-test="${test}"][data-status="${want}"]`, T)
			.catch(() => {});
		check(`candidate ${kernel} selected: ${arch} × ${test} is ${want}`, (await td.getAttribute('data-status')) === want,
			`got ${await td.getAttribute('data-status')}`);
		const hash = await page.evaluate(() => location.hash);
		check('the URL keeps the tree and candidate', hash.includes(`kernel=${encodeURIComponent(kernel)}`), hash);
		await page.reload();
		await loaded(page);
		check('after a reload: same candidate, same cell', (await page.locator('#cand').inputValue()) === kernel &&
			(await td.getAttribute('data-status')) === want);
	}
	for (const spec of opt.fact) {
		const [tree, arch, kernel, fact, want] = spec.split(':');
		await page.goto(`${opt.url}/#tree=${encodeURIComponent(tree)}`, T);
		await page.reload();
		await loaded(page);
		const td = page.locator(`#facts tr.facts-row[data-arch="${arch}"][data-kernel="${kernel}"] td[data-fact="${fact}"]`);
		const n = await td.count();
		const changed = n ? (await td.getAttribute('class')).split(' ').includes('fact-changed') : null;
		check(`facts of tree ${tree}: ${arch} ${kernel} ${fact} is ${want}`, n === 1 && changed === (want === 'changed'),
			n ? await td.innerText() : 'no such cell');
		if (changed)
			check(`  the changed ${fact} is marked blue and shows the old value`, bluish(await bg(td)) &&
				/was: /.test(await td.innerText()), String(await bg(td)));
	}
	check('no console errors or uncaught exceptions', w.errors.length === 0, w.errors.join(' | '));
	check('no request left the kfarm server', w.foreign.length === 0, w.foreign.join(' '));

	// ---- 2. an older server: the newer routes answer 404 ----
	const old = await ctx.newPage();
	const w2 = watch(old);
	const gone = /\/api\/(regressions|matrix|trend|trees)(\?|$)/;
	await old.route((u) => gone.test(u.pathname), (r) => r.fulfill({
		status: 404, contentType: 'application/json', body: '{"error":"no such route","status":404}',
	}));
	await old.goto(opt.url, T);
	await loaded(old);
	const notes = await old.locator('#notes .note').count();
	check('without the new routes: a visible note per missing feature', notes >= 3, `${notes} notes`);
	check('without /api/matrix: matrix still drawn from /api/status',
		(await old.locator('#matrix td[data-status]').count()) > 0);
	for (const spec of opt.cell.slice(0, 3)) {
		const [arch, test] = spec.split(':');
		const got = await old.locator(`#matrix td[data-arch="${arch}"][data-test="${test}"]`).getAttribute('data-status');
		const want = await old.evaluate(async ([a, t]) => (await (await fetch('/api/status')).json())
			.results.find((r) => r.arch === a && r.test === t)?.status, [arch, test]);
		check(`  fallback cell ${arch} × ${test} = /api/status (${want})`, got === want, `got ${got}`);
	}
	check('without /api/trend: trend drawn from the runs',
		(await old.locator('#trend svg polyline').count()) >= 1);
	const unexpected = w2.errors.filter((e) => !/status of 404/.test(e));
	check('degraded page: no errors besides the 404s themselves', unexpected.length === 0, unexpected.join(' | '));

	// ---- 3. hostile text and every kind of change ----
	const evil = '<img src=x onerror="window.__pwned=1">';
	const ends = (s, j) => ({ kernel: `k<b>${j}</b>`, release: '6.1.1', status: s, job: j });
	const kinds = ['regression', 'fix', 'support_change', 'flaky'];
	const x = await ctx.newPage();
	const w3 = watch(x);
	await x.route((u) => u.pathname === '/api/regressions', (r) => r.fulfill({
		status: 200, contentType: 'application/json',
		body: JSON.stringify({ regressions: kinds.map((k, i) => ({
			tree: 'evil', arch: 'x86_64', test: `t${i}${evil}`, kind: k, from: ends('PASS', 1), to: ends('FAIL', 2), reason: evil,
		})) }),
	}));
	await x.goto(opt.url, T);
	await loaded(x);
	const text = await x.locator('#regressions').innerText();
	check('API text is shown as text, never parsed as HTML',
		text.includes(evil) && (await x.locator('#regressions img, #regressions b').count()) === 0 &&
		!(await x.evaluate(() => window.__pwned)));
	const colours = {};
	for (const k of kinds) colours[k] = await bg(x.locator(`tr.regression-row[data-kind="${k}"] .kind`));
	check('kind colours: regression red, fix green, support change blue, flaky amber',
		reddish(colours.regression) && greenish(colours.fix) && bluish(colours.support_change) && amber(colours.flaky),
		JSON.stringify(colours));
	check('hostile page: no console errors', w3.errors.length === 0, w3.errors.join(' | '));
} catch (e) {
	bad('browser test crashed', e.stack || String(e));
} finally {
	await ctx.close();
	rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
