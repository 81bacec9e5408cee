'use strict';
// kfarm dashboard. Plain DOM, no framework, no build step. Every piece of
// text that comes from the API goes through textContent or setAttribute
// (via h() below) - never innerHTML.

const $ = (id) => document.getElementById(id);
const LOG_TAIL = 256 * 1024; // characters of console log shown
const STATUS_CODE = { PASS: 'PASS', FAIL: 'FAIL', SKIP: 'SKIP', MISSING: 'MISS', FLAKY: 'FLKY' };
const KINDS = {
	regression: { label: 'regression', order: 0 },
	flaky: { label: 'flaky', order: 1 },
	support_change: { label: 'support change', order: 2 },
	fix: { label: 'fix', order: 3 },
	change: { label: 'change', order: 4 },
};
const ARCH_COLOURS = { x86_64: '#1f77b4', arm64: '#ff7f0e', riscv64: '#17becf', sparc64: '#9467bd', alpha: '#8c564b' };
const EXTRA_COLOURS = ['#e377c2', '#7f7f7f', '#bcbd22', '#393b79', '#637939'];

// ---------- DOM helpers ----------

function h(tag, attrs, ...kids) {
	const e = document.createElement(tag);
	setAttrs(e, attrs);
	for (const k of kids.flat())
		if (k != null && k !== false) e.append(k instanceof Node ? k : String(k));
	return e;
}

function svg(tag, attrs, ...kids) {
	const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
	setAttrs(e, attrs);
	for (const k of kids.flat())
		if (k != null) e.append(k instanceof Node ? k : String(k));
	return e;
}

function setAttrs(e, attrs) {
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v == null || v === false) continue;
		if (k === 'class') e.setAttribute('class', v);
		else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
		else e.setAttribute(k, v === true ? '' : String(v));
	}
}

