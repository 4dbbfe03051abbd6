// The chat box of a generative model: POST models/<name>/v1/chat/completions with stream: true, relative to
// the page (so it works at any API Gateway stage path), server-sent events read from the fetch body as they
// arrive. Stop aborts the fetch; the server stops generating when the connection closes. A model without a
// chat template (data-mode="completion") completes each prompt on its own through /v1/completions.
(function () {
  "use strict";
  var form = document.getElementById("chat-form");
  if (!form) { return; }
  var log = document.getElementById("chat-log");
  var input = document.getElementById("chat-input");
  var system = document.getElementById("chat-system");
  var temperature = document.getElementById("chat-temperature");
  var maxTokens = document.getElementById("chat-max-tokens");
  var send = document.getElementById("chat-send");
  var stop = document.getElementById("chat-stop");
  var clear = document.getElementById("chat-clear");
  var status = document.getElementById("chat-status");
  var errorBox = document.getElementById("chat-error");
  var chat = form.getAttribute("data-mode") !== "completion";
  var url = window.location.pathname.replace(/\/+$/, "") + (chat ? "/v1/chat/completions" : "/v1/completions");
  var model = form.getAttribute("data-model");
  var history = [];  // the turns the model answered: sent again with the next message
  var controller = null;

  function turn(role, text) {
    var item = document.createElement("div");
    item.className = "turn " + role;
    var who = document.createElement("span");
    who.className = "role";
    who.textContent = role === "user" ? (chat ? "You" : "Prompt") : (chat ? "Assistant" : "Continuation");
    var content = document.createElement("div");
    content.className = "content";
    content.textContent = text;  // textContent: model output is never parsed as HTML
    item.appendChild(who);
    item.appendChild(content);
    log.appendChild(item);
    return item;
  }

  // OpenAI's {"error": {"message", "type", "param", "code"}} (or a bare error object) as one line.
  function describe(value, httpStatus) {
    var prefix = httpStatus ? "HTTP " + httpStatus + ": " : "";
    var error = value && typeof value === "object" && value.error !== undefined ? value.error : value;
    if (error && typeof error === "object" && typeof error.message === "string") {
      var details = [];
      ["type", "param", "code"].forEach(function (key) {
        if (error[key] !== undefined && error[key] !== null) { details.push(key + " " + error[key]); }
      });
      return prefix + error.message + (details.length ? " (" + details.join(", ") + ")" : "");
    }
    return prefix + (typeof error === "string" ? error : JSON.stringify(error));
  }

  function busy(on) {
    send.disabled = on;
    clear.disabled = on;
    stop.disabled = !on;
    log.setAttribute("aria-busy", on ? "true" : "false");  // screen readers read the answer once it is whole
  }

  // Server-sent events from a fetch body: onData gets each event's data (its data: lines joined).
  function readEvents(body, onData) {
    var reader = body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function dispatch(block) {
      var data = block.split("\n").filter(function (line) { return line.indexOf("data:") === 0; })
        .map(function (line) { return line.slice(5).replace(/^ /, ""); }).join("\n");
      if (data) { onData(data); }
    }
    function drain(end) {
      buffer = buffer.replace(/\r\n/g, "\n");
      var cut = buffer.indexOf("\n\n");
      while (cut >= 0) {
        dispatch(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        cut = buffer.indexOf("\n\n");
      }
      if (end && buffer.trim()) { dispatch(buffer); buffer = ""; }
    }
    function pump() {
      return reader.read().then(function (step) {
        if (step.done) {
          buffer += decoder.decode();
          drain(true);
          return undefined;
        }
        buffer += decoder.decode(step.value, { stream: true });
        drain(false);
        return pump();
      });
    }
    return pump();
  }

  function request(text) {
    var body = { model: model, stream: true, stream_options: { include_usage: true } };
    if (chat) {
      body.messages = [];
      if (system && system.value.trim()) { body.messages.push({ role: "system", content: system.value }); }
      history.forEach(function (message) { body.messages.push(message); });
      body.messages.push({ role: "user", content: text });
    } else {
      body.prompt = text;
    }
    if (temperature.value !== "") { body.temperature = Number(temperature.value); }
    if (maxTokens.value !== "") { body.max_tokens = Number(maxTokens.value); }
    return body;
  }

  function summary(finish, usage, firstMs, totalMs) {
    var parts = ["finish_reason: " + finish];
    if (usage) {
      parts.push("usage: " + usage.prompt_tokens + " prompt + " + usage.completion_tokens + " completion = " +
        usage.total_tokens + " tokens");
    }
    parts.push((totalMs / 1000).toFixed(2) + " s" + (firstMs === null ? "" : ", first token after " +
      Math.round(firstMs) + " ms"));
    return parts.join(" · ");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (controller) { return; }
    var text = input.value;
    if (!text.trim()) { input.focus(); return; }
    var body = request(text);
    errorBox.hidden = true;
    errorBox.textContent = "";
    var asked = turn("user", text);
    var answered = turn("assistant", "");
    var content = answered.querySelector(".content");
    answered.classList.add("streaming");
    input.value = "";
    var received = "";
    var finish = null;
    var usage = null;
    var failure = null;
    var started = performance.now();
    var first = null;
    controller = new AbortController();
    var focused = document.activeElement === send;
    busy(true);
    if (focused) { stop.focus(); }  // the keyboard stays on a button that does something
    status.textContent = "Waiting for the first token…";
    fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      signal: controller.signal
    }).then(function (response) {
      if (!response.ok || !response.body) {
        return response.text().then(function (raw) {
          var parsed = raw;
          try { parsed = JSON.parse(raw); } catch (e) { /* not JSON: show as is */ }
          failure = describe(parsed, response.status);
        });
      }
      status.textContent = "Streaming…";
      return readEvents(response.body, function (data) {
        if (data === "[DONE]" || failure) { return; }
        var chunk;
        try { chunk = JSON.parse(data); } catch (e) { failure = "an event that is not JSON: " + data; return; }
        if (chunk.error !== undefined) { failure = describe(chunk); return; }
        if (chunk.usage) { usage = chunk.usage; }
        (chunk.choices || []).forEach(function (choice) {
          var piece = chat ? (choice.delta || {}).content : choice.text;
          if (typeof piece === "string" && piece) {
            if (first === null) { first = performance.now() - started; }
            received += piece;
            content.textContent = received;
          }
          if (choice.finish_reason) { finish = choice.finish_reason; }
        });
      });
    }).then(function () {
      if (!failure && !finish) { failure = "the stream ended before the answer was finished"; }
      done(null);
    }, done);

    function done(error) {
      var stopped = error && error.name === "AbortError";
      controller = null;
      busy(false);
      if (document.activeElement === stop || document.activeElement === send || !document.activeElement ||
          document.activeElement === document.body) { input.focus(); }  // ready for the next message
      answered.classList.remove("streaming");
      if (stopped) {
        answered.classList.add("stopped");
        answered.setAttribute("data-finish-reason", "stopped");
        remember(text, received);
        status.textContent = "Stopped by you after " + received.length + " characters: the server stopped generating.";
        return;
      }
      if (error && !failure) { failure = "no answer: " + String(error); }
      if (failure) {
        asked.classList.add("failed");
        answered.classList.add("failed");
        if (!received) { content.textContent = "(no answer)"; }
        if (!input.value) { input.value = text; }  // not sent to the model: edit and send again
        errorBox.textContent = failure;
        errorBox.hidden = false;
        status.textContent = "Failed: this turn is not part of the conversation.";
        return;
      }
      answered.setAttribute("data-finish-reason", finish);
      remember(text, received);
      status.textContent = summary(finish, usage, first, performance.now() - started);
    }
  });

  function remember(text, answer) {
    if (chat) { history.push({ role: "user", content: text }, { role: "assistant", content: answer }); }
  }

  stop.addEventListener("click", function () {
    if (controller) { controller.abort(); }
  });

  clear.addEventListener("click", function () {
    history = [];
    log.textContent = "";
    status.textContent = "";
    errorBox.hidden = true;
    input.focus();
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (typeof form.requestSubmit === "function") { form.requestSubmit(); } else { send.click(); }
    }
  });
})();
