// The recipe manifest editor: a plain textarea (CodeMirror 6 would need a bundler), checked
// as you type: JSON syntax here, the manifest schema on the server (POST .../check, which
// writes nothing), each error listed on its JSON Pointer. Saving still validates on the
// server; without JavaScript the form works the same, errors shown after saving.
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function show(list, status, errors) {
    list.textContent = "";
    Object.keys(errors).sort().forEach(function (path) {
      errors[path].forEach(function (message) {
        var item = document.createElement("li");
        var code = document.createElement("code");
        code.textContent = path;
        item.appendChild(code);
        item.appendChild(document.createTextNode(" " + message));
        list.appendChild(item);
      });
    });
    status.textContent = Object.keys(errors).length ? "Problems:" : "Valid against the manifest schema.";
    status.className = Object.keys(errors).length ? "bad" : "good";
  }

  function check(editor, form, list, status) {
    var doc;
    try {
      doc = JSON.parse(editor.value);
    } catch (error) {
      show(list, status, { "(JSON)": [error.message] });
      return;
    }
    var url = editor.getAttribute("data-check-url");
    if (!url) return;
    var base = form.querySelector("input[name=base_version]");
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(form) },
      body: JSON.stringify({ manifest: doc, base_version: base ? base.value : "" }),
    })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (body.valid) {
          show(list, status, {});
          status.textContent = "Valid: it would be version " + body.version + ".";
        } else {
          var errors = body.errors && Object.keys(body.errors).length ? body.errors : { "": [body.message] };
          show(list, status, errors);
        }
      })
      .catch(function () { status.textContent = "Could not reach the server to check."; });
  }

  function setUp(editor) {
    var form = editor.form;
    var list = form.querySelector("[data-manifest-errors]");
    var status = form.querySelector("[data-manifest-status]");
    var timer = null;
    editor.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { check(editor, form, list, status); }, 600);
    });
    editor.addEventListener("keydown", function (event) {
      if (event.key !== "Tab" || event.shiftKey) return;
      event.preventDefault();
      var start = editor.selectionStart;
      editor.setRangeText("  ", start, editor.selectionEnd, "end");
    });
    var format = form.querySelector("[data-manifest-format]");
    if (format) {
      format.hidden = false;
      format.addEventListener("click", function () {
        try {
          editor.value = JSON.stringify(JSON.parse(editor.value), null, 2);
        } catch (error) {
          show(list, status, { "(JSON)": [error.message] });
        }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[data-manifest-editor]").forEach(setUp);
  });
})();
