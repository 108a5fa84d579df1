"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const list = document.getElementById("events");
  const live = document.getElementById("live");
  const maxEvents = 200;

  function classOf(type) {
    if (type === "access.granted") return "ok";
    if (type === "access.denied" || type === "reader.lockout" || type === "user.lockout" || type === "reader.fault") return "bad";
    return "info";
  }
  function span(cls, text) {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }
  // addEvent mirrors the "event" template; it builds text nodes only.
  function addEvent(ev) {
    if (list.querySelector('li[data-seq="' + ev.seq + '"]')) return;
    const li = document.createElement("li");
    li.className = "ev " + classOf(ev.type);
    li.dataset.seq = ev.seq;
    const t = document.createElement("time");
    t.dateTime = ev.time;
    // The gateway's own wall clock, as the server renders it too.
    t.textContent = String(ev.time).substring(11, 19);
    const name = document.createElement("strong");
    name.textContent = ev.name;
    li.append(t, " ", name);
    if (ev.reader) li.append(" ", span("meta", "reader " + ev.reader));
    if (ev.user) li.append(" ", span("meta", "user " + ev.user));
    if (ev.detail) li.append(" ", span("meta", ev.detail));
    list.prepend(li);
    const none = document.getElementById("no-events");
    if (none) none.remove();
    while (list.children.length > maxEvents) list.lastElementChild.remove();
  }

  const es = new EventSource("/api/v1/events/stream?after=" + encodeURIComponent(document.body.dataset.last));
  es.addEventListener("open", function () { live.textContent = "live"; live.className = "badge ok"; });
  es.addEventListener("error", function () { live.textContent = "reconnecting"; live.className = "badge warn"; });
  es.addEventListener("event", function (e) { addEvent(JSON.parse(e.data)); });

  async function refresh() {
    try {
      const r = await fetch("/panel", { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { location.reload(); return; }
      if (r.ok) document.getElementById("status").innerHTML = await r.text();
    } catch (e) { /* offline for a moment; the next refresh tries again */ }
  }
  setInterval(refresh, 3000);

  document.addEventListener("click", async function (e) {
    const b = e.target.closest("button[data-pulse]");
    if (!b) return;
    const out = b.parentElement.querySelector("output");
    b.disabled = true;
    try {
      const r = await fetch("/api/v1/doors/" + encodeURIComponent(b.dataset.pulse) + "/pulse", {
        method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf },
      });
      if (r.ok) { out.textContent = "pulse sent"; }
      else { const body = await r.json(); out.textContent = body.error.message; }
    } catch (err) {
      out.textContent = "gateway unreachable";
    } finally {
      b.disabled = false;
    }
  });
})();
