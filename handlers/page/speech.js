// The transcription form of a speech model: multipart POST to models/<name>/v1/audio/transcriptions
// (response_format verbose_json), relative to the page. Where the browser can record (MediaRecorder on a
// secure origin), a recording is turned into a 16 kHz mono WAV here: Chromium records WebM, which the
// server does not decode.
(function () {
  "use strict";
  var form = document.getElementById("speech-form");
  if (!form) { return; }
  var picker = document.getElementById("speech-file");
  var send = document.getElementById("speech-send");
  var status = document.getElementById("speech-status");
  var text = document.getElementById("speech-text");
  var segments = document.getElementById("speech-segments");
  var errorBox = document.getElementById("speech-error");
  var url = window.location.pathname.replace(/\/+$/, "") + "/v1/audio/transcriptions";
  var model = form.getAttribute("data-model");
  var RATE = 16000;

  function describe(value, httpStatus) {
    var error = value && typeof value === "object" && value.error !== undefined ? value.error : value;
    var message = error && typeof error === "object" && typeof error.message === "string" ? error.message
      : (typeof error === "string" ? error : JSON.stringify(error));
    var details = [];
    if (error && typeof error === "object") {
      ["type", "param", "code"].forEach(function (key) {
        if (error[key] !== undefined && error[key] !== null) { details.push(key + " " + error[key]); }
      });
    }
    return "HTTP " + httpStatus + ": " + message + (details.length ? " (" + details.join(", ") + ")" : "");
  }

  function show(answer) {
    text.textContent = answer.text || "";
    var body = segments.querySelector("tbody");
    body.textContent = "";
    (answer.segments || []).forEach(function (segment) {
      var row = document.createElement("tr");
      [Number(segment.start).toFixed(2), Number(segment.end).toFixed(2), segment.text].forEach(function (value) {
        var cell = document.createElement("td");
        cell.textContent = value;
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    segments.hidden = !(answer.segments && answer.segments.length);
  }

  function transcribe(file, name) {
    var data = new FormData();
    data.append("file", file, name);
    data.append("model", model);
    data.append("response_format", "verbose_json");
    errorBox.hidden = true;
    text.textContent = "";
    segments.hidden = true;
    send.disabled = true;
    status.textContent = "transcribing " + name + "…";
    return fetch(url, { method: "POST", body: data, credentials: "same-origin" }).then(function (response) {
      return response.text().then(function (raw) {
        var parsed = raw;
        try { parsed = JSON.parse(raw); } catch (e) { /* not JSON: shown as is */ }
        if (!response.ok || typeof parsed !== "object") {
          status.textContent = "HTTP " + response.status;
          errorBox.textContent = describe(parsed, response.status);
          errorBox.hidden = false;
          return;
        }
        var seconds = typeof parsed.duration === "number" ? " · " + parsed.duration.toFixed(2) + " s of audio" : "";
        status.textContent = "HTTP " + response.status + seconds;
        show(parsed);
      });
    }).catch(function (error) {
      status.textContent = "no answer";
      errorBox.textContent = String(error);
      errorBox.hidden = false;
    }).then(function () { send.disabled = false; });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = picker.files && picker.files[0];
    if (!file) {
      errorBox.textContent = "Choose an audio file first (WAV, FLAC, OGG/Opus or MP3).";
      errorBox.hidden = false;
      picker.focus();
      return;
    }
    transcribe(file, file.name);
  });

  // --- the recorder, where the browser allows it ------------------------------------------------------
  var recorderBox = document.getElementById("speech-recorder");
  var canRecord = typeof window.MediaRecorder === "function" && window.isSecureContext &&
    !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia) &&
    typeof (window.AudioContext || window.webkitAudioContext) === "function";
  if (!canRecord) {
    document.getElementById("speech-no-recorder").hidden = false;
    return;
  }
  recorderBox.hidden = false;
  var record = document.getElementById("speech-record");
  var finish = document.getElementById("speech-record-stop");
  var state = document.getElementById("speech-record-state");
  var recorder = null;

  // 16-bit PCM WAV of one channel.
  function wav(samples, rate) {
    var buffer = new ArrayBuffer(44 + samples.length * 2);
    var view = new DataView(buffer);
    function ascii(offset, value) {
      for (var i = 0; i < value.length; i++) { view.setUint8(offset + i, value.charCodeAt(i)); }
    }
    ascii(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); ascii(8, "WAVE");
    ascii(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
    view.setUint16(34, 16, true); ascii(36, "data"); view.setUint32(40, samples.length * 2, true);
    for (var i = 0; i < samples.length; i++) {
      var s = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([buffer], { type: "audio/wav" });
  }

  // The recording (WebM or OGG, as the browser records) decoded and resampled to 16 kHz mono.
  function toWav(blob) {
    var Context = window.AudioContext || window.webkitAudioContext;
    var context = new Context();
    return blob.arrayBuffer().then(function (bytes) {
      return context.decodeAudioData(bytes);
    }).then(function (decoded) {
      context.close();
      var frames = Math.max(1, Math.ceil(decoded.duration * RATE));
      var offline = new OfflineAudioContext(1, frames, RATE);
      var source = offline.createBufferSource();
      source.buffer = decoded;
      source.connect(offline.destination);
      source.start();
      return offline.startRendering();
    }).then(function (rendered) {
      return wav(rendered.getChannelData(0), RATE);
    });
  }

  record.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.addEventListener("dataavailable", function (event) { if (event.data.size) { chunks.push(event.data); } });
      recorder.addEventListener("stop", function () {
        stream.getTracks().forEach(function (track) { track.stop(); });
        state.textContent = "converting the recording…";
        toWav(new Blob(chunks, { type: recorder.mimeType })).then(function (file) {
          state.textContent = "recorded " + (file.size / 1024).toFixed(0) + " KiB";
          return transcribe(file, "recording.wav");
        }).catch(function (error) {
          state.textContent = "";
          errorBox.textContent = "The recording could not be converted to WAV: " + String(error);
          errorBox.hidden = false;
        });
      });
      recorder.start();
      record.disabled = true;
      finish.disabled = false;
      state.textContent = "recording…";
    }).catch(function (error) {
      errorBox.textContent = "The microphone is not available: " + String(error);
      errorBox.hidden = false;
    });
  });

  finish.addEventListener("click", function () {
    if (recorder && recorder.state !== "inactive") { recorder.stop(); }
    record.disabled = false;
    finish.disabled = true;
  });
})();