const badge = (status) => h('span', { class: `badge st-${status || 'none'}` }, status || '?');
const jobLink = (id, text) => h('a', { href: `#job/${id}` }, text || `#${id}`);
const trunc = (s, n) => (s && s.length > n ? s.slice(0, n - 1) + '…' : s || '');
const secs = (x) => (x == null ? '–' : `${x.toFixed(x < 10 ? 2 : 1)} s`);
const when = (t) => (t == null ? '–' : new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ') + 'Z');
const qemuShort = (v) => (v && (v.match(/version\s+([0-9][\w.+~-]*)/) || [])[1]) || v || '?';
const muted = (text) => h('p', { class: 'muted' }, text);

function ago(t) {
	if (t == null) return '';
	const s = Date.now() / 1000 - t;
	if (s < 90) return 'just now';
	if (s < 5400) return `${Math.round(s / 60)} min ago`;
	if (s < 129600) return `${Math.round(s / 3600)} h ago`;
	return `${Math.round(s / 86400)} d ago`;
}

function note(text) {
	$('notes').append(h('div', { class: 'note' }, text));
}

function showError(box, err) {
	box.replaceChildren(h('p', { class: 'error' }, `could not load: ${err.message}`));
}

// ---------- API ----------

class ApiError extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

async function api(path) {
	let r;
	try {
		r = await fetch(path, { headers: { Accept: 'application/json, text/plain' } });
	} catch (e) {
		throw new ApiError(0, `${path}: ${e.message}`);
	}
	const json = (r.headers.get('content-type') || '').includes('json');
	if (!r.ok) {
		let msg = r.statusText;
		if (json) msg = (await r.json().catch(() => ({}))).error || msg;
		throw new ApiError(r.status, `${path}: ${r.status} ${msg}`);
	}
	return json ? r.json() : r.text();
}

// A route newer servers have: null when this server does not know it.
async function optional(path) {
	try {
		return await api(path);
	} catch (e) {
		if (e.status === 404) return null;
		throw e;
	}
}

// ---------- state ----------

const state = {
	status: null,   // /api/status
	trees: null,    // /api/trees (null: not available)
	tree: '',
	kernel: '',
	selected: null, // {arch, test} of the cell whose history is shown
};

// ---------- header: latest job per tree x arch, builds beside boots ----------

// a build's line on a card: its status, and the first error when it failed
function buildLine(b) {
	if (!b) return null;
	return h('span', { class: `small build build-${b.status}`, 'data-build': b.status,
		title: [`build ${b.status} (${b.config || ''})`, b.error, b.compiler].filter(Boolean).join('\n') },
	'build ', badge(b.status), b.error ? ` ${trunc(b.error, 40)}` : '');
}

function renderLatest() {
	// older servers have no "trees": one card per arch as before
	const cards = state.status.trees || (state.status.jobs || []).map((j) => ({ tree: j.tree, arch: j.arch, job: j, builds: [] }));
	if (!cards.length) return $('latest').replaceChildren(h('span', { class: 'muted' }, 'no jobs yet'));
	$('latest').replaceChildren(...cards.map((c) => {
		const j = c.job, b = (c.builds || [])[0];
		const head = [h('b', {}, c.arch), h('span', { class: 'tree' }, c.tree || '')];
		if (!j) {  // built (or failed to) but never booted
			return h('a', {
				class: 'job-card build-only', href: b && b.log ? `#builds` : '#', 'data-arch': c.arch, 'data-tree': c.tree || '',
				'data-outcome': 'NOT_BOOTED', title: `${c.tree} ${c.arch}: no boot yet`,
			}, ...head, badge(b ? `BUILD_${b.status}` : 'none'), h('span', { class: 'rel' }, b?.release || b?.kernel || ''),
			buildLine(b));
		}
		return h('a', {
			class: 'job-card', href: `#job/${j.id}`, 'data-arch': c.arch, 'data-tree': c.tree || '', 'data-outcome': j.outcome,
			title: [`job ${j.id}, ${j.tree || ''} ${j.kernel || ''}`, j.reason, j.warning && `warning: ${j.warning}`,
				j.qemu_version, `finished ${when(j.finished)}`].filter(Boolean).join('\n'),
		}, ...head, badge(j.outcome), h('span', { class: 'rel' }, j.release || 'no release'),
		h('span', { class: 'small' }, `${j.kernel || ''} · QEMU ${qemuShort(j.qemu_version)}`),
		j.pass !== undefined ? h('span', { class: 'small counts' }, `${j.pass} pass · ${j.fail + j.missing} fail · ${j.skip} skip`) : null,
		buildLine(b),
		h('span', { class: 'small muted' }, ago(j.finished)));
	}));
}

// ---------- regressions ----------

function renderRegressions(data, bisections) {
	const box = $('regressions');
	if (!data) {
		$('reg-summary').textContent = '';
		box.replaceChildren(muted('This server has no /api/regressions.'));
		return note('Regressions unavailable: this kfarm serve has no /api/regressions (older version).');
	}
	const rows = data.regressions.slice().sort((a, b) =>
		(KINDS[a.kind]?.order ?? 9) - (KINDS[b.kind]?.order ?? 9) ||
		(a.tree || '').localeCompare(b.tree || '') || a.arch.localeCompare(b.arch) || a.test.localeCompare(b.test));
	const counts = {};
	for (const r of rows) counts[r.kind] = (counts[r.kind] || 0) + 1;
	$('reg-summary').textContent = Object.entries(counts)
		.map(([k, n]) => `${n} ${KINDS[k]?.label || k}${n > 1 ? (k === 'fix' ? 'es' : 's') : ''}`).join(' · ');
	if (!rows.length) return box.replaceChildren(h('p', { class: 'all-good' }, 'No regressions, fixes, support changes or flakes between the last candidates.'));
	const end = (e) => e ? h('td', {}, badge(e.status), ' ', h('span', { class: 'kern' }, e.kernel || '?'),
		h('span', { class: 'small muted' }, ` ${e.release || ''} `), e.job ? jobLink(e.job) : '') : h('td', {}, '–');
	box.replaceChildren(h('div', { class: 'scroll-x' }, h('table', { class: 'list' },
		h('thead', {}, h('tr', {}, ['kind', 'tree', 'arch', 'test', 'from', 'to', 'reason'].map((c) => h('th', {}, c)))),
		h('tbody', {}, rows.map((r) => h('tr', {
			class: 'regression-row', 'data-kind': r.kind, 'data-arch': r.arch, 'data-test': r.test, 'data-tree': r.tree,
		}, h('td', {}, h('span', { class: `kind kind-${r.kind}` }, KINDS[r.kind]?.label || r.kind)),
		h('td', {}, r.tree || ''), h('td', {}, r.arch),
		h('td', {}, h('a', { href: '#', class: 'cell-link', onclick: (ev) => { ev.preventDefault(); showHistory(r.arch, r.test); } }, r.test)),
		end(r.from), end(r.to), h('td', { class: 'reason', title: r.reason || '' }, trunc(r.reason, 60),
			bisectionOf(r, bisections))))))));
}

// The bisection that explains a regression (kfarm bisect --tree, or kfarm
// regressions --bisect): same tree, arch and test (or a test nested in it).
function bisectionOf(r, bisections) {
	const b = (bisections || []).find((x) => x.tree === r.tree && x.arch === r.arch &&
		(x.test === r.test || (x.test || '').startsWith(`${r.test}/`) || (x.mode === 'build' && r.test === 'build')));
	if (!b) return null;
	const what = b.culprit ? ['first bad commit ', h('span', { class: 'kern' }, b.culprit.slice(0, 12)), ` ${trunc(b.subject, 50)}`]
		: [b.status === 'running' ? 'bisecting…' : `bisection ${b.status}`];
	return h('div', { class: 'bisection small', 'data-bisection': b.id, title: b.message || '' },
		`bisection #${b.id}: `, ...what, b.author ? h('span', { class: 'muted' }, ` (${b.author})`) : null);
}

// ---------- tree / candidate selector ----------

const latestJob = (t) => Math.max(0, ...t.candidates.map((c) => c.first_job || 0));

function fillSelectors() {
	const treeSel = $('tree'), candSel = $('cand');
	if (!state.trees) {
		treeSel.disabled = candSel.disabled = true;
		treeSel.replaceChildren(h('option', {}, 'n/a'));
		candSel.replaceChildren(h('option', {}, 'latest'));
		return;
	}
	const trees = state.trees.slice().sort((a, b) => latestJob(b) - latestJob(a));
	treeSel.disabled = candSel.disabled = !trees.length;
	if (!trees.some((t) => t.tree === state.tree)) state.tree = trees.length ? trees[0].tree : '';
	treeSel.replaceChildren(...trees.map((t) => h('option', { value: t.tree, selected: t.tree === state.tree }, t.tree)));
	const tree = trees.find((t) => t.tree === state.tree);
	const cands = tree ? tree.candidates.slice().sort((a, b) => (b.first_job || 0) - (a.first_job || 0)) : [];
	// until someone picks one: the newest candidate of the tree
	if (!state.kernelChosen || (state.kernel && !cands.some((c) => c.kernel === state.kernel)))
		state.kernel = cands.length ? cands[0].kernel : '';
	candSel.replaceChildren(h('option', { value: '', selected: !state.kernel }, 'latest of each cell'),
		...cands.map((c) => h('option', { value: c.kernel, selected: c.kernel === state.kernel },
			`${c.kernel}${c.release ? ` (${c.release})` : ''}`)));
}

// ---------- matrix ----------

async function loadMatrix() {
	const box = $('matrix');
	let cells, source;
	const q = new URLSearchParams();
	if (state.tree) q.set('tree', state.tree);
	if (state.kernel) q.set('kernel', state.kernel);
	const seq = state.matrixSeq = (state.matrixSeq || 0) + 1;
	const m = await optional(`/api/matrix?${q}`);
	if (seq !== state.matrixSeq) return; // the selection changed meanwhile
	if (m) {
		cells = m.cells;
		source = `${m.tree || 'all trees'} · ${m.kernel || 'latest of each cell'}`;
	} else {
		if (!state.matrixNoted) note('Matrix per candidate unavailable (no /api/matrix): showing the latest result of every cell from /api/status.');
		state.matrixNoted = true;
		cells = state.status.results;
		source = 'latest results (/api/status)';
	}
	renderMatrix(box, cells, source);
}

function renderMatrix(box, cells, source) {
	const known = state.status?.arches || [];
	const arches = [...new Set(cells.map((c) => c.arch))]
		.sort((a, b) => ((known.indexOf(a) + 1 || 99) - (known.indexOf(b) + 1 || 99)) || a.localeCompare(b));
	const tests = [...new Set(cells.map((c) => c.test))].sort();
	const byKey = new Map(cells.map((c) => [`${c.arch}\n${c.test}`, c]));
	const counts = {};
	for (const c of cells) counts[c.status] = (counts[c.status] || 0) + 1;
	$('matrix-info').textContent = `${source} · ` +
		(Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(' · ') || 'no results');
	if (!cells.length) return box.replaceChildren(muted('No results for this selection yet.'));
	// the candidate most cells come from; cells from another one say so
	const kcount = {};
	for (const c of cells) kcount[c.kernel] = (kcount[c.kernel] || 0) + 1;
	const mainKernel = Object.keys(kcount).sort((a, b) => kcount[b] - kcount[a])[0];

	const cell = (arch, test) => {
		const c = byKey.get(`${arch}\n${test}`);
		if (!c) return h('td', { class: 'cell empty', title: `${test} never ran on ${arch}` }, '·');
		if (c.status === 'MISSING' && c.reason === NOT_BUILT) return buildCell(c, arch, test, mainKernel);
		const tip = [`${test} on ${arch}: ${c.status}`, c.reason, `kernel ${c.kernel || '?'} ${c.release || ''}`,
			`job ${c.job}`, c.flake_rate ? `flake rate ${Math.round(c.flake_rate * 100)}%` : ''].filter(Boolean).join('\n');
		const open = () => showHistory(arch, test);
		return h('td', {
			class: `cell st-${c.status}`, 'data-arch': arch, 'data-test': test, 'data-status': c.status,
			'data-job': c.job, title: tip, tabindex: 0, role: 'button',
			onclick: open, onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(); } },
		}, h('span', { class: 'code' }, STATUS_CODE[c.status] || c.status),
		c.flake_rate > 0 ? h('span', { class: 'flake' }, ` ~${Math.round(c.flake_rate * 100)}%`) : null,
		// the code says SKIP already; the tooltip keeps the reason as stored
		c.reason ? h('span', { class: 'reason' }, trunc(c.reason.replace(/^(SKIP|TODO|TIMEOUT)\s+/i, ''), 26)) : null,
		c.kernel !== mainKernel ? h('span', { class: 'kern' }, c.kernel || '?') : null);
	};
	box.replaceChildren(h('table', { class: 'matrix' },
		h('thead', {}, h('tr', {}, h('th', {}, 'test \\ arch'), arches.map((a) => h('th', { 'data-arch': a }, a)))),
		h('tbody', {}, tests.map((t) => h('tr', { 'data-test': t }, h('th', { class: 'test' }, t), arches.map((a) => cell(a, t)))))));
	markSelected();
}

