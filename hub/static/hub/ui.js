// The pages' small behaviours, as delegated listeners on data- attributes, so templates
// carry no inline handlers and the Content Security Policy can forbid inline script:
//   data-confirm="Question?"        on a form or a submit button: ask before submitting
//   data-copy="#selector"           on a button: copy that element's text to the clipboard
//   data-select-on-focus            on an input: select its whole value when focused or clicked
//   data-toggle="#selector"         on a button: show/hide that element (aria-expanded kept in step)
//   data-poll-when-visible          on an htmx poller: skip polls while the tab is hidden
//   data-poll-pause-while="sel"     on an htmx poller: skip polls while it contains a match
//                                   (e.g. "details[open]", so an open panel is not replaced)
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var question = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.dataset.copy);
      if (!source || !navigator.clipboard) return;
      var text = "value" in source ? source.value : source.innerText;
      navigator.clipboard.writeText(text).then(function () {
        var label = copy.textContent;
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = label; }, 1500);
      });
      return;
    }
    var toggle = event.target.closest("[data-toggle]");
    if (toggle) {
      var target = document.querySelector(toggle.dataset.toggle);
      if (!target) return;
      target.hidden = !target.hidden;
      toggle.setAttribute("aria-expanded", String(!target.hidden));
      return;
    }
    var select = event.target.closest("[data-select-on-focus]");
    if (select) select.select();
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) event.target.select();
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || !elt.dataset) return;
    if ("pollWhenVisible" in elt.dataset && document.visibilityState !== "visible") {
      event.preventDefault();
      return;
    }
    var pause = elt.dataset.pollPauseWhile;
    if (pause && elt.querySelector(pause)) event.preventDefault();
  });
})();
