// The live view: draws the state /api/state/stream sends every 400 ms (so a change shows
// within half a second) and follows /api/events for the timeline. Plain DOM building only:
// every piece of data goes in through textContent or setAttribute, never through HTML parsing.
// The stream paces the drawing: everything one state changes is drawn in one frame.
"use strict";

(function () {
  const MAX_ROWS = 300;
  const SVG_NS = "http://www.w3.org/2000/svg";

  // ---- building elements -------------------------------------------------------------

  function put(node, kids) {
    for (const k of kids) {
      if (k === null || k === undefined || k === false) continue;
      if (Array.isArray(k)) put(node, k);
      else node.append(k instanceof Node ? k : String(k));
    }
  }

  function attrs(node, a) {
    if (!a) return;
    for (const [k, v] of Object.entries(a)) {
      if (v === null || v === undefined || v === false) continue;
      node.setAttribute(k === "cls" ? "class" : k, String(v));
    }
  }

  function el(tag, a, ...kids) {
    const node = document.createElement(tag);
    attrs(node, a);
    put(node, kids);
    return node;
  }

  function svg(tag, a, ...kids) {
    const node = document.createElementNS(SVG_NS, tag);
    attrs(node, a);
    put(node, kids);
    return node;
  }

  const byId = (id) => document.getElementById(id);

  // Sets a text only when it differs: an unchanged text left alone costs the browser nothing.
  function setText(id, text) {
    const node = byId(id);
    if (node.textContent !== text) node.textContent = text;
  }

  // Redraws a section only when the data it draws changed, so hovering and selecting text
  // survive the updates.
  const drawn = new Map();
  function redraw(id, data, build) {
    const key = JSON.stringify(data);
    if (drawn.get(id) === key) return false;
    const built = document.createDocumentFragment();
    put(built, [build(data)]);
    morph(byId(id), Array.from(built.childNodes));
    drawn.set(id, key);
    return true;
  }

  // Makes `parent`'s children look like `kids` (freshly built, not in the document) by
  // changing only what differs: a text, an attribute. While the structure stays the same,
  // which it does while only offsets and counters move, the browser restyles and repaints a
  // few cells instead of whole tables; where the structure differs, that subtree is replaced.
  function morph(parent, kids) {
    const old = parent.childNodes;
    const same =
      old.length === kids.length &&
      kids.every((k, i) => k.nodeType === old[i].nodeType && k.nodeName === old[i].nodeName);
    if (!same) {
      parent.replaceChildren(...kids);
      return;
    }
    kids.forEach((k, i) => {
      const o = old[i];
      if (k.nodeType !== Node.ELEMENT_NODE) {
        if (o.nodeValue !== k.nodeValue) o.nodeValue = k.nodeValue;
        return;
      }
      for (const a of Array.from(o.attributes)) if (!k.hasAttribute(a.name)) o.removeAttribute(a.name);
      for (const a of Array.from(k.attributes)) if (o.getAttribute(a.name) !== a.value) o.setAttribute(a.name, a.value);
      morph(o, Array.from(k.childNodes));
    });
  }

  const seconds = (ms) => "t+" + (ms / 1000).toFixed(1) + " s";
  const num = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US"));
  const list = (ids) => (ids.length ? ids.join(",") : "none");
  const internal = (name) => name.startsWith("__");

  // ---- brokers -----------------------------------------------------------------------

  function drawBrokers(d) {
    if (!d.brokers.length) return el("p", { cls: "muted" }, "no brokers");
    return d.brokers.map((b) => {
      const f = d.figures[String(b.id)];
      const behind =
        b.metadata_offset !== null && b.metadata_offset !== undefined
          ? d.metadataOffset - b.metadata_offset
          : null;
      return el(
        "div",
        {
          cls: "broker",
          "data-broker": b.id,
          "data-state": b.state,
          "data-fenced": b.fenced ? "true" : "false",
          "data-controller": d.controller === b.id ? "true" : "false",
        },
        el(
          "div",
          { cls: "broker-head" },
          el("span", { cls: "broker-id" }, "broker " + b.id),
          el("span", { cls: "state state-" + b.state }, b.state),
          b.fenced ? el("span", { cls: "tag fenced" }, "fenced") : null,
          d.controller === b.id ? el("span", { cls: "tag controller" }, "controller") : null
        ),
        el("div", { cls: "muted small" }, b.addr),
        f
          ? el(
              "div",
              { cls: "small" },
              "leads " + f.LeaderCount + " · holds " + f.PartitionCount,
              f.UnderReplicatedPartitions > 0
                ? el("span", { cls: "warn" }, " · " + f.UnderReplicatedPartitions + " URP")
                : null
            )
          : el("div", { cls: "small muted" }, "reports nothing"),
        behind !== null && behind > 0
          ? el("div", { cls: "small warn" }, "metadata " + behind + " behind")
          : null
      );
    });
  }

  // ---- metrics -----------------------------------------------------------------------

  // [key, label, is the value alarming, which way is worse: 1 up, -1 down, 0 neither]
  const METRICS = [
    ["UnderReplicatedPartitions", "under-replicated partitions", (v) => v > 0, 1],
    ["OfflinePartitionsCount", "offline partitions", (v) => v > 0, 1],
    ["ActiveControllerCount", "active controllers", (v) => v !== 1, -1],
    ["LeaderElections", "leader elections", () => false, 0],
    ["UncleanLeaderElections", "unclean elections", (v) => v > 0, 1],
    ["IsrShrinks", "ISR shrinks", () => false, 0],
    ["IsrExpands", "ISR expands", () => false, 0],
    ["MessagesIn", "messages in", () => false, 0],
    ["FailedProduceRequests", "failed produce requests", (v) => v > 0, 1],
    ["PartitionCount", "replicas hosted", () => false, 0],
    ["LeaderCount", "leaders", () => false, 0],
    ["ConsumerLag", "consumer lag (sum)", () => false, 1],
  ];

  function totalLag(figures) {
    return (figures.lag || []).reduce((s, l) => s + l.lag, 0);
  }

  function drawMetrics(d) {
    const now = Object.assign({}, d.metrics, { ConsumerLag: totalLag(d.metrics) });
    const before = d.baseline
      ? Object.assign({}, d.baseline.figures, { ConsumerLag: totalLag(d.baseline.figures) })
      : null;
    return METRICS.map(([key, label, bad, worse]) => {
      const v = now[key];
      const known = v !== null && v !== undefined;
      let delta = null;
      if (before && known && before[key] !== null && before[key] !== undefined) {
        const c = v - before[key];
        const mood = c === 0 ? "same" : worse === 0 ? "moved" : Math.sign(c) === worse ? "worse" : "better";
        delta = el(
          "span",
          { cls: "delta " + mood, title: "change since the last fault" },
          c > 0 ? "+" + num(c) : c < 0 ? "−" + num(-c) : "±0"
        );
      }
      return el(
        "div",
        {
          cls: "metric" + (known && bad(v) ? " bad" : ""),
          "data-metric": key,
          "data-value": known ? v : "",
          title: key,
        },
        el("div", { cls: "metric-value" }, known ? num(v) : "—", delta),
        el("div", { cls: "metric-label" }, label)
      );
    });
  }

  // ---- topics ------------------------------------------------------------------------

  function offsetsSvg(p, scale) {
    const W = 240;
    const bar = 4;
    const gap = 1;
    const rows = p.replicas.length;
    const H = Math.max(rows * (bar + gap) - gap, bar);
    const x = (o) => Math.max(0, Math.min(W, (o / scale) * W));
    const byBroker = new Map(p.offsets.map((o) => [o.broker, o]));
    const kids = [svg("rect", { x: 0, y: 0, width: W, height: H, cls: "track" })];
    p.replicas.forEach((r, i) => {
      const o = byBroker.get(r);
      const y = i * (bar + gap);
      if (!o) return;
      const cls = p.offline.includes(r)
        ? "leo gone"
        : p.leader === r
          ? "leo leader"
          : p.isr.includes(r)
            ? "leo"
            : "leo lagging";
      kids.push(
        svg(
          "rect",
          { x: 0, y: y, width: Math.max(x(o.log_end_offset), o.log_end_offset > 0 ? 1 : 0), height: bar, cls: cls },
          svg("title", null, "broker " + r + ": log end " + o.log_end_offset + ", high watermark " + o.high_watermark)
        )
      );
    });
    const lead = p.leader !== null ? byBroker.get(p.leader) : null;
    if (lead) {
      const hx = Math.min(W - 1, x(lead.high_watermark));
      kids.push(svg("rect", { x: hx, y: 0, width: 2, height: H, cls: "hw" }));
    }
    return svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, cls: "offsets", role: "img" }, kids);
  }

  function offsetsText(p) {
    if (!p.offsets.length) return el("span", { cls: "muted" }, "not visible");
    const byBroker = new Map(p.offsets.map((o) => [o.broker, o]));
    const lead = p.leader !== null ? byBroker.get(p.leader) : null;
    const hw = lead ? lead.high_watermark : Math.max(...p.offsets.map((o) => o.high_watermark));
    return [
      el("span", { cls: "hwtext", title: "high watermark" }, "HW " + num(hw)),
      " ",
      el(
        "span",
        { cls: "leotext", title: "log end offset per replica, in replica order" },
        "LEO " + p.replicas.map((r) => (byBroker.has(r) ? num(byBroker.get(r).log_end_offset) : "?")).join(" / ")
      ),
    ];
  }

  function replicaChips(p) {
    return p.replicas.map((r) => {
      let cls = "chip";
      let why;
      if (p.offline.includes(r)) {
        cls += " offline";
        why = "broker " + r + " is out of the cluster";
      } else if (p.leader === r) {
        cls += " leader";
        why = "broker " + r + " leads";
      } else if (p.isr.includes(r)) {
        cls += " insync";
        why = "broker " + r + " follows, in sync";
      } else {
        cls += " outofsync";
        why = "broker " + r + " follows, out of sync";
      }
      if (p.leader === r && p.offline.includes(r)) cls += " leader";
      return el("span", { cls: cls, title: why }, r);
    });
  }

  function partitionRow(t, p, scale) {
    const offline = p.leader === null;
    const urp = p.isr.length < p.replicas.length;
    return el(
      "tr",
      {
        cls: offline ? "offline" : urp ? "urp" : null,
        "data-topic": t.name,
        "data-partition": p.partition,
        "data-leader": p.leader === null ? -1 : p.leader,
        "data-isr": p.isr.join(","),
        "data-replicas": p.replicas.join(","),
        "data-offline": offline ? "true" : "false",
        "data-urp": urp ? "true" : "false",
      },
      el("td", { cls: "num" }, p.partition),
      el("td", { cls: "num leader-cell" }, offline ? el("span", { cls: "bad-text" }, "none") : p.leader),
      el("td", null, replicaChips(p)),
      el("td", null, list(p.isr)),
      el("td", { cls: "num" }, p.leader_epoch === null ? "—" : p.leader_epoch),
      el("td", null, p.offsets.length ? offsetsSvg(p, scale) : null),
      el("td", { cls: "small" }, offsetsText(p)),
      el(
        "td",
        null,
        offline ? el("span", { cls: "tag bad" }, "offline") : null,
        urp && !offline ? el("span", { cls: "tag warn" }, "under-replicated") : null
      )
    );
  }

  function topicTable(t) {
    let scale = 1;
    for (const p of t.partitions) for (const o of p.offsets) scale = Math.max(scale, o.log_end_offset);
    const offline = t.partitions.filter((p) => p.leader === null).length;
    const urp = t.partitions.filter((p) => p.isr.length < p.replicas.length).length;
    const rf = t.partitions.length ? t.partitions[0].replicas.length : 0;
    const facts = [t.partitions.length + " partitions", "RF " + rf];
    if (t.min_insync_replicas !== null) facts.push("min.insync.replicas " + t.min_insync_replicas);
    if (t.unclean_leader_election) facts.push("unclean election on");
    return el(
      "div",
      { cls: "topic", "data-topic-name": t.name },
      el(
        "h3",
        null,
        t.name,
        " ",
        el("span", { cls: "muted" }, facts.join(" · ")),
        offline ? el("span", { cls: "tag bad" }, offline + " offline") : null,
        urp ? el("span", { cls: "tag warn" }, urp + " under-replicated") : null
      ),
      el(
        "table",
        { cls: "partitions" },
        el(
          "thead",
          null,
          el(
            "tr",
            null,
            el("th", null, "P"),
            el("th", null, "leader"),
            el("th", null, "replicas"),
            el("th", null, "ISR"),
            el("th", { title: "leader epoch" }, "epoch"),
            el("th", { title: "bars: each replica's log end offset; line: high watermark" }, "log (0 – " + num(scale) + ")"),
            el("th", null, "offsets"),
            el("th", null, "")
          )
        ),
        el("tbody", null, t.partitions.map((p) => partitionRow(t, p, scale)))
      )
    );
  }

  const openInternal = new Set();
  function drawTopics(topics) {
    if (!topics.length) return el("p", { cls: "muted" }, "no topics yet");
    const out = [];
    for (const t of topics.filter((t) => !internal(t.name))) out.push(topicTable(t));
    for (const t of topics.filter((t) => internal(t.name))) {
      const offline = t.partitions.filter((p) => p.leader === null).length;
      const urp = t.partitions.filter((p) => p.isr.length < p.replicas.length).length;
      const details = el(
        "details",
        { cls: "internal", open: openInternal.has(t.name) ? "" : null },
        el(
          "summary",
          null,
          t.name + " (internal): " + t.partitions.length + " partitions, " + offline + " offline, " + urp + " under-replicated"
        ),
        topicTable(t)
      );
      details.addEventListener("toggle", () => {
        if (details.open) openInternal.add(t.name);
        else openInternal.delete(t.name);
      });
      out.push(details);
    }
    return out;
  }

  // ---- groups ------------------------------------------------------------------------

  function memberName(m) {
    return m.client_id || m.member_id;
  }

  function assignmentKey(parts) {
    return parts
      .slice()
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
      .map((o) => o.topic + ":" + o.partition)
      .join(",");
  }

  // "topic [0][1][2]" per topic a member owns.
  function ownedByTopic(parts) {
    const topics = new Map();
    for (const o of parts) {
      if (!topics.has(o.topic)) topics.set(o.topic, []);
      topics.get(o.topic).push(o.partition);
    }
    return [...topics.keys()].sort().map((t) =>
      el(
        "span",
        { cls: "owned" },
        el("span", { cls: "owned-topic" }, t),
        topics
          .get(t)
          .sort((a, b) => a - b)
          .map((p) => el("span", { cls: "chip part", title: t + ":" + p }, p))
      )
    );
  }

  function drawGroup(g) {
    let maxLag = 1;
    for (const o of g.offsets) if (o.lag !== null) maxLag = Math.max(maxLag, o.lag);
    const members = el(
      "table",
      { cls: "members" },
      el("thead", null, el("tr", null, el("th", null, "member"), el("th", null, "host"), el("th", null, "partitions"))),
      el(
        "tbody",
        null,
        g.members.length
          ? g.members.map((m) =>
              el(
                "tr",
                { "data-member": memberName(m), "data-member-id": m.member_id, "data-assignment": assignmentKey(m.partitions) },
                el("td", { title: m.member_id }, memberName(m)),
                el("td", { cls: "muted" }, m.host),
                el(
                  "td",
                  null,
                  m.partitions.length ? ownedByTopic(m.partitions) : el("span", { cls: "muted" }, "nothing")
                )
              )
            )
          : el("tr", null, el("td", { colspan: 3, cls: "muted" }, "no members"))
      )
    );
    const offsets = el(
      "table",
      { cls: "group-offsets" },
      el(
        "thead",
        null,
        el("tr", null, el("th", null, "partition"), el("th", null, "committed"), el("th", null, "end"), el("th", null, "lag"), el("th", null, ""))
      ),
      el(
        "tbody",
        null,
        g.offsets.length
          ? g.offsets.map((o) =>
              el(
                "tr",
                { "data-group-partition": o.topic + ":" + o.partition, "data-lag": o.lag === null ? "" : o.lag },
                el("td", null, o.topic + ":" + o.partition),
                el("td", { cls: "num" }, num(o.committed)),
                el("td", { cls: "num" }, num(o.end)),
                el("td", { cls: "num" + (o.lag > 0 ? " warn" : "") }, num(o.lag)),
                el(
                  "td",
                  null,
                  svg(
                    "svg",
                    { width: 80, height: 6, cls: "lagbar" },
                    svg("rect", { x: 0, y: 0, width: 80, height: 6, cls: "track" }),
                    o.lag > 0 ? svg("rect", { x: 0, y: 0, width: Math.max(1, (o.lag / maxLag) * 80), height: 6, cls: "lag" }) : null
                  )
                )
              )
            )
          : el("tr", null, el("td", { colspan: 5, cls: "muted" }, "no committed offsets"))
      )
    );
    return el(
      "div",
      { cls: "group", "data-group": g.name, "data-group-state": g.state },
      el(
        "h3",
        null,
        g.name,
        " ",
        el("span", { cls: "state group-state-" + g.state }, g.state),
        " ",
        el(
          "span",
          { cls: "muted" },
          "generation " + (g.generation === null ? "—" : g.generation) + (g.protocol ? " · " + g.protocol : "") + " · " + g.members.length + " members"
        )
      ),
      el("div", { cls: "group-body" }, members, offsets)
    );
  }

  function drawGroups(groups) {
    if (groups.as_of_ms === null) return el("p", { cls: "muted" }, "asking the coordinators…");
    if (!groups.groups.length) return el("p", { cls: "muted" }, "no consumer groups");
    return groups.groups.map(drawGroup);
  }

  // ---- clients -----------------------------------------------------------------------

  function values(vs) {
    return vs.length ? vs.map((v) => el("span", { cls: "value" }, v)) : el("span", { cls: "muted" }, "none yet");
  }

  function drawClients(c) {
    const out = [];
    out.push(
      el(
        "table",
        { cls: "clients" },
        el(
          "thead",
          null,
          el("tr", null, ["producer", "acks", "sent", "acked", "failed", "last values", "last error"].map((h) => el("th", null, h)))
        ),
        el(
          "tbody",
          null,
          c.producers.length
            ? c.producers.map((p) =>
                el(
                  "tr",
                  { "data-producer": p.name },
                  el("td", null, p.name),
                  el("td", null, p.acks),
                  el("td", { cls: "num" }, num(p.sent)),
                  el("td", { cls: "num" }, num(p.acknowledged)),
                  el("td", { cls: "num" + (p.failed ? " warn" : "") }, num(p.failed)),
                  el("td", null, values(p.last_values)),
                  el("td", { cls: "warn" }, p.last_error || "")
                )
              )
            : el("tr", null, el("td", { colspan: 7, cls: "muted" }, "no producers"))
        )
      )
    );
    out.push(
      el(
        "table",
        { cls: "clients" },
        el(
          "thead",
          null,
          el("tr", null, ["consumer", "group", "topic", "state", "partitions", "received", "last values"].map((h) => el("th", null, h)))
        ),
        el(
          "tbody",
          null,
          c.consumers.length
            ? c.consumers.map((k) =>
                el(
                  "tr",
                  { "data-consumer": k.name, "data-consumer-state": k.state },
                  el("td", null, k.name),
                  el("td", null, k.group || "—"),
                  el("td", null, k.topic),
                  el("td", { cls: k.state === "running" ? "" : "warn" }, k.state),
                  el("td", null, k.assignment.length ? k.assignment.join(",") : "none"),
                  el("td", { cls: "num" }, num(k.received)),
                  el("td", null, values(k.last_values))
                )
              )
            : el("tr", null, el("td", { colspan: 7, cls: "muted" }, "no consumers"))
        )
      )
    );
    return out;
  }

  // ---- the whole state ---------------------------------------------------------------

  let lastNowMs = -1;

  function draw(s) {
    if (s.now_ms + 5000 < lastNowMs) resetTimeline(); // a new session behind the same address
    lastNowMs = s.now_ms;
    setText("session", s.backend + " backend · " + s.cluster.brokers.length + " brokers" + (s.lesson ? " · lesson: " + s.lesson : ""));
    setText("clock", seconds(s.now_ms));
    redraw("unseen", s.unseen, (u) => u.map((line) => el("li", null, line)));
    byId("unseen").hidden = s.unseen.length === 0;
    // Only what the cards draw, so the brokers' request counters do not redraw them.
    const perBroker = {};
    for (const [id, f] of Object.entries(s.metrics.brokers || {})) {
      perBroker[id] = {
        LeaderCount: f.LeaderCount,
        PartitionCount: f.PartitionCount,
        UnderReplicatedPartitions: f.UnderReplicatedPartitions,
      };
    }
    redraw(
      "brokers",
      {
        brokers: s.cluster.brokers.map((b) => ({
          id: b.id,
          addr: b.addr,
          state: b.state,
          fenced: b.fenced,
          metadata_offset: b.metadata_offset,
        })),
        controller: s.cluster.controller,
        metadataOffset: s.cluster.metadata_offset,
        figures: perBroker,
      },
      drawBrokers
    );
    // Per-broker figures are drawn with the brokers; the tiles show the cluster's totals.
    const { brokers: _perBroker, ...totals } = s.metrics;
    const base = s.baseline ? { ...s.baseline, figures: { ...s.baseline.figures, brokers: null } } : null;
    redraw("metrics", { metrics: totals, baseline: base }, drawMetrics);
    setText("baseline", s.baseline
      ? "change since " + s.baseline.fault + " at " + seconds(s.baseline.at_ms)
      : "no fault injected yet");
    redraw("topics", s.cluster.topics, drawTopics);
    redraw("groups", s.groups, drawGroups);
    setText("groups-note", (s.groups.as_of_ms !== null ? "as of " + seconds(s.groups.as_of_ms) : "") + (s.groups.note ? " · " + s.groups.note : ""));
    redraw("clients", s.clients, drawClients);
    document.body.dataset.ready = "true";
  }

  // ---- following the state ---------------------------------------------------------

  function connected(ok) {
    const banner = byId("banner");
    if (banner.hidden !== ok) banner.hidden = ok;
    const flag = ok ? "true" : "false";
    if (document.body.dataset.connected !== flag) document.body.dataset.connected = flag;
  }

  // A stream, not polling: the browser makes no request per update, which is most of what an
  // open page would otherwise cost. The browser reconnects by itself (the server asks for
  // 1 s); the banner shows while it is cut off.
  function stream() {
    const source = new EventSource("/api/state/stream");
    source.addEventListener("state", (m) => {
      let state;
      try {
        state = JSON.parse(m.data);
      } catch (e) {
        return;
      }
      connected(true);
      try {
        draw(state);
      } catch (e) {
        // A drawing bug must not stop the updates, and must not go unnoticed either.
        setTimeout(() => {
          throw e;
        });
      }
    });
    source.onerror = () => {
      connected(false);
      // Refused for good (not an event stream): start again.
      if (source.readyState === EventSource.CLOSED) setTimeout(stream, 1000);
    };
  }

  // ---- timeline ----------------------------------------------------------------------

  const KIND_LABELS = {
    ready: "ready",
    fault: "fault",
    fault_failed: "refused",
    broker_fenced: "fenced",
    broker_unfenced: "unfenced",
    topic_created: "topic",
    topic_deleted: "topic",
    leader_elected: "leader",
    isr_changed: "ISR",
    internal: "internal",
    consumer_started: "consumer",
    assigned: "assigned",
    revoked: "revoked",
    consumer_ended: "consumer",
    consumer_error: "error",
    produce_failed: "produce",
    lesson_started: "lesson",
    step: "step",
    answered: "answer",
    lesson_ended: "lesson",
    lagged: "missed",
  };

  let lastSeq = 0;
  let total = 0;
  let pending = [];
  let flushing = null;

  function resetTimeline() {
    lastSeq = 0;
    total = 0;
    pending = [];
    byId("events").replaceChildren();
  }

  function eventRow(e) {
    let cls = "event kind-" + e.kind;
    if (e.kind === "leader_elected" && e.to === null) cls += " bad";
    if (e.unclean) cls += " bad";
    if (e.kind === "answered") cls += e.correct ? " good" : " bad";
    return el(
      "li",
      { cls: cls, "data-seq": e.seq === undefined ? null : e.seq, "data-kind": e.kind },
      el("span", { cls: "at" }, seconds(e.at_ms)),
      el("span", { cls: "kind" }, KIND_LABELS[e.kind] || e.kind),
      el("span", { cls: "text" }, e.text)
    );
  }

  function flush() {
    flushing = null;
    const list = byId("events");
    const batch = pending.slice(-MAX_ROWS);
    pending = [];
    const fragment = document.createDocumentFragment();
    for (let i = batch.length - 1; i >= 0; i--) fragment.append(eventRow(batch[i]));
    list.prepend(fragment);
    while (list.childElementCount > MAX_ROWS) list.lastElementChild.remove();
    setText("timeline-note", total > MAX_ROWS ? "newest first · last " + MAX_ROWS + " of " + num(total) : "newest first");
  }

  function queue(e) {
    total += 1;
    pending.push(e);
    if (pending.length > MAX_ROWS * 2) pending = pending.slice(-MAX_ROWS);
    if (!flushing) flushing = setTimeout(flush, 40);
  }

  let source = null;

  function follow() {
    source = new EventSource("/api/events");
    source.onmessage = (m) => {
      let e;
      try {
        e = JSON.parse(m.data);
      } catch (err) {
        return;
      }
      // A reconnect replays the session from the start: keep what is already shown.
      if (typeof e.seq === "number") {
        if (e.seq <= lastSeq) return;
        lastSeq = e.seq;
      }
      queue(e);
    };
    source.addEventListener("lagged", (m) => {
      const missed = Number(m.data) || 0;
      queue({ kind: "lagged", at_ms: lastNowMs < 0 ? 0 : lastNowMs, text: missed + " events missed: this page fell behind" });
    });
    source.onerror = () => {
      // The browser reconnects by itself unless the server refused; then start again.
      if (source.readyState === EventSource.CLOSED) {
        source = null;
        setTimeout(follow, 1000);
      }
    };
  }

  stream();
  follow();
})();