// A test of an arch whose kernel did not build (kfarm stores it MISSING
// "not built", its job NOT_BUILT): not a boot failure, so a cell of its own
// look, opening the build log at its first error.
const NOT_BUILT = 'not built';
function buildCell(c, arch, test, mainKernel) {
	const open = () => { location.hash = `#job/${c.job}`; };
	return h('td', {
		class: 'cell st-NOT_BUILT', 'data-arch': arch, 'data-test': test, 'data-status': c.status,
		'data-build': 'FAIL', 'data-job': c.job, tabindex: 0, role: 'link',
		title: `${test} on ${arch}: not built (the kernel did not build)\nkernel ${c.kernel || '?'}\nopens the build log at the first error`,
		onclick: open, onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(); } },
	}, h('span', { class: 'code' }, 'BUILD'), h('span', { class: 'reason' }, 'build failed'),
	c.kernel !== mainKernel ? h('span', { class: 'kern' }, c.kernel || '?') : null);
}

function markSelected() {
	for (const td of document.querySelectorAll('td.cell.selected')) td.classList.remove('selected');
	const s = state.selected;
	if (!s) return;
	for (const td of document.querySelectorAll('td.cell[data-arch]'))
		if (td.dataset.arch === s.arch && td.dataset.test === s.test) td.classList.add('selected');
}

