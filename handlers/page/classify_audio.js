// The form of an audio classifier: the file read here, posted base64-encoded to models/<name>/predict
// ({"inputs": {"b64": ...}, "parameters": {"top_k": k}}), relative to the page; labels shown best first.
(function () {
  "use strict";
  var form = document.getElementById("audio-label-form");
  if (!form) { return; }
  var picker = document.getElementById("audio-label-file");
  var topK = document.getElementById("audio-label-top-k");
  var send = document.getElementById("audio-label-send");
  var status = document.getElementById("audio-label-status");
  var table = document.getElementById("audio-label-scores");
  var errorBox = document.getElementById("audio-label-error");
  var url = window.location.pathname.replace(/\/+$/, "") + "/predict";

  function fail(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function message(value, httpStatus) {
    var error = value && typeof value === "object" && value.error !== undefined ? value.error : value;
    var text = error && typeof error === "object" && typeof error.message === "string" ? error.message
      : (typeof error === "string" ? error : JSON.stringify(error));
    return "HTTP " + httpStatus + ": " + text;
  }

  function show(predictions) {
    var body = table.querySelector("tbody");
    body.textContent = "";
    predictions.forEach(function (prediction) {
      var row = document.createElement("tr");
      [String(prediction.label), Number(prediction.score).toFixed(4)].forEach(function (value) {
        var cell = document.createElement("td");
        cell.textContent = value;
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    table.hidden = predictions.length === 0;
  }

  function classify(b64) {
    var body = { inputs: { b64: b64 }, parameters: { top_k: Number(topK.value) || 5 } };
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.text().then(function (raw) {
        var parsed = raw;
        try { parsed = JSON.parse(raw); } catch (e) { /* not JSON: shown as is */ }
        status.textContent = "HTTP " + response.status;
        if (!response.ok || !parsed || !Array.isArray(parsed.predictions)) {
          fail(message(parsed, response.status));
          return;
        }
        show(parsed.predictions);
      });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = picker.files && picker.files[0];
    errorBox.hidden = true;
    table.hidden = true;
    if (!file) {
      fail("Choose an audio file first (WAV, FLAC, OGG/Opus or MP3).");
      picker.focus();
      return;
    }
    send.disabled = true;
    status.textContent = "classifying " + file.name + "…";
    var reader = new FileReader();
    reader.onerror = function () { fail("the file could not be read"); send.disabled = false; };
    reader.onload = function () {
      var data = String(reader.result);
      classify(data.slice(data.indexOf(",") + 1)).catch(function (error) {
        status.textContent = "no answer";
        fail(String(error));
      }).then(function () { send.disabled = false; });
    };
    reader.readAsDataURL(file);
  });
}());
