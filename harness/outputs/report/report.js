"use strict";
// The case matrix: filters, search, sort, paging and a two-column diff over the embedded data.
// Every piece of data reaches the page through textContent; nothing is parsed as HTML.
(function () {
  const PAGE = 50, PREVIEW = 400;
  // The data comes in several elements, each parsed on its own (a browser holds no string past ~512 MB): the
  // first has the columns and changes, the others rows and then the prompt texts, appended in order.
  const data = { rows: [], strings: [] };
  for (const block of document.querySelectorAll("script.harness-data")) {
    const part = JSON.parse(block.textContent);
    for (const key of ["columns", "changes"]) if (key in part) data[key] = part[key];
    for (const key of ["rows", "strings"]) if (key in part) for (const item of part[key]) data[key].push(item);
  }
  const cols = data.columns, strings = data.strings;
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const fmt = (v, digits) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));

  data.rows.forEach((row, i) => {
    row.order = i;
    const states = row.c.map((c) => (c ? c.s : "missing"));
    row.anyFail = states.includes("fail");
    row.anyError = states.includes("error");
    row.allPass = states.every((s) => s === "pass");
    row.different = new Set(states).size > 1;  // the verdicts differ (not merely the wording of the outputs)
    row.change = row.c.map((c, j) => data.changes[`${row.id}|${row.r}|${cols[j].prompt}|${cols[j].model}`] || "");
  });
  const haystack = (row) => row.hay || (row.hay = [row.id, JSON.stringify(row.vars), row.x,
    ...row.c.map((c) => (c ? c.o + " " + (c.ro || "") + " " + (c.e || "") : ""))].join("\n").toLowerCase());

  const filters = {
    all: () => true, fail: (r) => r.anyFail, pass: (r) => r.allPass, error: (r) => r.anyError,
    different: (r) => r.different, regression: (r) => r.change.includes("regression"),
    improvement: (r) => r.change.includes("improvement"),
  };
  const DEFAULTS = { filter: "all", q: "", tag: "", sort: "case", page: 0, a: "", b: "" };
  const state = { ...DEFAULTS };
  const SELECTS = [["tag", "tag"], ["sort", "sort"], ["diff-a", "a"], ["diff-b", "b"]];

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const key of Object.keys(state)) {
      if (params.has(key)) state[key] = key === "page" ? Math.max(0, parseInt(params.get(key), 10) || 0) : params.get(key);
    }
    if (!Object.hasOwn(filters, state.filter)) state.filter = "all";
    // A link from another report may name a tag, sort or column this one lacks: fall back to the default.
    for (const [id, key] of SELECTS) if (![...$(id).options].some((o) => o.value === state[key])) state[key] = DEFAULTS[key];
  }
  function writeHash() {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(state)) if (value !== DEFAULTS[key]) params.set(key, value);
    history.replaceState(null, "", "#" + params.toString());
  }

  function sortKey(spec) {
    if (spec === "id") return (r) => r.id;
    const m = /^(\d+):(status|latency|score)$/.exec(spec);
    if (!m) return (r) => r.order;
    const j = Number(m[1]), rank = { fail: 0, error: 1, pass: 2, missing: 3 };
    if (m[2] === "status") return (r) => (r.c[j] ? rank[r.c[j].s] : 3);
    if (m[2] === "latency") return (r) => (r.c[j] ? -r.c[j].l : 0);
    return (r) => (r.c[j] && r.c[j].sc.length ? r.c[j].sc[0][1] : 2);
  }

  function visibleRows() {
    const q = state.q.toLowerCase();
    const rows = data.rows.filter((r) => filters[state.filter](r)
      && (!state.tag || r.tags.includes(state.tag)) && (!q || haystack(r).includes(q)));
    const key = sortKey(state.sort);
    return rows.sort((a, b) => { const x = key(a), y = key(b); return x < y ? -1 : x > y ? 1 : a.order - b.order; });
  }

  // Word-level diff (longest common subsequence) of b against a, capped to stay fast.
  function diff(a, b) {
    const x = a.split(/(\s+)/).slice(0, 600), ys = b.split(/(\s+)/), y = ys.slice(0, 600);
    const n = x.length, m = y.length, dp = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
      dp[i][j] = x[i] === y[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
    const out = [];
    let i = 0, j = 0;
    while (i < n && j < m) {
      if (x[i] === y[j]) { out.push(["", x[i]]); i++; j++; }
      else if (dp[i + 1][j] >= dp[i][j + 1]) out.push(["del", x[i++]]);
      else out.push(["ins", y[j++]]);
    }
    while (i < n) out.push(["del", x[i++]]);
    while (j < m) out.push(["ins", y[j++]]);
    if (ys.length > m) out.push(["", ys.slice(m).join("")]);  // beyond the diffed words: shown, not diffed
    return out;
  }

  // An output clipped to stay within the report's limits (its full length is `full`) says so, and how long it was.
  function outputBlock(text, against, full) {
    const pre = el("pre", "output");
    if (full) {
      const wrap = el("div");
      wrap.append(outputBlock(text, against), el("small", "clipped", `…clipped, ${full.toLocaleString("en-US")} characters`));
      return wrap;
    }
    if (against !== null && against !== undefined) {
      for (const [kind, part] of diff(against, text)) pre.appendChild(kind ? el(kind, null, part) : document.createTextNode(part));
      return pre;
    }
    if (text.length <= PREVIEW) { pre.textContent = text; return pre; }
    pre.textContent = text.slice(0, PREVIEW) + "…";
    const wrap = el("div");
    const more = el("button", "link", `show all ${text.length} characters`);
    more.addEventListener("click", () => { pre.textContent = text; more.remove(); });
    wrap.append(pre, more);
    return wrap;
  }

  function lazyDetails(label, build) {
    const details = el("details");
    details.appendChild(el("summary", null, label));
    details.addEventListener("toggle", () => { if (details.open && details.childNodes.length === 1) details.appendChild(build()); }, { once: false });
    return details;
  }

  function caseCell(row) {
    const td = el("td", "case");
    td.appendChild(el("code", null, row.id));
    if (row.r) td.appendChild(el("small", null, ` repeat ${row.r}`));
    for (const tag of row.tags) td.appendChild(el("span", "tag", tag));
    if (row.x !== null && row.x !== undefined) {
      const expected = el("div");
      // Several references (a list) read one per line, not as a JSON array.
      const shown = Array.isArray(row.x) ? row.x.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join("\n")
        : typeof row.x === "string" ? row.x : JSON.stringify(row.x);
      expected.append(el("small", null, Array.isArray(row.x) ? `expected (any of ${row.x.length}) ` : "expected "),
                      el("strong", "expected-text", shown));
      td.appendChild(expected);
    }
    td.appendChild(lazyDetails("vars", () => {
      const dl = el("dl");
      for (const [k, v] of Object.entries(row.vars)) dl.append(el("dt", null, k), el("dd", null, typeof v === "string" ? v : JSON.stringify(v)));
      return dl;
    }));
    return td;
  }

  function trialCell(row, j) {
    const c = row.c[j], td = el("td", "cell");
    if (!c) { td.appendChild(el("span", "missing", "not run")); return td; }
    td.appendChild(el("span", `badge ${c.s}`, c.s));
    if (row.change[j]) td.appendChild(el("span", `badge ${row.change[j]}`, row.change[j]));
    const tokens = c.t[1] === null ? "" : ` · ${c.t[0]}→${c.t[1]} tok`;
    td.appendChild(el("small", "stats", `${fmt(c.l, 0)} ms${tokens}${c.$ ? ` · $${fmt(c.$, 5)}` : ""}${c.k ? " · cached" : ""}`));
    if (c.e) td.appendChild(el("pre", "error-text", c.e));
    const a = state.a === "" ? -1 : Number(state.a), b = state.b === "" ? -1 : Number(state.b);
    const against = j === b && a >= 0 && a !== b && row.c[a] ? row.c[a].o : null;
    // A transformed output (what the scorers read) is shown with the model's own answer a click away.
    if (c.ro !== undefined) td.appendChild(el("small", "transformed", "transformed output"));
    td.appendChild(outputBlock(c.o, against, c.oc));
    if (c.ro !== undefined) td.appendChild(lazyDetails("raw output", () => outputBlock(c.ro, null, c.rc)));
    const ul = el("ul", "scores");
    // Weight-0 scores are reported, not voted: shown muted, neither tick nor cross.
    for (const [name, value, passed, why, weight] of c.sc) ul.appendChild(el("li", weight === 0 ? "info" : passed ? "ok" : "bad", `${name} ${fmt(value, 2)}${why ? " · " + why : ""}`));
    td.appendChild(ul);
    if (c.w) td.appendChild(el("small", "stats", `weighted score ${fmt(c.w[0], 2)} · passes at ${c.w[1]}`));
    td.appendChild(lazyDetails("prompt", () => conversation(c.m)));
    if (c.tr) td.appendChild(lazyDetails(`conversation (${c.tr.length} more)`, () => conversation(c.tr)));
    return td;
  }

  // Messages as a conversation: each role its own style, tool calls and results shown, images as thumbnails
  // (data URLs the report carries; the page fetches nothing).
  function conversation(messages) {
    const box = el("div", "conversation");
    for (const [role, idx, images] of messages) {
      const msg = el("div", `message role-${role}`);
      msg.append(el("small", null, role), el("pre", null, strings[idx]));
      for (const image of images || []) { const img = el("img", "thumb"); img.src = strings[image]; img.alt = "image"; msg.appendChild(img); }
      box.appendChild(msg);
    }
    return box;
  }

  function render() {
    const rows = visibleRows(), pages = Math.max(1, Math.ceil(rows.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    const tbody = $("cases-body"), start = state.page * PAGE;
    const fragment = document.createDocumentFragment();
    for (const row of rows.slice(start, start + PAGE)) {
      const tr = el("tr");
      tr.appendChild(caseCell(row));
      cols.forEach((_, j) => tr.appendChild(trialCell(row, j)));
      fragment.appendChild(tr);
    }
    tbody.replaceChildren(fragment);
    $("count").textContent = rows.length ? `rows ${start + 1}–${Math.min(rows.length, start + PAGE)} of ${rows.length}` +
      (rows.length < data.rows.length ? ` (of ${data.rows.length})` : "") : `no rows match (of ${data.rows.length})`;
    $("page").textContent = `page ${state.page + 1} / ${pages}`;
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    for (const button of document.querySelectorAll("[data-filter]")) button.classList.toggle("active", button.dataset.filter === state.filter);
    $("q").value = state.q;
    for (const [id, key] of SELECTS) $(id).value = state[key];
    writeHash();
  }

  function setup() {
    const head = el("tr");
    head.appendChild(el("th", null, "Case"));
    for (const c of cols) { const th = el("th"); th.append(el("code", null, c.prompt), el("br"), el("small", null, c.model)); head.appendChild(th); }
    $("cases-head").appendChild(head);
    if (!Object.keys(data.changes).length) for (const f of ["regression", "improvement"]) document.querySelector(`[data-filter="${f}"]`).remove();
    for (const tag of [...new Set(data.rows.flatMap((r) => r.tags))].sort()) $("tag").appendChild(el("option", null, tag));
    [...$("tag").options].slice(1).forEach((o) => { o.value = o.textContent; });
    const sorts = [["case", "suite order"], ["id", "case id"]];
    cols.forEach((c, j) => { for (const [k, label] of [["status", "failures first"], ["latency", "slowest first"], ["score", "lowest score first"]]) sorts.push([`${j}:${k}`, `${c.prompt} × ${c.model}: ${label}`]); });
    for (const [value, label] of sorts) { const o = el("option", null, label); o.value = value; $("sort").appendChild(o); }
    for (const id of ["diff-a", "diff-b"]) {
      const none = el("option", null, "—"); none.value = ""; $(id).appendChild(none);
      cols.forEach((c, j) => { const o = el("option", null, `${c.prompt} × ${c.model}`); o.value = String(j); $(id).appendChild(o); });
    }
    for (const button of document.querySelectorAll("[data-filter]")) button.addEventListener("click", () => { state.filter = button.dataset.filter; state.page = 0; render(); });
    let timer = null;
    $("q").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { state.q = $("q").value; state.page = 0; render(); }, 150); });
    for (const [id, key] of SELECTS) $(id).addEventListener("change", () => { state[key] = $(id).value; state.page = 0; render(); });
    $("prev").addEventListener("click", () => { state.page--; render(); });
    $("next").addEventListener("click", () => { state.page++; render(); });
    window.addEventListener("hashchange", () => { readHash(); render(); });
    $("matrix-tools").hidden = false;
    readHash();
    render();
  }
  setup();
})();