// ---------- history of one cell ----------

async function showHistory(arch, test) {
	const box = $('history');
	state.selected = { arch, test };
	markSelected();
	box.hidden = false;
	box.dataset.arch = arch;
	box.dataset.test = test;
	const close = h('button', { type: 'button', class: 'close', title: 'close', onclick: () => {
		box.hidden = true; state.selected = null; markSelected();
	} }, '×');
	box.replaceChildren(h('h3', {}, `${test} on ${arch}`, close), muted('loading…'));
	box.scrollIntoView({ block: 'nearest' });
	let rows;
	try {
		rows = await api(`/api/history?${new URLSearchParams({ arch, test, limit: 20 })}`);
	} catch (e) {
		return showError(box.lastChild, e);
	}
	if (state.selected?.arch !== arch || state.selected?.test !== test) return; // another cell was clicked
	if (!rows.length) return box.lastChild.replaceWith(muted('No history.'));
	// oldest left; consecutive jobs of one candidate share one label
	const groups = [];
	for (const r of rows.slice().reverse()) {
		const last = groups[groups.length - 1];
		if (last && last.kernel === r.kernel && last.release === r.release) last.rows.push(r);
		else groups.push({ kernel: r.kernel, release: r.release, rows: [r] });
	}
	const strip = h('div', { class: 'strip' }, groups.map((g) => h('div', { class: 'group' },
		h('div', { class: 'squares' }, g.rows.map((r) => h('a', {
			class: `sq st-${r.status}`, href: `#job/${r.job}`, 'data-status': r.status, 'data-job': r.job,
			title: [`${r.status} · ${r.kernel || '?'} ${r.release || ''}`, r.reason, `job ${r.job} (${r.outcome}), run ${r.run}`,
				`${when(r.time)}${r.duration_s != null ? ` · ${secs(r.duration_s)}` : ''}`].filter(Boolean).join('\n'),
		}))),
		h('div', { class: 'klabel', title: g.release || '' }, trunc(g.kernel || '?', 18)))));
	const newest = rows[0];
	box.lastChild.replaceWith(h('div', {}, strip, h('p', { class: 'small' },
		`${rows.length} result${rows.length > 1 ? 's' : ''}, oldest left. Newest: `, badge(newest.status), ' ',
		newest.reason ? `${newest.reason} · ` : '', jobLink(newest.job, `job ${newest.job}`))));
}

