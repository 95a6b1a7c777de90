// Click (or Enter on) a lineage node to show its diff against its first parent. Diffs are embedded in
// the page as JSON, so this works from disk with no server; text is inserted with textContent only.
// Click (or Enter on) a column header of a table.sortable to sort its rows by that column, again to reverse.
// A table with data-shown="N" displays its first N rows in the current order (all with data-shown="all").
(function () {
  "use strict";
  var diffs = JSON.parse(document.getElementById("diff-data").textContent);
  var nodes = JSON.parse(document.getElementById("node-data").textContent);
  var panel = document.getElementById("diff");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function lineClass(line) {
    if (line.indexOf("+++") === 0 || line.indexOf("---") === 0) { return "file"; }
    if (line.charAt(0) === "+") { return "add"; }
    if (line.charAt(0) === "-") { return "del"; }
    if (line.indexOf("@@") === 0) { return "hunk"; }
    return "";
  }

  function show(id) {
    var info = nodes[id], d = diffs[id];
    panel.textContent = "";
    panel.dataset.shown = id;
    panel.appendChild(el("h3", "", info.title));
    panel.appendChild(el("p", "muted", info.detail));
    if (!d || d.parent === null) {
      panel.appendChild(el("p", "", "A seed has no parent: nothing to compare with."));
    } else {
      var changed = d.files.filter(function (f) { return f.status !== "unchanged"; });
      if (changed.length === 0) { panel.appendChild(el("p", "", "No file differs from parent #" + d.parent + ".")); }
      changed.forEach(function (f) {
        panel.appendChild(el("h4", "", f.name + " (" + f.status + ") against #" + d.parent));
        var pre = el("pre", "diff");
        f.diff.split("\n").forEach(function (line) { pre.appendChild(el("div", lineClass(line), line || " ")); });
        panel.appendChild(pre);
      });
      d.files.filter(function (f) { return f.status === "unchanged"; }).forEach(function (f) {
        panel.appendChild(el("p", "muted", f.name + ": unchanged"));
      });
    }
    document.querySelectorAll("#tree .node.selected").forEach(function (n) { n.classList.remove("selected"); });
    var g = document.querySelector('#tree .node[data-id="' + id + '"]');
    if (g) { g.classList.add("selected"); }
  }

  document.querySelectorAll("#tree .node").forEach(function (g) {
    g.addEventListener("click", function () { show(g.dataset.id); });
    g.addEventListener("keydown", function (e) { if (e.key === "Enter") { show(g.dataset.id); } });
  });

  // A numeric column's cell sorts by its data-value if it has one (a rounded number's exact value), else
  // by the number its text reads ("#12", "+0.0100", "1.5e+09"); a blank ("-") sorts last either way. Any
  // other column sorts by its text. Equal keys keep their order (Array.prototype.sort is stable).
  function numberOf(cell) {
    var text = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.replace(/^[#+]/, "");
    var n = parseFloat(text);
    return isNaN(n) ? null : n;
  }

  function sortBy(table, th, k) {
    var numeric = th.dataset.sort === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (row) {
      var cell = row.cells[k];
      return [numeric ? numberOf(cell) : cell.textContent.toLowerCase(), row];
    });
    keyed.sort(function (a, b) {
      if (a[0] === null || b[0] === null) { return (a[0] === null) - (b[0] === null); }
      return a[0] < b[0] ? -dir : a[0] > b[0] ? dir : 0;
    });
    var rows = document.createDocumentFragment();
    keyed.forEach(function (pair) { rows.appendChild(pair[1]); });
    body.appendChild(rows);
    limit(table);
  }

  function limit(table) {
    var shown = table.dataset.shown && table.dataset.shown !== "all" ? parseInt(table.dataset.shown, 10) : Infinity;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row, i) { row.hidden = i >= shown; });
  }

  document.querySelectorAll("button[data-show-all]").forEach(function (button) {
    button.addEventListener("click", function () {
      var table = document.getElementById(button.dataset.showAll);
      table.dataset.shown = "all";
      limit(table);
      button.parentNode.textContent = "Shown: all " + table.tBodies[0].rows.length.toLocaleString("en") + ".";
    });
  });

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, k) {
      th.tabIndex = 0;
      th.title = "sort by " + th.textContent;
      th.addEventListener("click", function () { sortBy(table, th, k); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sortBy(table, th, k); } });
    });
  });
}());
