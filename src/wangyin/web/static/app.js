// Wangyin page behaviour. Loaded with `defer` from our own origin (CSP forbids inline script).
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var zh = document.documentElement.lang.indexOf("zh") === 0;

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

  // Seconds left until a moment, shown in the element, then `done` (once).
  function countdown(el, expires, format, done) {
    function tick() {
      var left = Math.max(0, Math.round((expires - Date.now()) / 1000));
      el.textContent = format(left);
      if (left > 0) window.setTimeout(tick, 1000);
      else if (done) done();
    }
    tick();
  }

  // Confirmation countdown: shows the seconds left to confirm a prepared transfer.
  document.querySelectorAll(".countdown[data-expires]").forEach(function (el) {
    countdown(el, Date.parse(el.getAttribute("data-expires")), function (left) {
      return zh ? "（剩余 " + left + " 秒）" : "(" + left + " s left)";
    });
  });

  // The one-time code's own life (60 s), and its resend once it is over.
  document.querySelectorAll("[data-code-expires]").forEach(function (el) {
    var resend = document.querySelectorAll("[data-resend]");
    countdown(el, Date.parse(el.getAttribute("data-code-expires")), function (left) {
      if (left === 0) return zh ? "验证码已过期，请重新获取。" : "The code has expired: ask for a new one.";
      return zh ? "验证码 " + left + " 秒内有效" : "The code is valid for " + left + " s";
    }, function () {
      resend.forEach(function (button) { button.textContent = button.getAttribute("data-resend"); });
    });
  });

  // Two fields that must match (a new password typed twice): said beside the second
  // field before the form leaves, so nothing typed is lost (the server checks it too).
  document.querySelectorAll("input[data-match]").forEach(function (again) {
    var form = again.form;
    var first = document.getElementById(again.getAttribute("data-match"));
    form.addEventListener("submit", function (event) {
      var old = document.getElementById(again.id + "-error");
      if (first.value === again.value) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      if (!old) {
        old = document.createElement("p");
        old.className = "field-error";
        old.id = again.id + "-error";
        again.parentNode.insertBefore(old, again);
      }
      old.textContent = again.getAttribute("data-match-message");
      again.setAttribute("aria-invalid", "true");
      again.setAttribute("aria-describedby", old.id);
      again.focus();
    }, true);
  });

  // Forms in steps (one soft keyboard at a time): only the current step shows; the
  // submit button comes with the last one. A step with an error opens first.
  document.querySelectorAll("form[data-steps]").forEach(function (form) {
    var steps = Array.prototype.slice.call(form.querySelectorAll("[data-step]"));
    var submit = form.querySelector("button[type=submit]");
    var current = Math.max(0, steps.findIndex(function (step) {
      return step.querySelector(".field-error") !== null;
    }));
    function show(index) {
      current = index;
      steps.forEach(function (step, i) { step.hidden = i !== index; });
      submit.hidden = index !== steps.length - 1;
      var display = steps[index].querySelector(".pin-display");
      if (display) display.focus();
    }
    form.querySelectorAll("button[data-next]").forEach(function (button) {
      button.addEventListener("click", function () { show(current + 1); });
    });
    show(current);
  });

  // Session timeout (WCAG 2.2.1): 60 s before the session ends, a warning with a way to
  // stay signed in; at the end, log out and say why on the login page.
  var warning = document.getElementById("timeout");
  if (warning) {
    var left = Number(warning.getAttribute("data-session-left"));
    var stay = warning.querySelector("[data-stay]");
    var clock = warning.querySelector("[data-left]");
    var csrf = warning.getAttribute("data-csrf");
    var timers = [];
    var schedule = function (seconds) {
      timers.forEach(window.clearTimeout);
      warning.hidden = true;
      var end = Date.now() + seconds * 1000;
      timers = [window.setTimeout(function () {
        warning.hidden = false;
        countdown(clock, end, function (s) { return String(s); });
        stay.focus();
      }, Math.max(0, seconds - 60) * 1000), window.setTimeout(function () {
        document.getElementById("timeout-logout").submit();
      }, seconds * 1000)];
    };
    stay.addEventListener("click", function () {
      fetch("/security/keepalive", {
        method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf }
      }).then(function (response) {
        if (!response.ok) { window.location.assign("/login?timeout=1"); return null; }
        return response.json();
      }).then(function (body) { if (body) schedule(body.seconds_left); });
    });
    schedule(left);
  }

  // Bring the error summary into view for keyboard and screen-reader users.
  var summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
});