// ---------- boot-time trend ----------

async function loadTrend() {
	const box = $('trend');
	let points;
	const t = await optional('/api/trend?limit=200');
	if (t) {
		points = t.points;
	} else {
		note('Boot-time trend from the last runs (no /api/trend on this server).');
		const runs = await api('/api/runs?limit=10');
		const details = await Promise.all(runs.map((r) => api(`/api/runs/${r.id}`)));
		points = details.flatMap((r) => r.jobs).map((j) => ({
			arch: j.arch, kernel: j.kernel, release: j.release, job: j.id, time: j.finished ?? j.started, boot_s: j.boot_s,
		})).sort((a, b) => a.time - b.time);
	}
	renderTrend(box, points.filter((p) => p.boot_s != null));
}

// about four round steps from 0 to at least v
function niceScale(v) {
	const raw = (v || 1) / 4, p = 10 ** Math.floor(Math.log10(raw));
	const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= raw);
	return { step, max: Math.ceil((v || 1) / step) * step };
}

function renderTrend(box, pts) {
	if (!pts.length) return box.replaceChildren(muted('No boot times recorded yet.'));
	const W = 760, H = 220, L = 48, R = 14, T = 12, B = 30;
	const { step, max: ymax } = niceScale(Math.max(...pts.map((p) => p.boot_s)));
	// x: the order of the jobs (equal spacing, so one slow week does not squash the rest)
	const x = (i) => L + (pts.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (pts.length - 1));
	const y = (v) => T + (H - T - B) * (1 - v / ymax);
	const arches = [...new Set(pts.map((p) => p.arch))].sort();
	const colour = (a) => ARCH_COLOURS[a] || EXTRA_COLOURS[arches.indexOf(a) % EXTRA_COLOURS.length];
	const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'trend', role: 'img', 'aria-label': 'boot time per arch' });
	for (let i = 0; i * step <= ymax * 1.0001; i++) {
		const v = i * step;
		g.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }),
			svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, `${+v.toFixed(2)} s`));
	}
	g.append(svg('text', { x: L, y: H - 8, class: 'axis' }, when(pts[0].time)),
		svg('text', { x: W - R, y: H - 8, 'text-anchor': 'end', class: 'axis' }, when(pts[pts.length - 1].time)));
	for (const a of arches) {
		const mine = pts.map((p, i) => [p, i]).filter(([p]) => p.arch === a);
		g.append(svg('polyline', {
			'data-arch': a, fill: 'none', stroke: colour(a), 'stroke-width': 2,
			points: mine.map(([p, i]) => `${x(i).toFixed(1)},${y(p.boot_s).toFixed(1)}`).join(' '),
		}));
		for (const [p, i] of mine)
			g.append(svg('a', { href: `#job/${p.job}` }, svg('circle', {
				cx: x(i).toFixed(1), cy: y(p.boot_s).toFixed(1), r: 3.5, fill: colour(a), 'data-arch': a,
			}, svg('title', {}, `${a} ${p.kernel || ''} ${p.release || ''}: boot ${secs(p.boot_s)} (job ${p.job}, ${when(p.time)})`))));
	}
	box.replaceChildren(g, h('div', { class: 'legend' }, arches.map((a) => {
		const last = pts.filter((p) => p.arch === a).pop();
		const sw = h('span', { class: 'swatch' });
		sw.style.background = colour(a);
		return h('span', { 'data-arch': a }, sw, `${a} (last ${secs(last.boot_s)})`);
	})));
}

