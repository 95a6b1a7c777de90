// Click (or Enter on) a lineage node to show its diff against its first parent. Diffs are embedded in
// the page as JSON, so this works from disk with no server; text is inserted with textContent only.
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
}());
