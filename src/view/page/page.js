"use strict";
async function refresh() {
  const state = await (await fetch("/api/state")).json();
  const brokers = document.getElementById("brokers");
  brokers.innerHTML = "";
  for (const b of state.cluster.brokers) {
    const el = document.createElement("div");
    el.className = "broker";
    el.dataset.broker = b.id;
    el.dataset.state = b.state;
    el.textContent = `broker ${b.id} ${b.state}${b.fenced ? " fenced" : ""}`;
    brokers.appendChild(el);
  }
  const topics = document.getElementById("topics");
  topics.innerHTML = "";
  for (const t of state.cluster.topics.filter(t => !t.name.startsWith("__"))) {
    for (const p of t.partitions) {
      const el = document.createElement("div");
      el.dataset.topic = t.name;
      el.dataset.partition = p.partition;
      el.dataset.leader = p.leader ?? "";
      el.dataset.isr = p.isr.join(",");
      el.textContent = `${t.name}-${p.partition} leader ${p.leader ?? "none"} isr ${p.isr.join(",")}`;
      topics.appendChild(el);
    }
  }
}
setInterval(refresh, 250);
refresh();
const events = new EventSource("/api/events");
events.onmessage = (m) => {
  const e = JSON.parse(m.data);
  const li = document.createElement("li");
  li.textContent = `t+${(e.at_ms / 1000).toFixed(1)} s ${e.text}`;
  document.getElementById("events").appendChild(li);
};
