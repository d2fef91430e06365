/* The home page's enhancements (issue 9 §2); everything works without them.
   - The hide-amounts eye: saved through PUT /api/v1/home/preferences (the session's
     CSRF header) and flipped in place, without reloading the page.
   - Edit quick functions: after a move the focus returns to the moved function's row. */
(function () {
  "use strict";

  function setupEye(form) {
    var button = form.querySelector("[data-eye]");
    var value = form.querySelector("[data-eye-value]");
    var label = form.querySelector("[data-eye-label]");
    var token = form.querySelector("input[name=csrf_token]").value;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var hide = button.getAttribute("aria-pressed") !== "true";
      button.disabled = true;
      fetch("/api/v1/home/preferences", {
        method: "PUT",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
        body: JSON.stringify({ amounts_hidden: hide })
      }).then(function (response) {
        if (!response.ok) { throw new Error("not saved"); }
        button.setAttribute("aria-pressed", hide ? "true" : "false");
        label.textContent = hide ? button.dataset.labelShow : button.dataset.labelHide;
        value.value = hide ? "0" : "1";
      }).catch(function () {
        form.submit();  // the plain form: the server saves it and reloads the page
      }).finally(function () {
        button.disabled = false;
        button.focus();
      });
    });
  }

  function refocus() {
    // ?moved=<key>&did=<action>: the same button again if it still can act, else another
    // in the same row (an unpinned function's row is in the other list, same id).
    var params = new URLSearchParams(window.location.search);
    var row = document.getElementById("fn-" + (params.get("moved") || ""));
    if (!row) { return; }
    var buttons = Array.prototype.slice.call(row.querySelectorAll("button:not([disabled])"));
    var same = buttons.filter(function (b) { return b.value === params.get("did"); });
    var target = same[0] || buttons[0];
    if (target) { target.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-eye-form]").forEach(setupEye);
    if (document.querySelector("[data-testid=pinned], [data-testid=others]")) { refocus(); }
  });
})();
