/* The page's small behaviours, kept out of the HTML so the Content-Security-Policy can forbid
   inline scripts and style attributes (omnichannel/csp.py).

   - data-width / data-height="42": a bar's size in percent, set through the CSSOM (allowed
     by the policy, where a style="" attribute is not);
   - data-channel-colour="#06c755": the --channel-colour custom property;
   - data-autosubmit on a <select>: submit its form on change (the language switch);
   - data-drop-empty-params on an htmx form: leave empty fields out of its requests, so a
     search URL holds only the filters in use;
   - class js-check on a field: its input and change fire "fields-changed" on its form (an
     htmx trigger; an event filter in hx-trigger would need eval, which the policy forbids,
     and htmx would then ignore the filter and fire on every field). The campaign builder
     checks its message and the segment builder counts its audience this way;
   - data-insert-field="name" data-insert-target="id" on a button: put {{name}} at the cursor
     of that field and fire its input event, so htmx checks and previews it again;
   - data-variant-tab="B" on a tab button: remember the shown variant in its form's
     variant_tab field, so a round trip (adding a variant, an error) shows the same tab.

   htmx fires htmx:load for the page and for every piece of content it swaps in. */
(function () {
  "use strict";

  function applyStyles(root) {
    if (!root || !root.querySelectorAll) return;
    var all = [root].concat(Array.prototype.slice.call(
      root.querySelectorAll("[data-width],[data-height],[data-channel-colour]")
    ));
    all.forEach(function (el) {
      if (!el.dataset) return;
      if (el.dataset.width !== undefined) el.style.width = el.dataset.width + "%";
      if (el.dataset.height !== undefined) el.style.height = el.dataset.height + "%";
      if (el.dataset.channelColour) el.style.setProperty("--channel-colour", el.dataset.channelColour);
    });
  }

  document.addEventListener("htmx:load", function (event) { applyStyles(event.target); });
  document.addEventListener("DOMContentLoaded", function () { applyStyles(document.body); });

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("select[data-autosubmit]") && el.form) el.form.submit();
  });

  function fieldsChanged(event) {
    var el = event.target;
    if (el.matches && el.matches(".js-check") && el.form && window.htmx) {
      window.htmx.trigger(el.form, "fields-changed");
    }
  }
  document.addEventListener("input", fieldsChanged);
  document.addEventListener("change", fieldsChanged);

  document.addEventListener("shown.bs.tab", function (event) {
    var tab = event.target;
    if (!tab.dataset || !tab.dataset.variantTab) return;
    var form = tab.closest("form");
    var field = form ? form.querySelector("input[name=variant_tab]") : null;
    if (field) field.value = tab.dataset.variantTab;
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-insert-field]") : null;
    if (!button) return;
    var field = document.getElementById(button.dataset.insertTarget);
    if (!field) return;
    var token = "{{" + button.dataset.insertField + "}}";
    var start = typeof field.selectionStart === "number" ? field.selectionStart : field.value.length;
    var end = typeof field.selectionEnd === "number" ? field.selectionEnd : start;
    field.value = field.value.slice(0, start) + token + field.value.slice(end);
    field.focus();
    field.setSelectionRange(start + token.length, start + token.length);
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });

  document.addEventListener("htmx:configRequest", function (event) {
    var source = event.detail.elt;
    if (!source || !source.closest || !source.closest("[data-drop-empty-params]")) return;
    var params = event.detail.parameters;
    // htmx 2 hands a FormData-like proxy: delete the empty values by name.
    Object.keys(params).forEach(function (key) { if (params[key] === "") delete params[key]; });
  });
})();
