// The password reset's proof of work (self-hosted ALTCHA, v1 protocol, SHA-256): served from
// our own static files, no CDN, no inline script or style (the CSP allows neither).
// The page carries the challenge that recovery.challenge made, in data-challenge on the
// element with data-pow; this finds the number n with SHA-256(salt + n) == challenge, puts the
// base64 JSON solution into the hidden "altcha" field and enables the form's submit button.
(function () {
  "use strict";
  var box = document.querySelector("[data-pow]");
  if (!box) return;
  var form = box.closest("form");
  var field = form.querySelector("input[name='altcha']");
  var submit = form.querySelector("button[type='submit']");
  var status = box.querySelector("[data-pow-status]");
  var challenge = JSON.parse(box.getAttribute("data-challenge"));
  var encoder = new TextEncoder();

  function hex(buffer) {
    var bytes = new Uint8Array(buffer), out = "";
    for (var i = 0; i < bytes.length; i++) out += bytes[i].toString(16).padStart(2, "0");
    return out;
  }

  function finished(number) {
    field.value = btoa(JSON.stringify({
      algorithm: challenge.algorithm, challenge: challenge.challenge, number: number,
      salt: challenge.salt, signature: challenge.signature
    }));
    submit.disabled = false;
    status.textContent = box.getAttribute("data-done-label");
  }

  async function solve() {
    if (!(window.crypto && crypto.subtle)) {
      status.textContent = box.getAttribute("data-unsupported-label");
      return;
    }
    submit.disabled = true;
    for (var n = 0; n <= challenge.maxNumber; n++) {
      var digest = await crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n));
      if (hex(digest) === challenge.challenge) return finished(n);
    }
    status.textContent = box.getAttribute("data-failed-label");
  }

  solve();
})();
