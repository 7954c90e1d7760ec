// The feed chart: the last batches at load, then every new batch pushed by the server as it is
// anchored and verified. Points are coloured verified / suspect / unverified; a click opens the proof.
(function () {
  "use strict";
  const el = document.getElementById("chart");
  const MAX_POINTS = 2000;
  const MARK_COLOURS = { verified: "#1a7f37", suspect: "#bf8700", unverified: "#cf222e" };
  const points = []; // {t (s), v, mark, seq, index, flags}
  let received = 0;

  function add(batch) {
    for (const p of batch.points) points.push({ t: p.t / 1000, v: p.v, mark: p.mark, seq: batch.seq, index: p.index, flags: p.flags });
    points.sort((a, b) => a.t - b.t);
    if (points.length > MAX_POINTS) points.splice(0, points.length - MAX_POINTS);
  }
  function series(mark) { return points.map((p) => (p.mark === mark ? p.v : null)); }
  function data() { return [points.map((p) => p.t), points.map((p) => p.v), series("verified"), series("suspect"), series("unverified")]; }

  JSON.parse(document.getElementById("initial-batches").textContent).forEach(add);
  const dot = (colour) => ({ stroke: colour, fill: colour, width: 0, points: { show: true, size: 6, fill: colour }, paths: () => null });
  const opts = {
    width: Math.min(el.clientWidth || 800, 1100), height: 300,
    cursor: { points: { size: 8 } },
    series: [{}, { label: "value", stroke: "#8c959f", width: 1, points: { show: false } },
      Object.assign({ label: "verified" }, dot(MARK_COLOURS.verified)),
      Object.assign({ label: "suspect" }, dot(MARK_COLOURS.suspect)),
      Object.assign({ label: "unverified" }, dot(MARK_COLOURS.unverified))],
    hooks: { ready: [(u) => u.over.addEventListener("click", () => openProof(u.cursor.idx))] },
  };
  const plot = new uPlot(opts, data(), el);
  window.twinledgerChart = { plot, points, received: () => received };
  new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height: 300 })).observe(el);

  function openProof(idx) {
    if (idx === null || idx === undefined || !points[idx]) return;
    const p = points[idx];
    htmx.ajax("GET", `/twins/${el.dataset.twin}/feeds/${el.dataset.feed}/proof?seq=${p.seq}&index=${p.index}`, "#proof");
  }
  window.twinledgerOpenProof = openProof;

  document.addEventListener("feed-readings", (e) => {
    const batch = e.detail;
    if (String(batch.feed) !== el.dataset.feed) return;
    add(batch);
    received += batch.points.length;
    document.getElementById("live-readings").textContent = received;
    document.getElementById("latest-seq").textContent = batch.seq;
    plot.setData(data());
  });
})();
