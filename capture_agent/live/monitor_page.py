"""The live feed's monitor page: a price chart of the current game and the capture's rates (no external assets).

Kept as a Python constant so it ships with the package whatever the packaging data rules are.
"""

MONITOR_HTML = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vectra live</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>
 body{font:14px system-ui,sans-serif;margin:1.2em;background:#111;color:#ddd}
 h1{font-size:1.1em;margin:0 0 .6em} .ok{color:#6c6} .bad{color:#f55;font-weight:bold}
 table{border-collapse:collapse;margin:.6em 0} td{padding:.15em .8em .15em 0} td:first-child{color:#999}
 canvas{background:#181818;border:1px solid #333;width:100%;max-width:900px;height:320px}
 #log{font:12px monospace;white-space:pre;max-height:12em;overflow:auto;color:#aaa}
</style></head><body>
<h1>Vectra live capture <span id="link" class="bad">feed: connecting</span></h1>
<table>
 <tr><td>source</td><td id="source">-</td><td>connected</td><td id="connected">-</td></tr>
 <tr><td>frames in / out</td><td id="frames">-</td><td>rate in / out (per s)</td><td id="rates">-</td></tr>
 <tr><td>game</td><td id="game">-</td><td>phase</td><td id="phase">-</td></tr>
 <tr><td>tick</td><td id="tick">-</td><td>price</td><td id="price">-</td></tr>
 <tr><td>segments / bytes landed</td><td id="landed">-</td><td>WAL lag / drops</td><td id="wal">-</td></tr>
</table>
<canvas id="chart" width="900" height="320"></canvas>
<div id="log"></div>
<script>
"use strict";
const $ = id => document.getElementById(id);
let gameId = null, points = [];
function draw() {
  const c = $("chart"), g = c.getContext("2d"), w = c.width, h = c.height;
  g.clearRect(0, 0, w, h);
  if (points.length < 1) return;
  const maxTick = Math.max(10, points[points.length - 1][0]);
  const maxPrice = Math.max(2, ...points.map(p => p[1])) * 1.05;
  const x = t => 40 + (w - 50) * t / maxTick, y = p => h - 20 - (h - 30) * p / maxPrice;
  g.strokeStyle = "#333"; g.fillStyle = "#777"; g.font = "11px monospace";
  for (let m = 1; m < maxPrice; m *= 2) { g.beginPath(); g.moveTo(40, y(m)); g.lineTo(w, y(m)); g.stroke(); g.fillText(m + "x", 2, y(m) + 4); }
  g.strokeStyle = "#4c4"; g.lineWidth = 2; g.beginPath();
  points.forEach(([t, p], i) => i ? g.lineTo(x(t), y(p)) : g.moveTo(x(t), y(p)));
  g.stroke();
}
function log(line) { const el = $("log"); el.textContent = (line + "\\n" + el.textContent).slice(0, 6000); }
function onEvent(ev) {
  if (ev.type === "game.tick") {
    const d = ev.data;
    if (ev.game_id && ev.game_id !== gameId) { gameId = ev.game_id; points = []; }
    if (typeof d.price === "number" && typeof d.tickCount === "number" && d.phase === "active") {
      points = points.filter(p => p[0] < d.tickCount); points.push([d.tickCount, d.price]); draw();
    }
    $("game").textContent = gameId || "-"; $("phase").textContent = d.phase;
    $("tick").textContent = d.tickCount ?? (d.cooldownTimer != null ? "cooldown " + d.cooldownTimer + " ms" : "-");
    $("price").textContent = typeof d.price === "number" ? d.price.toFixed(4) + "x" : "-";
  } else if (ev.type === "feed.notice") {
    log("NOTICE " + ev.data.reason);
  } else if (!ev.type.startsWith("raw.")) {
    log(ev.type + " seq " + ev.seq + " " + JSON.stringify(ev.data).slice(0, 160));
  }
}
function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/feed");
  ws.onopen = () => { $("link").textContent = "feed: live"; $("link").className = "ok"; };
  ws.onmessage = m => onEvent(JSON.parse(m.data));
  ws.onclose = e => { $("link").textContent = "feed: closed (" + e.code + " " + e.reason + "), retrying"; $("link").className = "bad"; setTimeout(connect, 2000); };
}
async function health() {
  try {
    const h = await (await fetch("/health")).json();
    $("source").textContent = h.source;
    $("connected").textContent = h.connected ? "yes" : "no"; $("connected").className = h.connected ? "ok" : "bad";
    $("frames").textContent = h.frames_in + " / " + h.frames_out;
    $("rates").textContent = h.rate_in.toFixed(1) + " / " + h.rate_out.toFixed(1);
    $("landed").textContent = h.segments_published + " / " + h.bytes_published;
    $("wal").textContent = (h.wal_lag_s == null ? "-" : h.wal_lag_s.toFixed(2) + " s") + " / " + h.drops;
    $("wal").className = h.drops ? "bad" : "";
  } catch (e) { $("connected").textContent = "agent unreachable"; $("connected").className = "bad"; }
}
connect(); health(); setInterval(health, 1000);
</script></body></html>
"""
