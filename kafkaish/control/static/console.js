// kafkaish console: live figures on the overview and the live tail. Pages work without it.
"use strict";

function liveFigures(list) {
  const url = list.dataset.live;
  const set = (id, text) => { const el = document.getElementById(id); if (el) el.textContent = text; };
  async function refresh() {
    try {
      const o = await (await fetch(url)).json();
      set("fig-brokers", o.brokers); set("fig-topics", o.topics); set("fig-partitions", o.partitions);
      set("fig-groups", o.groups); set("fig-messages", o.messages.toLocaleString("en-US"));
      set("fig-bytes", o.bytes_text);
      if (o.messages_per_s !== null) set("fig-rate", o.messages_per_s.toFixed(1));
    } catch (e) { /* the broker may be restarting: try again at the next tick */ }
  }
  refresh();
  setInterval(refresh, 2000);
}

function decode(text, encoding) {
  if (text === null) return "null";
  if (encoding === "base64") {
    const bytes = atob(text);
    return "0x" + Array.from(bytes, c => c.charCodeAt(0).toString(16).padStart(2, "0")).join(" ");
  }
  return text;
}

function liveTail(list) {
  const status = document.getElementById("tail-status");
  const source = new EventSource(list.dataset.events);
  source.addEventListener("ready", () => { status.textContent = "Live: showing messages as they are produced."; });
  source.addEventListener("gone", () => { status.textContent = "The topic was deleted."; source.close(); });
  source.onerror = () => { status.textContent = "Disconnected; reconnecting…"; };
  source.onmessage = (event) => {
    const r = JSON.parse(event.data);
    const item = document.createElement("li");
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = `p${r.partition} @${r.offset} ${new Date(r.timestamp).toISOString()}`;
    const body = document.createElement("span");
    body.className = "record";
    body.textContent = `${decode(r.key, r.key_encoding)} = ${decode(r.value, r.value_encoding)}`;
    item.append(meta, body);
    list.prepend(item);
    while (list.children.length > 500) list.lastChild.remove();
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const figures = document.querySelector("[data-live]");
  if (figures) liveFigures(figures);
  const tail = document.getElementById("tail");
  if (tail) liveTail(tail);
});
