(function () {
  "use strict";
  var plots = JSON.parse(document.getElementById("gf-plots").textContent);
  var root = document.getElementById("gf-tables");

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

  // A board table sorts on a click on any header but the last (Source): the first by name.
  function sortable(table) {
    var tbody = table.children[1];
    var headers = Array.prototype.slice.call(table.children[0].children[0].children, 0, -1);
    headers.forEach(function (th, i) {
      th.firstChild.addEventListener("click", function () { sortBy(tbody, headers, i, i === 0 ? "text" : "num"); });
    });
  }

  // [tag, {attribute: value}, child, ...]; a child is an element or a text, an attribute
  // given as a list a path into the plots (an image's data: URI).
  function build(node) {
    if (typeof node === "string") { return document.createTextNode(node); }
    var e = document.createElement(node[0]);
    Object.keys(node[1]).forEach(function (k) {
      var v = node[1][k];
      e.setAttribute(k, Array.isArray(v) ? v.reduce(function (o, step) { return o[step]; }, plots) : v);
    });
    node.slice(2).forEach(function (child) { e.appendChild(build(child)); });
    if (node[0] === "table" && node[1]["class"] === "board") { sortable(e); }
    return e;
  }

  plots.page.forEach(function (node) { root.appendChild(build(node)); });
  document.documentElement.setAttribute("data-gf-built", "1");
})();
