// Secure input (4.1.2.2-b, 4.3.1.5): sensitive form fields leave the browser encrypted
// under a key agreed for this page (ECDH P-256 + HKDF-SHA256 + AES-256-GCM, WebCrypto),
// and transaction passwords are typed on a one-time, randomly ordered soft keyboard.
// The protocol is described in docs/api.md. Loaded with `defer` (CSP forbids inline JS).
"use strict";

(function () {
  var SUITE = "P256-AESGCM";
  var INFO_PREFIX = "wangyin channel v1|";
  var PIN_LENGTH = 6;
  var MASK = "\u2022"; // •
  var zh = document.documentElement.lang.indexOf("zh") === 0;
  var encoder = new TextEncoder();

  function b64(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return window.btoa(text);
  }

  function unb64(text) {
    var raw = window.atob(text);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function postJson(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      if (!response.ok) throw new Error(path + " answered " + response.status);
      return response.json();
    });
  }

  // --- the channel: one handshake per page, a counter per sealed field ----------------
  // The handshake carries the session cookie (credentials: "same-origin"), so on a page of
  // a logged-in customer the channel belongs to that login session: the server opens its
  // envelopes for that session only, and a new login (a new page) gets a new channel.

  var channelPromise = null;

  function openChannel() {
    if (channelPromise) return channelPromise;
    var subtle = window.crypto && window.crypto.subtle;
    if (!subtle) return Promise.reject(new Error("WebCrypto needs a secure context (HTTPS)"));
    var pair;
    var answer;
    channelPromise = subtle
      .generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"])
      .then(function (generated) {
        pair = generated;
        return subtle.exportKey("raw", pair.publicKey);
      })
      .then(function (raw) {
        return postJson("/api/v1/channel", {
          suite: SUITE,
          client_public_key: b64(new Uint8Array(raw))
        });
      })
      .then(function (body) {
        answer = body;
        return subtle.importKey(
          "raw", unb64(body.server_public_key), { name: "ECDH", namedCurve: "P-256" }, false, []
        );
      })
      .then(function (serverKey) {
        return subtle.deriveBits({ name: "ECDH", public: serverKey }, pair.privateKey, 256);
      })
      .then(function (shared) {
        return subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
      })
      .then(function (ikm) {
        return subtle.deriveKey(
          {
            name: "HKDF",
            hash: "SHA-256",
            salt: new Uint8Array(0),
            info: encoder.encode(INFO_PREFIX + answer.kid)
          },
          ikm,
          { name: "AES-GCM", length: 256 },
          false,
          ["encrypt"]
        );
      })
      .then(function (key) {
        return { kid: answer.kid, key: key, ctr: 0 };
      });
    channelPromise.catch(function () { channelPromise = null; });
    return channelPromise;
  }

  function seal(channel, field, plaintext) {
    channel.ctr += 1;
    var ctr = channel.ctr;
    var nonce = window.crypto.getRandomValues(new Uint8Array(12));
    return window.crypto.subtle
      .encrypt(
        {
          name: "AES-GCM",
          iv: nonce,
          additionalData: encoder.encode(channel.kid + "|" + ctr + "|" + field)
        },
        channel.key,
        encoder.encode(plaintext)
      )
      .then(function (body) {
        var sealed = new Uint8Array(12 + body.byteLength);
        sealed.set(nonce, 0);
        sealed.set(new Uint8Array(body), 12);
        return JSON.stringify({ kid: channel.kid, ctr: ctr, ct: b64(sealed) });
      });
  }

  // --- the soft keyboard: keys in a server-issued order, positions only --------------

  var keyboards = [];

  function SoftKeyboard(root) {
    var self = this;
    var layout = null; // digits in key order, from POST /api/v1/keyboard
    var layoutId = "";
    var positions = []; // what was typed, as key positions; never the digits
    var display = root.querySelector(".pin-display");
    var keys = Array.prototype.slice.call(root.querySelectorAll("button[data-pos]"));
    var toggle = root.querySelector("button[data-action=physical]");
    var label = display.getAttribute("data-label") || "";
    this.name = root.getAttribute("data-softkb");
    this.root = root;

    function show() {
      var text = "";
      for (var i = 0; i < positions.length; i++) text += MASK;
      display.textContent = text;
      display.setAttribute(
        "aria-label",
        label + (zh ? "：已输入 " : ": ") + positions.length + (zh ? " 位，共 " : " of ") + PIN_LENGTH +
          (zh ? " 位" : " digits")
      );
    }

    function press(position) {
      if (positions.length < PIN_LENGTH) positions.push(position);
      show();
    }

    function erase() {
      positions.pop();
      show();
    }

    this.load = function () {
      positions = [];
      show();
      return postJson("/api/v1/keyboard", {}).then(function (board) {
        layout = board.digits;
        layoutId = board.id;
        keys.forEach(function (key) {
          var digit = String(layout[Number(key.getAttribute("data-pos"))]);
          key.textContent = digit;
          key.setAttribute("aria-label", digit);
          key.disabled = false;
        });
      });
    };

    this.entry = function () {
      if (!layoutId || positions.length === 0) return null;
      return JSON.stringify({ keyboard: layoutId, positions: positions.slice() });
    };

    keys.forEach(function (key) {
      key.addEventListener("click", function () {
        press(Number(key.getAttribute("data-pos")));
      });
    });
    root.querySelector("button[data-action=delete]").addEventListener("click", erase);
    toggle.addEventListener("click", function () {
      var physical = toggle.getAttribute("aria-pressed") !== "true";
      toggle.setAttribute("aria-pressed", physical ? "true" : "false");
      root.classList.toggle("physical", physical);
      display.focus();
    });
    // Physical keyboard: a typed digit is turned into its key position at once; no input
    // element ever holds it.
    display.addEventListener("keydown", function (event) {
      if (!layout) return;
      if (/^[0-9]$/.test(event.key)) {
        event.preventDefault();
        press(layout.indexOf(Number(event.key)));
      } else if (event.key === "Backspace" || event.key === "Delete") {
        event.preventDefault();
        erase();
      }
    });
    show();
    keyboards.push(self);
  }

  // --- forms: seal marked fields on submit -----------------------------------------

  function failMessage(form) {
    var message = zh
      ? "无法建立安全通道，请刷新页面后重试。"
      : "Could not set up the secure channel. Please reload the page and try again.";
    var box = form.querySelector(".channel-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "alert channel-error";
      box.setAttribute("role", "alert");
      form.insertBefore(box, form.firstChild);
    }
    box.textContent = message;
    form.querySelectorAll("button[type=submit]").forEach(function (button) {
      window.setTimeout(function () { button.disabled = false; }, 10);
    });
  }

  function addHidden(form, name, value) {
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = name;
    hidden.value = value;
    hidden.className = "sealed";
    form.appendChild(hidden);
  }

  function sealAndSubmit(form, submitter) {
    openChannel()
      .then(function (channel) {
        var jobs = [];
        form.querySelectorAll("input[data-seal]").forEach(function (input) {
          if (!input.name || input.value === "") return;
          jobs.push({ name: input.name, text: input.value, input: input });
        });
        keyboards.forEach(function (board) {
          if (!form.contains(board.root)) return;
          var entry = board.entry();
          if (entry !== null) jobs.push({ name: board.name, text: entry, input: null });
        });
        // One after another, so the counters rise in the order the fields are sent.
        var chain = Promise.resolve();
        var sealed = [];
        jobs.forEach(function (job) {
          chain = chain.then(function () {
            return seal(channel, job.name, job.text).then(function (value) {
              sealed.push({ job: job, value: value });
            });
          });
        });
        return chain.then(function () { return sealed; });
      })
      .then(function (sealed) {
        form.querySelectorAll("input.sealed").forEach(function (old) { old.remove(); });
        sealed.forEach(function (item) {
          if (item.job.input) item.job.input.disabled = true; // the clear value stays home
          addHidden(form, item.job.name, item.value);
        });
        if (submitter && submitter.name) addHidden(form, submitter.name, submitter.value);
        form.setAttribute("data-submitted", "true");
        HTMLFormElement.prototype.submit.call(form);
      })
      .catch(function () { failMessage(form); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-secure]");
    if (forms.length === 0) return;
    openChannel().catch(function () { /* retried on submit */ });
    document.querySelectorAll("[data-softkb]").forEach(function (root) {
      new SoftKeyboard(root).load().catch(function () {
        root.querySelector(".pin-display").textContent = zh
          ? "安全键盘加载失败，请刷新页面。"
          : "The on-screen keyboard did not load. Please reload the page.";
      });
    });
    forms.forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        sealAndSubmit(form, event.submitter);
      });
    });
    // Back/forward cache: a restored page must not resubmit sealed values.
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) window.location.reload();
    });
  });
})();
