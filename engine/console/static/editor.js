// koi console editor: line numbers beside the YAML, and validation while
// typing (debounced), each error marked at its line. The page works
// without it: Validate, Preview and Save are plain form posts.
(function () {
  "use strict";
  var form = document.getElementById("editor");
  var source = document.getElementById("source");
  var gutter = document.getElementById("gutter");
  var list = document.getElementById("errors");
  if (!form || !source || !gutter || !list) { return; }

  function lineCount() { return source.value.split("\n").length; }

  function drawGutter(errLines) {
    var n = lineCount(), out = [];
    for (var i = 1; i <= n; i++) {
      out.push(errLines[i] ? '<span class="err">' + i + "</span>" : "<span>" + i + "</span>");
    }
    gutter.innerHTML = out.join("\n") + "\n";
    gutter.scrollTop = source.scrollTop;
  }

  function text(s) { var d = document.createElement("span"); d.textContent = s; return d.innerHTML; }

  function show(errors) {
    var errLines = {}, items = [];
    errors.forEach(function (e) {
      errLines[e.line] = true;
      items.push('<li data-line="' + e.line + '"><a href="#" class="goto" data-line="' + e.line + '" data-col="' + e.col + '">' +
        e.line + ":" + e.col + "</a> " + text(e.message) + "</li>");
    });
    list.innerHTML = items.join("");
    drawGutter(errLines);
  }

  var timer = null, seq = 0;
  function validate() {
    var mine = ++seq;
    // URL-encoded, as the form posts: the server reads no multipart bodies.
    var body = new URLSearchParams(new FormData(form));
    fetch("/editor/validate", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (res) { if (res && mine === seq) { show(res.errors); } })
      .catch(function () { /* the buttons still work */ });
  }

  source.addEventListener("input", function () {
    drawGutter({});
    clearTimeout(timer);
    timer = setTimeout(validate, 400);
  });
  source.addEventListener("scroll", function () { gutter.scrollTop = source.scrollTop; });
  list.addEventListener("click", function (ev) {
    var a = ev.target.closest("a.goto");
    if (!a) { return; }
    ev.preventDefault();
    var line = +a.dataset.line, col = +a.dataset.col, lines = source.value.split("\n"), pos = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) { pos += lines[i].length + 1; }
    pos += Math.max(0, col - 1);
    source.focus();
    source.setSelectionRange(pos, pos);
  });
})();