// ---------- job view ----------

function orderResults(results) {
	// the store keeps a test's subtests before the test itself: show parent first
	const groups = new Map();
	for (const r of results) {
		const top = r.test.split('/')[0];
		if (!groups.has(top)) groups.set(top, { parent: null, kids: [] });
		const g = groups.get(top);
		if (r.depth === 0 && !g.parent) g.parent = r; else g.kids.push(r);
	}
	return [...groups.values()].flatMap((g) => (g.parent ? [g.parent, ...g.kids] : g.kids));
}

async function showJob(id) {
	$('dashboard').hidden = true;
	const view = $('job-view');
	view.hidden = false;
	view.dataset.job = id;
	view.replaceChildren(h('p', {}, h('a', { href: state.dashHash || '#', class: 'back' }, '← dashboard')),
		muted(`loading job ${id}…`));
	window.scrollTo(0, 0);
	let job, log;
	try {
		[job, log] = await Promise.all([api(`/api/jobs/${id}`), api(`/api/jobs/${id}/log`).catch((e) => e)]);
	} catch (e) {
		return showError(view.lastChild, e);
	}
	if (view.dataset.job !== id) return;
	const fact = (k, v) => (v == null || v === '' ? null : [h('dt', {}, k), h('dd', {}, v)]);
	const counts = {};
	for (const r of job.results) if (r.depth === 0) counts[r.status] = (counts[r.status] || 0) + 1;
	// subtests of passing tests are folded away until asked for
	const ordered = orderResults(job.results);
	const passed = new Set(job.results.filter((r) => r.depth === 0 && r.status === 'PASS').map((r) => r.test));
	const folded = ordered.filter((r) => r.depth && passed.has(r.test.split('/')[0])).length;
	view.classList.remove('all-subtests');
	const unfold = folded ? h('label', { class: 'small' }, h('input', { type: 'checkbox', id: 'all-subtests',
		onchange: (e) => view.classList.toggle('all-subtests', e.target.checked) }),
	` show the ${folded} subtests of passing tests`) : null;
	view.lastChild.replaceWith(
		h('h2', {}, `Job ${job.id}: ${job.arch} ${job.kernel || ''} `, badge(job.outcome)),
		h('dl', { class: 'facts' },
			fact('tree', job.tree), fact('release', job.release), fact('outcome', job.outcome),
			fact('reason', job.reason), fact('warning', job.warning), fact('boot', secs(job.boot_s)),
			fact('duration', secs(job.duration_s)), fact('started', when(job.started)), fact('finished', when(job.finished)),
			fact('attempt', job.attempt), fact('run', job.run_id), fact('host', `${job.host || '?'} · ${job.backend || '?'}`),
			fact('QEMU', job.qemu_version), fact('image sha256', job.image_sha256),
			fact('LAVA job', job.lava_job_id && /^https?:\/\//.test(job.lava_url || '')
				? h('a', { href: job.lava_url, rel: 'noreferrer' }, `#${job.lava_job_id}`) : job.lava_job_id)),
		job.qemu_cmdline ? h('details', {}, h('summary', {}, 'QEMU command line'), h('pre', { class: 'cmdline' }, job.qemu_cmdline)) : null,
		h('h3', {}, 'Results ', h('span', { class: 'summary' },
			Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(' · ')), ' ', unfold),
		job.results.length ? h('table', { class: 'list results' },
			h('thead', {}, h('tr', {}, ['test', 'status', 'reason', 'duration'].map((c) => h('th', {}, c)))),
			h('tbody', {}, ordered.map((r) => {
				const name = h('td', { class: r.depth ? 'sub' : 'top' }, r.depth ? r.test.split('/').slice(1).join('/') : r.test);
				name.style.paddingLeft = `${0.4 + r.depth * 1.4}em`;
				return h('tr', { 'data-test': r.test, 'data-status': r.status, 'data-depth': r.depth,
					class: r.depth && passed.has(r.test.split('/')[0]) ? 'pass-sub' : null }, name,
					h('td', {}, badge(r.status)), h('td', { class: 'reason', title: r.reason || '' }, trunc(r.reason, 100)),
					h('td', { class: 'num' }, r.duration_s == null ? '' : secs(r.duration_s)));
			}))) : muted('No results recorded.'),
		h('h3', {}, job.outcome === 'NOT_BUILT' ? 'Build log ' : 'Console log ', h('a', { href: `/api/jobs/${job.id}/log`, class: 'small' }, 'raw')),
		renderLog(log, job.outcome === 'NOT_BUILT' ? firstError(job.reason) : null));
	const pre = view.querySelector('pre.log'), mark = pre && pre.querySelector('mark.first-error');
	if (mark) pre.scrollTop = Math.max(0, mark.offsetTop - pre.offsetTop - pre.clientHeight / 3);
	else if (pre) pre.scrollTop = pre.scrollHeight;
}

