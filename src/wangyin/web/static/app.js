// Wangyin page behaviour. Loaded with `defer` from our own origin (CSP forbids inline script).
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // A form is sent once: the button is disabled after the first submit, so a double
  // click cannot prepare or confirm twice (the server's Idempotency-Key also guards it).
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      if (form.method.toLowerCase() !== "post") return;
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        window.setTimeout(function () { button.disabled = true; }, 0);
      });
    });
  });

  // Confirmation countdown: shows the seconds left to confirm a prepared transfer.
  document.querySelectorAll(".countdown[data-expires]").forEach(function (el) {
    var expires = Date.parse(el.getAttribute("data-expires"));
    var zh = document.documentElement.lang.indexOf("zh") === 0;
    function tick() {
      var left = Math.max(0, Math.round((expires - Date.now()) / 1000));
      el.textContent = zh ? "（剩余 " + left + " 秒）" : "(" + left + " s left)";
      if (left > 0) window.setTimeout(tick, 1000);
    }
    tick();
  });

  // Bring the first error into view for keyboard and screen-reader users.
  var error = document.getElementById("form-error");
  if (error) { error.setAttribute("tabindex", "-1"); error.focus(); }
});
