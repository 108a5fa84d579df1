"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const list = document.getElementById("events");
  const live = document.getElementById("live");
  const maxEvents = 200;
  const refreshEvery = 3000;

  // Times are the gateway's, in its zone (data-tz), as the server renders
  // them: "2026-03-14 10:26:53 UTC+01:00".
  let clock = null;
  try {
    clock = new Intl.DateTimeFormat("en-US", {
      timeZone: document.body.dataset.tz || "UTC", hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "longOffset",
    });
  } catch (e) { /* a zone this browser does not know: show the gateway's own text */ }
  function stamp(iso) {
    const d = new Date(iso);
    if (clock === null || isNaN(d)) return String(iso);
    const p = {};
    for (const part of clock.formatToParts(d)) p[part.type] = part.value;
    let offset = (p.timeZoneName || "").replace(/^GMT/, "");
    if (offset === "+00:00" || offset === "-00:00") offset = "";
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second + " UTC" + offset;
  }

  // eventClass mirrors eventClass in page.go: the class and the tag word.
  function eventClass(type) {
    switch (type) {
      case "access.granted": return ["ok", ""];
      case "access.denied": case "reader.lockout": case "user.lockout": return ["bad", ""];
      case "reader.fault": case "door.forced": case "door.held": case "door.fault": case "door.lockdown": case "storage.full":
        return ["bad", "alarm"];
      case "door.held_prealarm": case "gateway.clock": case "policy.warning": return ["warn", ""];
      case "audit.change": return ["audit", "change"];
      case "door.test_pulse": return ["audit", ""];
    }
    if (String(type).startsWith("alarm.")) return ["bad", "alarm"];
    return ["info", ""];
  }
  function span(cls, text) {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }
  // addEvent builds what the "event" template renders (page.html); it makes
  // text nodes only.
  function addEvent(ev) {
    if (list.querySelector('li[data-seq="' + ev.seq + '"]')) return;
    const [cls, tag] = eventClass(ev.type);
    const li = document.createElement("li");
    li.className = "ev " + cls;
    li.dataset.seq = ev.seq;
    const t = document.createElement("time");
    t.dateTime = ev.time;
    t.textContent = stamp(ev.time);
    li.append(t, " ");
    if (tag) li.append(span("tag", tag), " ");
    const name = document.createElement("strong");
    name.textContent = ev.name;
    li.append(name);
    if (ev.reader) li.append(" ", span("meta", "reader " + ev.reader));
    if (ev.door && ev.door !== ev.reader) li.append(" ", span("meta", "door " + ev.door));
    if (ev.user) li.append(" ", span("meta", "user " + ev.user));
    let detail = ev.detail || "";
    if (ev.actor) {
      li.append(" ", span("meta actor", "by " + ev.actor));
      const by = "by " + ev.actor;
      if (detail.startsWith(by)) detail = detail.substring(by.length);
      if (detail.startsWith(": ")) detail = detail.substring(2);
    }
    if (detail) li.append(" ", span("meta", detail));
    if (ev.clock_untrusted) li.append(" ", span("meta unsure", "clock not synchronised"));
    list.prepend(li);
    const none = document.getElementById("no-events");
    if (none) none.remove();
    while (list.children.length > maxEvents) list.lastElementChild.remove();
  }

  // Notes of test pulses, by door: they outlive the refreshes that rebuild
  // the door's card.
  const notes = new Map();
  function showNotes() {
    for (const [door, note] of notes) {
      const card = document.getElementById("door-" + door);
      if (note.relock && card && card.dataset.locked === "true") {
        note.text += ", then locked again";
        note.relock = false;
      }
      const out = card && card.querySelector("output.pulse-note");
      if (out && out.textContent !== note.text) {
        out.textContent = note.text;
        out.className = "pulse-note " + note.cls;
      }
    }
  }

  // refresh reloads the state from /panel and swaps in each part whose
  // content changed, so that the alarm bar, a live region, is announced
  // only when the alarms change. Then it plans a refresh for the moment the
  // first timed unlock ends, so a relock shows at once.
  let relock = 0;
  let inFlight = null;
  async function load() {
    const r = await fetch("/panel", { credentials: "same-origin", cache: "no-store" });
    if (r.status === 401) { location.reload(); return; }
    if (!r.ok) return;
    const tpl = document.createElement("template");
    tpl.innerHTML = await r.text();
    for (const part of tpl.content.children) {
      const old = part.id ? document.getElementById(part.id) : null;
      if (old === null) continue;
      if (old.className !== part.className) old.className = part.className;
      if (old.innerHTML !== part.innerHTML) old.innerHTML = part.innerHTML;
    }
    showNotes();
    clearTimeout(relock);
    let left = Infinity;
    for (const d of document.querySelectorAll(".door[data-unlock-left]")) left = Math.min(left, Number(d.dataset.unlockLeft));
    if (left !== Infinity) relock = setTimeout(refresh, left + 250);
  }
  function refresh() {
    if (inFlight === null) {
      inFlight = load().catch(function () { /* offline for a moment; the next refresh tries again */ })
        .finally(function () { inFlight = null; });
    }
    return inFlight;
  }
  setInterval(refresh, refreshEvery);
  // An event usually means the state changed (a grant unlocked a door, an
  // alarm was raised): refresh soon after, once for a burst.
  let soon = 0;
  function refreshSoon() {
    clearTimeout(soon);
    soon = setTimeout(refresh, 150);
  }

  const es = new EventSource("/api/v1/events/stream?after=" + encodeURIComponent(document.body.dataset.last));
  es.addEventListener("open", function () { live.textContent = "live"; live.className = "badge ok"; });
  es.addEventListener("error", function () { live.textContent = "reconnecting"; live.className = "badge warn"; });
  es.addEventListener("event", function (e) { addEvent(JSON.parse(e.data)); refreshSoon(); });

  document.addEventListener("click", async function (e) {
    const b = e.target.closest("button[data-pulse]");
    if (!b) return;
    const door = b.dataset.pulse;
    b.disabled = true;
    notes.set(door, { text: "sending…", cls: "" });
    showNotes();
    try {
      const r = await fetch("/api/v1/doors/" + encodeURIComponent(door) + "/pulse", {
        method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf },
      });
      if (r.ok) {
        // Show the door unlocked now, not at the next refresh: from a
        // reload that starts after the pulse, not one already on its way.
        if (inFlight !== null) await inFlight;
        await refresh();
        const card = document.getElementById("door-" + door);
        const until = card && card.querySelector(".unlocked time");
        if (card && card.dataset.locked === "false") {
          notes.set(door, { text: "Pulse sent: door unlocked" + (until ? " until " + until.textContent : ""), cls: "ok", relock: true });
        } else {
          notes.set(door, { text: "Pulse sent, but the door shows locked: see its events", cls: "bad" });
        }
      } else {
        let msg = "the gateway answered " + r.status;
        try { msg = (await r.json()).error.message; } catch (err) { /* not an error document */ }
        notes.set(door, { text: "Pulse failed: " + msg, cls: "bad" });
      }
    } catch (err) {
      notes.set(door, { text: "Pulse failed: gateway unreachable", cls: "bad" });
    } finally {
      showNotes();
      const again = document.querySelector('button[data-pulse="' + CSS.escape(door) + '"]');
      if (again) again.disabled = false;
      b.disabled = false;
    }
  });
})();