// "build FAIL: fs/a.c:1:2: error: ..." -> the error line as stored (its paths
// relative to the source tree: a suffix of the log's line)
const firstError = (reason) => (reason || '').replace(/^build [A-Z]+: /, '') || null;

function renderLog(log, mark) {
	if (log instanceof Error) return h('p', { class: 'error' }, `no console log: ${log.message}`);
	const all = String(log);
	const cut = all.length > LOG_TAIL;
	const text = cut ? all.slice(all.indexOf('\n', all.length - LOG_TAIL) + 1) : all;
	// the first line that holds mark (the build's first error) is highlighted
	let body = [text];
	const at = mark ? text.indexOf(mark) : -1;
	if (at >= 0) {
		const start = text.lastIndexOf('\n', at) + 1, end = text.indexOf('\n', at);
		const stop = end < 0 ? text.length : end;
		body = [text.slice(0, start), h('mark', { class: 'first-error', id: 'first-error' }, text.slice(start, stop)), text.slice(stop)];
	}
	return h('div', {}, cut ? h('p', { class: 'small muted' },
		`showing the last ${Math.round(LOG_TAIL / 1024)} KiB of ${Math.round(all.length / 1024)} KiB`) : null,
	h('pre', { class: 'log', id: 'log' }, body));
}

// ---------- facts ----------

