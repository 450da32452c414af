(function () {
  "use strict";
  var board = JSON.parse(document.getElementById("gf-board").textContent);
  var plots = JSON.parse(document.getElementById("gf-plots").textContent);
  var root = document.getElementById("gf-tables");
  var NA = "n/a";

  function num(x) { return (typeof x === "number" && isFinite(x)) ? x : null; }
  function given(x) { return x !== undefined && x !== null && x !== ""; }
  function fixed(x, places) {
    x = num(x);
    if (x === null) { return NA; }
    var s = Math.abs(x).toFixed(places);
    return (x < 0 && /[1-9]/.test(s)) ? "-" + s : s;
  }
  function interval(ci) {
    if (!Array.isArray(ci) || ci.length !== 2 || (num(ci[0]) === null && num(ci[1]) === null)) { return null; }
    return "[" + fixed(ci[0], 2) + ", " + fixed(ci[1], 2) + "]";
  }
  function pvalue(p) { p = num(p); return p === null ? NA : (p < 0.001 ? "<0.001" : fixed(p, 3)); }
  function count(n) { n = num(n); return n === null ? NA : (Number.isInteger(n) ? String(n) : fixed(n, 2)); }
  function yesNo(flag) { return flag === true ? "yes" : (flag === false ? "no" : NA); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function rows(table) { return (table.rows || []).filter(function (r) { return r && typeof r === "object"; }); }
  function columns(table) {
    return (table.columns || []).filter(function (c) { return c && c.key !== undefined && c.key !== null; });
  }
  function cell(row, key) {
    var c = (row.cells || {})[key];
    return (c && typeof c === "object") ? c : {value: null, ci: null};
  }
  function title(table) {
    var parts = [table.benchmark, table.split].filter(given);
    return parts.length ? parts.map(String).join(" / ") : String(table.id || "table");
  }
  function rounded(x) { var t = fixed(x, 2); return t === NA ? null : parseFloat(t); }
  function best(table, getter) {
    var top = null, values = [];
    rows(table).forEach(function (r, i) {
      var v = r.kind === "measured" ? rounded(getter(r)) : null;
      values.push(v);
      if (v !== null && (top === null || v > top)) { top = v; }
    });
    return values.map(function (v) { return top !== null && v === top; });
  }
  function figureCell(key, value, ci, bold, sd) {
    var td = el("td", {"class": "num", "data-col": key});
    var text = fixed(value, 2);
    td.appendChild(el(bold && text !== NA ? "strong" : "span", {"class": "value"}, text));
    if (text !== NA && num(sd) !== null) {
      td.appendChild(document.createTextNode(" "));
      td.appendChild(el("span", {"class": "sd", "title": "sample sd over the seeds"}, "\u00b1 " + fixed(sd, 2)));
    }
    var range = text === NA ? null : interval(ci);
    if (range !== null) {
      td.appendChild(document.createTextNode(" "));
      td.appendChild(el("span", {"class": "ci"}, range));
    }
    td.setAttribute("data-sort", num(value) === null ? "" : String(value));
    return td;
  }
  function group(row) { return (row.group && typeof row.group === "object") ? row.group : null; }
  function seedsText(row) {
    var g = group(row);
    if (g === null) { return row.kind === "measured" ? "1" : NA; }
    var text = count(g.n), w = g.worst;
    if (w && typeof w === "object" && num(w.score) !== null) {
      text += " (worst " + fixed(w.score, 2) + ", seed " + String(w.seed) + ")";
    }
    return text;
  }
  function sourceText(row) {
    if (row.kind === "reported") {
      return given(row.source) ? "reported: " + row.source : "reported";
    }
    if (row.kind === "stale") { return "stale (see below)"; }
    return String(row.kind || "measured");
  }
  // A stale result as the Markdown lists it: "entry: what changed. Refresh: command".
  function staleItems(section) {
    return (section.stale || []).filter(function (s) { return s && typeof s === "object"; }).map(function (s) {
      var text = String(s.entry) + ": " + (given(s.reason) ? String(s.reason).trim() : "its inputs changed");
      return given(s.refresh) ? text + ". Refresh: " + String(s.refresh) : text;
    });
  }

  function valueText(value, ci, sd) {
    var text = fixed(value, 2);
    if (text === NA) { return text; }
    if (num(sd) !== null) { text += " \u00b1 " + fixed(sd, 2); }
    var range = interval(ci);
    return range === null ? text : text + " " + range;
  }
  function probeCell(row, probe) {
    var c = (row.probes || {})[probe];
    return (c && typeof c === "object") ? c : {};
  }
  function categoryOf(figures, key) {
    var c = ((figures || {}).cells || {})[key];
    return (c && typeof c === "object") ? c : {};
  }
  function plainTable(cls, header, body) {
    // body: [{attrs, cells: [[data-col, text], ...]}]; the first cell is a name, the others figures
    var t = el("table", {"class": cls}), head = el("thead"), hr = el("tr"), tbody = el("tbody");
    header.forEach(function (h) { hr.appendChild(el("th", {"scope": "col"}, h)); });
    head.appendChild(hr); t.appendChild(head);
    body.forEach(function (r) {
      var tr = el("tr", r.attrs);
      r.cells.forEach(function (c, i) { tr.appendChild(el("td", {"class": i < r.names ? "entry" : "num", "data-col": c[0]}, c[1])); });
      tbody.appendChild(tr);
    });
    t.appendChild(tbody);
    return t;
  }
  function listSection(parent, title, items, cls) {
    if (!items.length) { return; }
    parent.appendChild(el("p", {"class": "note"}, title));
    var ul = el("ul", {"class": cls});
    items.forEach(function (x) { ul.appendChild(el("li", {}, x)); });
    parent.appendChild(ul);
  }
  function buildProbes(table, image) {
    var p = table.probes;
    if (!p || typeof p !== "object") { return null; }
    var probes = (p.probes || []).map(String), label = String(p.score_label || p.score_key || "Score");
    var prs = rows(p), cols = columns(p), correction = (board.statistics || {}).correction || "adjusted";
    var box = el("div", {"class": "gf-probes"});
    box.appendChild(el("h3", {}, "Temporal sensitivity"));
    box.appendChild(el("p", {"class": "note"}, "Each model entry evaluated again with what it sees of each clip " +
      "perturbed (probe seed " + String(p.probe_seed) + "; see docs/probes.md): per probe the " + label +
      " under it, its drop from the unperturbed " + label + " (points), flips (% of questions whose answer " +
      "changes) and p: the paired test against the same entry unperturbed, " + correction + "-adjusted across " +
      "the probe tests of this table. Without training under a probe, a drop measures reliance, not capability."));
    if (!prs.length) { box.appendChild(el("p", {"class": "note"}, "No probed rows yet.")); }
    if (prs.length) {
      var header = ["Entry", label + " (unperturbed)"];
      probes.forEach(function (q) {
        header.push(q + ": " + label, q + ": drop", q + ": flips (%)", q + ": p (" + correction + ")");
      });
      box.appendChild(plainTable("probes", header, prs.map(function (r) {
        var u = r.unperturbed || {}, cells = [["entry", String(r.entry)], ["unperturbed", valueText(u.score, u.ci, u.sd)]];
        probes.forEach(function (q) {
          var c = probeCell(r, q);
          cells.push([q + ":score", valueText(c.score, c.ci, c.sd)], [q + ":drop", valueText(c.drop, c.drop_ci)],
                     [q + ":flips", fixed(c.flip_rate, 2)], [q + ":p_holm", pvalue(c.p_holm)]);
        });
        return {attrs: {"data-probe-entry": String(r.entry)}, cells: cells, names: 1};
      })));
    }
    if (prs.length && cols.length) {
      box.appendChild(el("h3", {}, "Temporal sensitivity per category"));
      var body = [];
      prs.forEach(function (r) {
        cols.forEach(function (col) {
          var u = categoryOf(r.unperturbed, col.key);
          var cells = [["entry", String(r.entry)], ["category", String(col.label || col.key)],
                       ["unperturbed", valueText(u.value, u.ci, u.sd)]];
          probes.forEach(function (q) { var c = categoryOf(probeCell(r, q), col.key); cells.push([q, valueText(c.value, c.ci, c.sd)]); });
          body.push({attrs: {"data-probe-entry": String(r.entry), "data-category": String(col.key)}, cells: cells, names: 2});
        });
      });
      box.appendChild(plainTable("probe-categories", ["Entry", "Category", "Unperturbed"].concat(probes), body));
    }
    listSection(box, "Probe results pending:", (p.pending || []).map(String), "pending");
    listSection(box, "Probe results stale (an input changed since they were computed; not shown):",
                staleItems(p), "stale");
    var failures = (p.failures || []).filter(function (f) { return f && typeof f === "object"; });
    listSection(box, "Probe results failed:", failures.map(function (f) {
      return String(f.entry) + ": " + String(f.error || "unknown error").trim();
    }), "failures");
    listSection(box, "Notes:", (p.notes || []).map(String), "notes");
    if (image) {
      box.appendChild(el("img", {"class": "plot", "src": image, "alt": title(table) + ": temporal sensitivity"}));
    }
    return box;
  }

  function sortBy(tbody, headers, index, kind) {
    var th = headers[index];
    var dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
    if (kind === "text" && th.getAttribute("aria-sort") === null) { dir = "ascending"; }
    headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var sign = dir === "ascending" ? 1 : -1;
    var trs = Array.prototype.slice.call(tbody.children).map(function (tr, pos) { return {tr: tr, pos: pos}; });
    function key(tr) {
      var td = tr.children[index];
      if (kind === "text") { return tr.getAttribute("data-entry"); }
      var s = td.getAttribute("data-sort");
      return s === null || s === "" ? null : parseFloat(s);
    }
    trs.sort(function (a, b) {
      // Measured rows stay above reported ones; missing values last; ties keep board order.
      var ga = a.tr.getAttribute("data-kind") === "measured" ? 0 : 1;
      var gb = b.tr.getAttribute("data-kind") === "measured" ? 0 : 1;
      if (ga !== gb) { return ga - gb; }
      var ka = key(a.tr), kb = key(b.tr);
      if (ka === null || kb === null) { return (ka === null) - (kb === null) || a.pos - b.pos; }
      var c = kind === "text" ? (ka < kb ? -1 : (ka > kb ? 1 : 0)) : ka - kb;
      return c !== 0 ? sign * c : a.pos - b.pos;
    });
    trs.forEach(function (o) { tbody.appendChild(o.tr); });
  }

  function buildTable(table, index) {
    var section = el("section", {"class": "gf-table", "data-table": table.id || title(table)});
    section.appendChild(el("h2", {}, title(table)));
    var note = [];
    if (table.evaluator) { note.push("evaluator " + table.evaluator); }
    note.push("score: " + String(table.score_label || table.score_key || "Score"));
    if (table.resampling_unit) { note.push("intervals resample by " + table.resampling_unit); }
    var noteText = note.join("; ");
    section.appendChild(el("p", {"class": "note"}, noteText.charAt(0).toUpperCase() + noteText.slice(1) + "."));
    var rs = rows(table), cols = columns(table);
    if (rs.length) {
      var t = el("table", {"class": "board"});
      var thead = el("thead"), hr = el("tr"), headers = [];
      var scoreLabel = String(table.score_label || table.score_key || "Score");
      var defs = [["Entry", "text", "entry"], [scoreLabel, "num", "score"]];
      cols.forEach(function (c) { defs.push([String(c.label || c.key), "num", String(c.key)]); });
      defs.push(["Questions", "num", "num_questions"]);
      var groups = rs.some(function (r) { return group(r) !== null; });
      if (groups) { defs.push(["Seeds", "num", "seeds"]); }
      defs.forEach(function (d, i) {
        var th = el("th", {"scope": "col", "data-col": d[2]});
        var button = el("button", {"type": "button", "title": "sort by this column"}, d[0]);
        th.appendChild(button);
        headers.push(th);
        hr.appendChild(th);
      });
      var sourceTh = el("th", {"scope": "col"}, "Source");
      hr.appendChild(sourceTh);
      thead.appendChild(hr);
      t.appendChild(thead);
      var tbody = el("tbody");
      defs.forEach(function (d, i) {
        headers[i].firstChild.addEventListener("click", function () { sortBy(tbody, headers, i, d[1]); });
      });
      var bestScore = best(table, function (r) { return r.score; });
      var bestCols = cols.map(function (c) { return best(table, function (r) { return cell(r, c.key).value; }); });
      rs.forEach(function (row, i) {
        var tr = el("tr", {"data-entry": String(row.entry), "data-kind": String(row.kind)});
        var entry = el("td", {"class": "entry"}, String(row.entry));
        if (row.kind === "measured" && row.significantly_below_best === true) {
          var mark = {"class": "below", "title": "significantly below the best measured row"};
          entry.appendChild(el("span", mark, "\u25bc"));
        }
        if (row.kind === "reported") { entry.appendChild(el("span", {"class": "tag"}, "reported")); }
        if (row.kind === "stale") { entry.appendChild(el("span", {"class": "tag stale"}, "stale")); }
        tr.appendChild(entry);
        tr.appendChild(figureCell("score", row.score, row.ci, bestScore[i], row.sd));
        cols.forEach(function (c, j) {
          var x = cell(row, c.key);
          tr.appendChild(figureCell(String(c.key), x.value, x.ci, bestCols[j][i], x.sd));
        });
        var q = el("td", {"class": "num", "data-col": "num_questions"}, count(row.num_questions));
        q.setAttribute("data-sort", num(row.num_questions) === null ? "" : String(row.num_questions));
        tr.appendChild(q);
        if (groups) {
          var n = group(row) !== null ? num(group(row).n) : (row.kind === "measured" ? 1 : null);
          var seeds = el("td", {"class": "num", "data-col": "seeds"}, seedsText(row));
          seeds.setAttribute("data-sort", n === null ? "" : String(n));
          tr.appendChild(seeds);
        }
        tr.appendChild(el("td", {"class": "source"}, sourceText(row)));
        tbody.appendChild(tr);
      });
      t.appendChild(tbody);
      section.appendChild(t);
      section.appendChild(el("p", {"class": "legend"}, document.getElementById("gf-legend").textContent));
    } else {
      section.appendChild(el("p", {"class": "note"}, "No rows yet."));
    }
    var pending = table.pending || [];
    if (pending.length) {
      section.appendChild(el("p", {"class": "pending"},
        "Pending (not finished yet, e.g. another shard is still running): " + pending.map(String).join(", ") + "."));
    }
    listSection(section, "Stale (an input changed since the result was computed, so it shows no figures and is " +
                "neither ranked nor compared):", staleItems(table), "stale");
    var failures = (table.failures || []).filter(function (f) { return f && typeof f === "object"; });
    if (failures.length) {
      section.appendChild(el("h3", {}, "Failed"));
      var ul = el("ul", {"class": "failures"});
      failures.forEach(function (f) {
        var li = el("li", {"data-entry": String(f.entry)});
        li.appendChild(el("strong", {}, String(f.entry)));
        li.appendChild(el("pre", {"class": "error"}, String(f.error || "unknown error").trim()));
        ul.appendChild(li);
      });
      section.appendChild(ul);
    }
    var pairs = (table.pairs || []).filter(function (p) { return p && typeof p === "object"; });
    if (pairs.length) {
      var correction = (board.statistics || {}).correction || "adjusted";
      section.appendChild(el("h3", {}, "Pairwise comparisons"));
      var pt = el("table", {"class": "pairs"});
      var ph = el("tr");
      ["A", "B", "Difference (A - B)", "Test", "p", "p (" + correction + ")", "Significant"].forEach(function (h) {
        ph.appendChild(el("th", {"scope": "col"}, h));
      });
      var phead = el("thead"); phead.appendChild(ph); pt.appendChild(phead);
      var pbody = el("tbody");
      pairs.forEach(function (p) {
        var tr = el("tr", {"data-a": String(p.a), "data-b": String(p.b)});
        tr.appendChild(el("td", {}, String(p.a)));
        tr.appendChild(el("td", {}, String(p.b)));
        tr.appendChild(figureCell("difference", p.difference, p.ci, false));
        tr.appendChild(el("td", {}, given(p.test) ? String(p.test) : NA));
        tr.appendChild(el("td", {"class": "num"}, pvalue(p.p)));
        tr.appendChild(el("td", {"class": "num"}, pvalue(p.p_holm)));
        tr.appendChild(el("td", {}, yesNo(p.significant)));
        pbody.appendChild(tr);
      });
      pt.appendChild(pbody);
      section.appendChild(pt);
    }
    var images = plots.tables[index] || {};
    [["score", "per entry, with confidence intervals"], ["breakdown", "breakdown per column"]].forEach(function (k) {
      if (images[k[0]]) {
        section.appendChild(el("img", {"class": "plot", "src": images[k[0]], "alt": title(table) + ": " + k[1]}));
      }
    });
    var probesBox = buildProbes(table, images.probes);
    if (probesBox !== null) { section.appendChild(probesBox); }
    return section;
  }

  var tables = (board.tables || []).filter(function (t) { return t && typeof t === "object"; });
  if (!tables.length) { root.appendChild(el("p", {"class": "note"}, "No tables yet.")); }
  tables.forEach(function (table, i) { root.appendChild(buildTable(table, i)); });
  if (plots.other.length) {
    var other = el("section", {"class": "gf-other-plots"});
    other.appendChild(el("h2", {}, "Other plots"));
    plots.other.forEach(function (p) { other.appendChild(el("img", {"class": "plot", "src": p[1], "alt": p[0]})); });
    root.appendChild(other);
  }
  document.documentElement.setAttribute("data-gf-built", "1");
})();
