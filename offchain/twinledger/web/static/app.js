// Live ledger notifications on every page (server-sent events; the page never polls), call statuses,
// and bounds refusals shown in the page before anything is sent.
(function () {
  "use strict";
  const live = document.getElementById("live");
  const notices = document.getElementById("notices");
  const feeds = document.body.dataset.feeds || "";
  const source = new EventSource("/events" + (feeds ? "?feeds=" + encodeURIComponent(feeds) : ""));
  window.twinledgerEvents = source;

  source.onopen = () => { live.textContent = "● live"; live.classList.add("on"); };
  source.onerror = () => { live.textContent = "○ reconnecting"; live.classList.remove("on"); };

  function notify(message) {
    const item = document.createElement("div");
    item.className = "notice";
    item.setAttribute("role", "status");
    item.textContent = `block ${message.block} · twin ${message.twin} · ${message.text}`;
    notices.prepend(item);
    while (notices.children.length > 4) notices.lastChild.remove();
    setTimeout(() => item.remove(), 12000);
  }

  const CALL_STATUS = { CallDelivered: "Delivered" };
  function updateCall(message) {
    const id = message.args.callId;
    if (id === undefined) return;
    const status = message.name === "CallCompleted" ? (message.args.ok ? "Done" : "Failed") : CALL_STATUS[message.name];
    if (!status) return;
    document.querySelectorAll(`tr[data-call="${id}"] .status`).forEach((cell) => {
      cell.textContent = status;
      cell.className = `status status-${status}`;
    });
  }

  source.addEventListener("event", (e) => {
    const message = JSON.parse(e.data);
    if (message.name !== "Anchored") notify(message);
    updateCall(message);
    document.dispatchEvent(new CustomEvent("ledger-event", { detail: message }));
  });
  // A verdict computed in the background (or from the verification page) replaces the twin's cell.
  source.addEventListener("verdict", (e) => {
    const message = JSON.parse(e.data);
    const cell = document.getElementById(`verdict-${message.twin}`);
    if (!cell) return;
    const text = document.createElement("span");
    text.className = "verdict-text";
    text.textContent = message.text;
    const when = document.createElement("small");
    when.className = "verdict-when";
    when.textContent = message.detail;
    cell.className = `verdict verdict-${message.status}`;
    cell.dataset.status = message.status;
    cell.dataset.block = message.block;
    cell.replaceChildren(text, " ", when);
  });
  source.addEventListener("readings", (e) => {
    document.dispatchEvent(new CustomEvent("feed-readings", { detail: JSON.parse(e.data) }));
  });

  // A value outside the on-chain bounds is refused here, in one line, and nothing is sent: the
  // browser's own check blocks the submission and tells us which field failed.
  document.addEventListener("invalid", (e) => {
    const input = e.target;
    const form = input.closest("form");
    const result = form && form.nextElementSibling;
    if (!result || !result.classList.contains("result")) return;
    const line = document.createElement("p");
    line.className = "error";
    line.setAttribute("role", "alert");
    line.textContent = input.dataset.bounds && input.value !== ""
      ? `ParameterOutOfBounds: ${input.name.replace("param:", "")}=${input.value} is outside ${input.dataset.bounds.split("∈ ")[1]}; nothing was sent`
      : `${input.name.replace("param:", "")}: ${input.validationMessage}; nothing was sent`;
    result.replaceChildren(line);
  }, true);
  // A refusal from the server or the chain arrives as one line with a 4xx status: show it too.
  document.addEventListener("htmx:beforeSwap", (e) => {
    if (e.detail.xhr.status >= 400) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });
})();
