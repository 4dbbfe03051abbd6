// The model page's only script: send the "try it" form and copy snippets. No framework, no network but
// this server, URLs relative to the page so it works at any API Gateway stage path.
(function () {
  "use strict";
  // Indented JSON with each innermost list (one row) on one line, like the prefilled sample.
  function pretty(value) {
    return JSON.stringify(value, null, 2).replace(/\[\s+([^\[\]{}]*?)\s+\]/g, function (match, inner) {
      return "[" + inner.replace(/\s*\n\s*/g, " ") + "]";
    });
  }
  var form = document.getElementById("try-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var answer = document.getElementById("try-answer");
      var status = document.getElementById("try-status");
      var url = window.location.pathname.replace(/\/+$/, "") + "/predict";
      answer.className = "";
      answer.textContent = "…";
      status.textContent = "";
      fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: document.getElementById("try-body").value,
        credentials: "same-origin"
      }).then(function (response) {
        return response.text().then(function (text) {
          var shown = text;
          try { shown = pretty(JSON.parse(text)); } catch (e) { /* not JSON: show as is */ }
          status.textContent = "HTTP " + response.status;
          answer.className = response.ok ? "ok" : "error";
          answer.textContent = shown;  // textContent: never parsed as HTML
        });
      }).catch(function (error) {
        status.textContent = "no answer";
        answer.className = "error";
        answer.textContent = String(error);
      });
    });
  }
  var picker = document.getElementById("try-image");
  if (picker) {
    picker.addEventListener("change", function () {
      var file = picker.files && picker.files[0];
      if (!file) { return; }
      var reader = new FileReader();
      reader.onload = function () {
        var b64 = String(reader.result).split(",")[1] || "";  // a data: URL; keep the base64 part
        document.getElementById("try-body").value = pretty({ inputs: { image: [{ b64: b64 }] } });
      };
      reader.readAsDataURL(file);
    });
  }
  // The snippets carry the URL the server saw. Behind an API Gateway stage (/prod) or a custom domain's base
  // path, the browser's URL has a prefix the server never sees: write the page's own base in its place.
  var calls = document.getElementById("calls");
  var data = document.getElementById("page-data");
  if (calls && data) {
    var written = calls.getAttribute("data-base") || "";
    var suffix = "/models/" + encodeURIComponent(JSON.parse(data.textContent).model);
    var path = window.location.pathname.replace(/\/+$/, "");
    if (written && path.slice(-suffix.length) === suffix) {
      var actual = window.location.origin + path.slice(0, path.length - suffix.length);
      if (actual !== written) {
        calls.querySelectorAll("code").forEach(function (code) {
          code.textContent = code.textContent.split(written).join(actual);  // text only: never parsed as HTML
        });
      }
    }
  }
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var code = button.parentElement.querySelector("code").textContent;
      if (navigator.clipboard) { navigator.clipboard.writeText(code); }
      button.textContent = "Copied";
    });
  });
})();