// sysinfo's notes per candidate (the tree selected above, else all): a value
// that differs from the previous candidate of the same tree x arch x variant
// (7.0's lazy preemption, io_uring switched off) is marked, with the old one
async function loadFacts() {
	const q = state.tree ? `?tree=${encodeURIComponent(state.tree)}` : '';
	const data = await optional(`/api/facts${q}`);
	const box = $('facts');
	if (!data) {
		$('facts-summary').textContent = '';
		return box.replaceChildren(muted('This server has no /api/facts.'));
	}
	const changed = data.rows.reduce((n, r) => n + Object.keys(r.changed).length, 0);
	$('facts-summary').textContent = changed ? `${changed} changed` : '';
	if (!data.rows.length) return box.replaceChildren(muted('No candidate has reported its facts yet (the sysinfo test).'));
	const cell = (r, f) => {
		const now = r.facts[f], was = r.changed[f];
		if (now === undefined) return h('td', { class: 'muted' }, '–');
		return h('td', { class: was !== undefined ? 'fact fact-changed' : 'fact', 'data-fact': f, title: now || '' },
			trunc(now || '', 48), was !== undefined ? h('div', { class: 'small' }, `was: ${trunc(was || '', 48)}`) : null);
	};
	box.replaceChildren(h('table', { class: 'list' },
		h('thead', {}, h('tr', {}, ['tree', 'candidate', 'arch', 'variant', ...data.facts].map((c) => h('th', {}, c)))),
		h('tbody', {}, data.rows.slice().reverse().map((r) => h('tr', {
			class: 'facts-row', 'data-arch': r.arch, 'data-kernel': r.kernel,
		}, h('td', {}, r.tree || ''), h('td', {}, h('span', { class: 'kern' }, r.kernel || '?'), ' ', jobLink(r.job)),
		h('td', {}, r.arch), h('td', {}, r.variant || ''), ...data.facts.map((f) => cell(r, f)))))));
}

// ---------- dashboard ----------

async function guarded(box, fn) {
	try {
		await fn();
	} catch (e) {
		showError(box, e);
	}
}

async function loadDashboard() {
	$('notes').replaceChildren();
	state.matrixNoted = false;
	try {
		state.status = await api('/api/status');
	} catch (e) {
		showError($('latest'), e);
		state.status = { results: [], jobs: [], arches: [] };
	}
	renderLatest();
	await Promise.all([
		guarded($('regressions'), async () => {
			const [reg, bis] = await Promise.all([optional('/api/regressions'), optional('/api/bisections')]);
			renderRegressions(reg, bis ? bis.bisections : null);
		}),
		guarded($('matrix'), async () => {
			const t = await optional('/api/trees');
			state.trees = t ? t.trees : null;
			if (!t) note('No candidate selector: this server has no /api/trees.');
			fillSelectors();
			await Promise.all([loadMatrix(), guarded($('facts'), loadFacts)]);
		}),
		guarded($('trend'), loadTrend),
	]);
	if (state.selected) showHistory(state.selected.arch, state.selected.test);
	state.ready = true;
	document.body.dataset.loaded = 'yes'; // for tests: everything has been fetched
}

// the matrix selection lives in the URL (#tree=T&kernel=K), so a link shows
// the same candidate; kernel= (empty) is "latest of each cell"
function saveSelection() {
	const q = new URLSearchParams();
	if (state.tree) q.set('tree', state.tree);
	if (state.kernelChosen) q.set('kernel', state.kernel);
	history.replaceState(null, '', `#${q}`);
	state.dashHash = location.hash || '#';
}

function readSelection() {
	const q = new URLSearchParams(location.hash.slice(1));
	if (q.has('tree')) state.tree = q.get('tree');
	state.kernelChosen = q.has('kernel');
	if (state.kernelChosen) state.kernel = q.get('kernel');
}

function route() {
	const m = location.hash.match(/^#job\/(\d+)$/);
	if (m) return showJob(m[1]);
	const changed = state.ready && (location.hash || '#') !== state.dashHash;
	state.dashHash = location.hash || '#';
	$('job-view').hidden = true;
	$('job-view').dataset.job = '';
	$('dashboard').hidden = false;
	if (changed) { // a link or a hand-edited URL chose another tree/candidate
		readSelection();
		fillSelectors();
		guarded($('matrix'), loadMatrix);
	}
}

function init() {
	$('tree').addEventListener('change', (e) => {
		state.tree = e.target.value;
		state.kernel = '';
		state.kernelChosen = false;
		fillSelectors();
		saveSelection();
		guarded($('matrix'), loadMatrix);
		guarded($('facts'), loadFacts);
	});
	$('cand').addEventListener('change', (e) => {
		state.kernel = e.target.value;
		state.kernelChosen = true;
		saveSelection();
		guarded($('matrix'), loadMatrix);
	});
	$('reload').addEventListener('click', () => {
		document.body.dataset.loaded = '';
		loadDashboard();
		if (!$('job-view').hidden) showJob($('job-view').dataset.job);
	});
	window.addEventListener('hashchange', route);
	readSelection();
	route();
	loadDashboard();
}

init();
