/* pgtls HTML report: builds the matrix from the embedded JSON report (docs/report-schema.md).
 * Rows are scenario › case, columns server × client. Everything is built with DOM calls and
 * textContent, never innerHTML, so report text cannot inject markup. When the page is built,
 * an element #pgtls-loaded appears; script errors are listed in #pgtls-errors (the head's
 * inline handler), which is how the browser test knows the page worked. */
(function () {
  "use strict";

  var VERDICT_CLASS = { "pass": "v-pass", "fail": "v-fail", "known-divergence": "v-div", "skip": "v-skip" };
  var VERDICT_LABEL = { "pass": "pass", "fail": "fail", "known-divergence": "known divergence", "skip": "skipped" };

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") { e.textContent = attrs[k]; }
        else if (k === "cls") { e.className = attrs[k]; }
        else { e.setAttribute(k, attrs[k]); }
      });
    }
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) { e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); }
    });
    return e;
  }

  function className(o) {
    if (o.outcome === "connected") { return "connected"; }
    if (o.outcome === "failed") { return o["class"]; }
    return "skipped";
  }

  function describe(o) {
    if (o.outcome === "connected") {
      var tls = o.protocol || (o.ssl ? "TLS" : "no TLS");
      var cert = o.client_cert ? ", client cert " + o.client_cert.dn : "";
      return "connected (" + tls + cert + ") as " + o.user;
    }
    if (o.outcome === "failed") {
      var s = o["class"] + " (decided by " + o.side;
      if (o.basis) { s += " on " + o.basis; }
      if (o.sqlstate) { s += ", SQLSTATE " + o.sqlstate; }
      if (o.alert !== undefined && o.alert !== null) { s += ", alert " + o.alert; }
      if (o.verify_code !== undefined && o.verify_code !== null) { s += ", verify code " + o.verify_code; }
      return s + ")";
    }
    return "skipped: " + o.reason;
  }

  /* Columns: every (server, client) pair, servers in report order. */
  function columns(report) {
    var cols = [];
    report.servers.forEach(function (s, i) {
      s.clients.forEach(function (c) { cols.push({ server: i, client: c.name }); });
    });
    report.results.forEach(function (r) {
      var i = serverIndex(report, r.server);
      r.cases.forEach(function (c) {
        c.results.forEach(function (cr) {
          if (!cols.some(function (k) { return k.server === i && k.client === cr.client; })) {
            cols.push({ server: i, client: cr.client });
          }
        });
      });
    });
    cols.sort(function (a, b) { return a.server - b.server; });
    return cols;
  }

  function serverIndex(report, label) {
    for (var i = 0; i < report.servers.length; i++) {
      if (report.servers[i].label === label) { return i; }
    }
    return report.servers.length;
  }

  /* Rows grouped by scenario, cases in the order results list them. */
  function rows(report) {
    var groups = [], byScenario = {};
    report.results.forEach(function (r, ri) {
      var g = byScenario[r.scenario];
      if (!g) { g = byScenario[r.scenario] = { name: r.scenario, cases: [], byCase: {} }; groups.push(g); }
      var si = serverIndex(report, r.server);
      r.cases.forEach(function (c, ci) {
        var row = g.byCase[c.name];
        if (!row) { row = g.byCase[c.name] = { scenario: r.scenario, name: c.name, expected: c.expected, cells: {} }; g.cases.push(row); }
        c.results.forEach(function (cr, ki) {
          row.cells[si + "\u0000" + cr.client] = { r: ri, c: ci, k: ki, cr: cr };
        });
      });
      if (r.error) { g.error = (g.error ? g.error + "; " : "") + r.server + ": " + r.error; }
    });
    return groups;
  }

  /* Marks cells whose class differs across servers (same client) or across clients (same server). */
  function differences(row, cols) {
    var byClient = {}, byServer = {};
    cols.forEach(function (col) {
      var cell = row.cells[col.server + "\u0000" + col.client];
      if (!cell || cell.cr.verdict.verdict === "skip") { return; }
      var cls = className(cell.cr.outcome);
      (byClient[col.client] = byClient[col.client] || {})[cls] = true;
      (byServer[col.server] = byServer[col.server] || {})[cls] = true;
    });
    var many = function (set) { return set && Object.keys(set).length > 1; };
    row.dx = {}; row.dc = {};
    cols.forEach(function (col) {
      if (many(byClient[col.client])) { row.dx[col.client] = true; }
      if (many(byServer[col.server])) { row.dc[col.server] = true; }
    });
    row.differsServers = Object.keys(row.dx).length > 0;
    row.differsClients = Object.keys(row.dc).length > 0;
  }

  function tally(report) {
    var t = { "pass": 0, "fail": 0, "known-divergence": 0, "skip": 0 };
    report.results.forEach(function (r) {
      r.cases.forEach(function (c) { c.results.forEach(function (cr) { t[cr.verdict.verdict] += 1; }); });
    });
    return t;
  }

  function header(report) {
    var t = tally(report);
    var errors = report.results.filter(function (r) { return r.error; }).length;
    var h = el("header", { cls: "run" });
    h.appendChild(el("h1", { text: "pgtls report" }));
    var facts = "started " + report.started_at + " · " + (report.duration_ms / 1000).toFixed(1) + " s · " + report.generator;
    if (report.shards) { facts += " · shards " + report.shards.indices.join(", ") + " of " + report.shards.total + " only"; }
    if (report.filter) { facts += " · filter \u201c" + report.filter + "\u201d"; }
    h.appendChild(el("div", { cls: "facts", text: facts }));
    h.appendChild(el("div", { cls: "totals", id: "totals" }, [
      el("span", { cls: "pass", text: (t.pass + t["known-divergence"]) + " passed" }),
      el("span", { cls: "fail", text: (t.fail + errors) + " failed" }),
      el("span", { cls: "div", text: t["known-divergence"] + " known divergences" }),
      el("span", { cls: "skip", text: t.skip + " skipped" })
    ]));
    h.appendChild(serverTable(report));
    if (report.agreement && report.agreement.length) { h.appendChild(agreementTable(report.agreement)); }
    var stale = report.divergences && report.divergences.stale;
    if (stale && stale.length) {
      var list = el("ul", null, stale.map(function (e) {
        return el("li", { text: e.client + " " + e.case + " (" + e.expected + " \u2192 " + e.actual + "): matched nothing" });
      }));
      h.appendChild(el("details", { cls: "warn", id: "stale" }, [el("summary", { text: stale.length + " stale divergence entries" }), list]));
    } else if (!stale && report.divergences && report.divergences.entries.length) {
      h.appendChild(el("div", { cls: "facts", text: "stale divergence entries are checked on the whole run (pgtls report merges shards)" }));
    }
    return h;
  }

  function serverTable(report) {
    var tb = el("tbody");
    report.servers.forEach(function (s) {
      var clients = s.clients.map(function (c) { return c.name + (c.version ? " (" + c.version + ")" : ""); }).join("; ");
      tb.appendChild(el("tr", null, [el("td", { text: s.label }), el("td", { text: s.version_text }),
        el("td", { text: s.ssl_library || "none" }), el("td", { text: clients })]));
    });
    return el("table", { cls: "servers" }, [
      el("thead", null, [el("tr", null, [el("th", { text: "server" }), el("th", { text: "version" }),
        el("th", { text: "TLS library" }), el("th", { text: "clients" })])]), tb]);
  }

  // Agreement with the reference client (cases with expect = "reference"), per server and client.
  function agreementTable(rows) {
    var heads = ["server", "client", "reference", "cells", "agreeing", "registered divergences", "unexplained", "skipped"];
    var tb = el("tbody");
    rows.forEach(function (a) {
      tb.appendChild(el("tr", { cls: a.unexplained ? "fail" : "" }, [a.server, a.client, a.reference, a.cells, a.agreeing,
        a.registered_divergences, a.unexplained, a.skipped].map(function (v) { return el("td", { text: String(v) }); })));
    });
    return el("table", { cls: "servers agreement", id: "agreement" }, [
      el("caption", { text: "agreement with the reference client" }),
      el("thead", null, [el("tr", null, heads.map(function (h) { return el("th", { text: h }); }))]), tb]);
  }

  function controls() {
    var show = el("select", { id: "show" }, [
      el("option", { value: "all", text: "all cases" }),
      el("option", { value: "differs", text: "differing across servers or clients" }),
      el("option", { value: "servers", text: "differing across servers" }),
      el("option", { value: "clients", text: "differing across clients" }),
      el("option", { value: "failures", text: "failures" }),
      el("option", { value: "divergences", text: "known divergences" })
    ]);
    var legend = el("span", { cls: "legend" }, [
      el("span", null, [el("i", { cls: "v-pass" }), "pass"]), el("span", null, [el("i", { cls: "v-fail" }), "fail"]),
      el("span", null, [el("i", { cls: "v-div" }), "known divergence"]), el("span", null, [el("i", { cls: "v-skip" }), "skipped"]),
      el("span", null, [el("i", { cls: "dx" }), "differs across servers"]), el("span", null, [el("i", { cls: "dc" }), "differs across clients"])
    ]);
    return el("div", { cls: "controls", id: "controls" }, [
      el("label", null, ["show ", show]),
      el("label", null, ["search ", el("input", { type: "search", id: "search", placeholder: "scenario, case or outcome class" })]),
      el("span", { id: "shown" }), legend
    ]);
  }

  function matrix(report, groups, cols) {
    var table = el("table", { cls: "matrix", id: "matrix" });
    var cg = el("colgroup", null, [el("col", { cls: "label" })]);
    cols.forEach(function () { cg.appendChild(el("col")); });
    table.appendChild(cg);
    var servers = el("tr", { cls: "servers" }, [el("th", { cls: "corner", rowspan: "2", text: "scenario \u203a case" })]);
    var clients = el("tr", { cls: "clients" });
    report.servers.forEach(function (s, i) {
      var n = cols.filter(function (c) { return c.server === i; }).length;
      if (n === 0) { return; }
      var short = shortName(s);
      servers.appendChild(el("th", { cls: "srv", colspan: String(n), title: s.label + "\n" + s.version_text }, [short,
        el("small", { text: s.label.replace(/^\S+\s*/, "") })]));
    });
    cols.forEach(function (c) { clients.appendChild(el("th", { text: c.client })); });
    table.appendChild(el("thead", null, [servers, clients]));
    var tb = el("tbody");
    groups.forEach(function (g) { appendGroup(tb, report, g, cols); });
    table.appendChild(tb);
    return table;
  }

  function appendGroup(tb, report, g, cols) {
    var meta = scenarioMeta(report, g.name);
    var head = el("tr", { cls: "scenario", "data-scenario": g.name }, [el("th", { colspan: String(cols.length + 1) }, [g.name,
      el("small", { text: (meta ? meta.file : "") + (g.error ? " \u2014 harness error: " + g.error : "") })])]);
    tb.appendChild(head);
    g.cases.forEach(function (row) {
      differences(row, cols);
      var tr = el("tr", { cls: "case", "data-scenario": g.name });
      tr.rowData = row;
      tr.appendChild(el("td", { cls: "case", title: row.scenario + " \u203a " + row.name }, [row.name,
        el("small", { text: "expects " + row.expected })]));
      cols.forEach(function (col) { tr.appendChild(cell(row, col)); });
      tb.appendChild(tr);
    });
  }

  function cell(row, col) {
    var c = row.cells[col.server + "\u0000" + col.client];
    if (!c) { return el("td", { cls: "cell v-none" }); }
    var v = c.cr.verdict.verdict;
    var cls = "cell " + (VERDICT_CLASS[v] || "v-none");
    if (row.dx[col.client]) { cls += " dx"; }
    if (row.dc[col.server]) { cls += " dc"; }
    var td = el("td", { cls: cls, "data-verdict": v, title: describe(c.cr.outcome), text: className(c.cr.outcome) });
    td.cellRef = c;
    return td;
  }

  function scenarioMeta(report, name) {
    for (var i = 0; i < report.scenarios.length; i++) {
      if (report.scenarios[i].name === name) { return report.scenarios[i]; }
    }
    return null;
  }

  /* Filters rows by the "show" select and the search text; a scenario heading stays when any
   * of its cases does. The state is mirrored in the URL hash (#show=differs&q=crl). */
  function applyFilter(tbody) {
    var show = document.getElementById("show").value;
    var q = document.getElementById("search").value.trim().toLowerCase();
    var shown = 0, total = 0, visible = {};
    Array.prototype.forEach.call(tbody.querySelectorAll("tr.case"), function (tr) {
      var row = tr.rowData, ok = true;
      total += 1;
      if (show === "differs") { ok = row.differsServers || row.differsClients; }
      else if (show === "servers") { ok = row.differsServers; }
      else if (show === "clients") { ok = row.differsClients; }
      else if (show === "failures") { ok = hasVerdict(row, "fail"); }
      else if (show === "divergences") { ok = hasVerdict(row, "known-divergence"); }
      if (ok && q) { ok = matches(row, q); }
      tr.hidden = !ok;
      if (ok) { shown += 1; visible[row.scenario] = true; }
    });
    Array.prototype.forEach.call(tbody.querySelectorAll("tr.scenario"), function (tr) {
      tr.hidden = !visible[tr.getAttribute("data-scenario")];
    });
    document.getElementById("shown").textContent = "showing " + shown + " of " + total + " cases";
    var hash = "show=" + encodeURIComponent(show) + (q ? "&q=" + encodeURIComponent(q) : "");
    if (history.replaceState) { history.replaceState(null, "", "#" + hash); }
  }

  function hasVerdict(row, v) {
    return Object.keys(row.cells).some(function (k) { return row.cells[k].cr.verdict.verdict === v; });
  }

  function matches(row, q) {
    if ((row.scenario + " " + row.name).toLowerCase().indexOf(q) >= 0) { return true; }
    return Object.keys(row.cells).some(function (k) { return className(row.cells[k].cr.outcome).indexOf(q) >= 0; });
  }

  function readHash() {
    var out = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0) { out[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1)); }
    });
    return out;
  }

  /* The detail panel of one attempt. */
  function showDetail(report, panel, td) {
    var ref = td.cellRef, r = report.results[ref.r], c = r.cases[ref.c], cr = ref.cr, o = cr.outcome;
    var server = report.servers[serverIndex(report, r.server)];
    var meta = scenarioMeta(report, r.scenario);
    var caseMeta = meta ? meta.cases.filter(function (m) { return m.name === c.name; })[0] : null;
    panel.textContent = "";
    panel.appendChild(el("button", { cls: "close", title: "close", text: "\u00d7" }));
    panel.appendChild(el("h2", { text: r.scenario + " \u203a " + c.name }));
    var v = cr.verdict;
    panel.appendChild(dl([
      ["server", r.server + (server ? " (" + server.version_text + ", " + (server.ssl_library || "no TLS library") + ")" : "")],
      ["client", cr.client + clientVersion(server, cr.client)],
      ["verdict", el("span", { cls: "badge " + VERDICT_CLASS[v.verdict], text: VERDICT_LABEL[v.verdict] })],
      ["expected", c.expected],
      ["actual", describe(o)],
      ["time", cr.elapsed_ms.toFixed(1) + " ms"]
    ]));
    if (v.reasons && v.reasons.length) { panel.appendChild(section("why it failed", el("pre", { text: v.reasons.join("\n") }))); }
    if (v.verdict === "known-divergence") {
      panel.appendChild(section("known divergence", el("pre", { text: v.reason + (v.reference ? "\n" + v.reference : "") })));
    }
    if (v.verdict === "skip") { panel.appendChild(section("skipped", el("pre", { text: v.reason }))); }
    panel.appendChild(section("outcome", dl(outcomeFacts(o))));
    if (o.detail) { panel.appendChild(section("detail (redacted)", el("pre", { text: o.detail }))); }
    panel.appendChild(section("server log", el("pre", { cls: "log", text: logExcerpt(r, cr) })));
    if (caseMeta) {
      panel.appendChild(section("scenario source: " + (meta.file + ":" + caseMeta.line), el("pre", { cls: "source", text: caseMeta.source })));
    }
    panel.hidden = false;
    panel.scrollTop = 0;
  }

  function clientVersion(server, name) {
    if (!server) { return ""; }
    var c = server.clients.filter(function (x) { return x.name === name; })[0];
    return c && c.version ? " (" + c.version + ")" : "";
  }

  function outcomeFacts(o) {
    var keys = o.outcome === "connected"
      ? ["ssl", "protocol", "cipher", "user"]
      : o.outcome === "failed" ? ["class", "side", "basis", "sqlstate", "alert", "verify_code", "ocsp"] : ["reason"];
    var facts = [["outcome", className(o)]];
    keys.forEach(function (k) { if (o[k] !== undefined && o[k] !== null && k !== "class") { facts.push([k, String(o[k])]); } });
    if (o.client_cert) {
      facts.push(["client cert", o.client_cert.dn]);
      facts.push(["issuer", o.client_cert.issuer_dn]);
      facts.push(["serial", o.client_cert.serial]);
    }
    if (o.query) { facts.push(["query", o.query.rows !== undefined ? o.query.rows : JSON.stringify(o.query)]); }
    if (o.cancel) {
      facts.push(["cancel", (o.cancel.sqlstate || "query not cancelled") + " after " + o.cancel.requests + " request(s)"]);
      facts.push(["cancel opened", (o.cancel.openings || []).join(", ") || "no cancel connection seen"]);
      if (o.cancel.error) { facts.push(["cancel error", o.cancel.error]); }
    }
    return facts;
  }

  function logExcerpt(r, cr) {
    if (!r.server_log) { return "(no server log in this report)"; }
    if (!cr.log_span) { return "(no server log lines for this attempt)"; }
    var lines = r.server_log.split("\n").slice(cr.log_span[0], cr.log_span[1]);
    return lines.length ? lines.join("\n") : "(the server logged nothing during this attempt)";
  }

  function dl(pairs) {
    var d = el("dl");
    pairs.forEach(function (p) {
      d.appendChild(el("dt", { text: p[0] }));
      d.appendChild(typeof p[1] === "string" ? el("dd", { text: p[1] }) : el("dd", null, [p[1]]));
    });
    return d;
  }

  function section(title, body) {
    return el("div", null, [el("h3", { text: title }), body]);
  }

  function stickyOffsets() {
    var c = document.getElementById("controls");
    var s = document.querySelector("table.matrix tr.servers th.srv");
    var root = document.documentElement.style;
    if (c) { root.setProperty("--controls-h", c.offsetHeight + "px"); }
    if (s) { root.setProperty("--servers-h", s.offsetHeight + "px"); }
  }

  /* `#open=R.C.K` opens the detail of result R, case C, client K (indices into the JSON). */
  function openCell(report, panel, tbody, spec) {
    var want = spec.split(".").map(Number);
    Array.prototype.forEach.call(tbody.querySelectorAll("td.cell"), function (td) {
      var c = td.cellRef;
      if (c && c.r === want[0] && c.c === want[1] && c.k === want[2]) {
        td.classList.add("selected");
        showDetail(report, panel, td);
      }
    });
  }

  /* `docker 19rc1`: the backend and the version as the server prints it. */
  function shortName(s) {
    var m = /\b(\d+(?:\.\d+)?(?:[a-z]+\d*)?)\b/.exec(s.version_text.replace(/^[^)]*\)/, ""));
    return s.backend + " " + (m ? m[1] : s.version);
  }

  function main() {
    var data = document.getElementById("pgtls-data");
    var report = JSON.parse(data.textContent);
    var cols = columns(report), groups = rows(report);
    var root = document.getElementById("app");
    root.appendChild(header(report));
    root.appendChild(controls());
    var table = matrix(report, groups, cols);
    root.appendChild(el("main", null, [table]));
    var panel = el("aside", { cls: "detail", id: "detail", hidden: "" });
    root.appendChild(panel);
    var tbody = table.tBodies[0];
    tbody.addEventListener("click", function (ev) {
      var td = ev.target.closest ? ev.target.closest("td.cell") : null;
      if (!td || !td.cellRef) { return; }
      Array.prototype.forEach.call(document.querySelectorAll("td.selected"), function (x) { x.classList.remove("selected"); });
      td.classList.add("selected");
      showDetail(report, panel, td);
    });
    panel.addEventListener("click", function (ev) { if (ev.target.className === "close") { panel.hidden = true; } });
    document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { panel.hidden = true; } });
    var initial = readHash();
    if (initial.show) { document.getElementById("show").value = initial.show; }
    if (initial.q) { document.getElementById("search").value = initial.q; }
    document.getElementById("show").addEventListener("change", function () { applyFilter(tbody); });
    document.getElementById("search").addEventListener("input", function () { applyFilter(tbody); });
    applyFilter(tbody);
    if (initial.open) { openCell(report, panel, tbody, initial.open); }
    stickyOffsets();
    window.addEventListener("resize", stickyOffsets);
    var t = tally(report);
    document.body.appendChild(el("div", { id: "pgtls-loaded", hidden: "", "data-cells": String(t.pass + t.fail + t["known-divergence"] + t.skip) }));
  }

  main();
})();
