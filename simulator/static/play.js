// Play page of the Vectra simulator: the real socket.io-client (served at /socket.io.min.js) speaking the
// rugs.fun events — buyOrder / requestSidebet with a W3C trace argument first, sellOrder {percentage} as the
// docs show it, and the simulator's shortOrder / closeShort (real names unknown).
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const SOL_COIN = "So11111111111111111111111111111111111111112";
  const state = { gameId: null, prices: [1], tick: 0, rugged: false, active: false, playerId: null };

  const hex = (bytes) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
  const trace = () => ({ __trace: true, traceparent: `00-${hex(16)}-${hex(8)}-01` });
  const sol = (x) => (typeof x === "number" ? x.toFixed(4) : "–");

  // One practice account per browser: reconnecting (or reloading) finds the same cash and position.
  const account = localStorage.getItem("vectra-sim-account") || `player-${hex(3)}`;
  localStorage.setItem("vectra-sim-account", account);
  const socket = io({ transports: ["websocket", "polling"], query: { "frontend-version": "1.0" }, auth: { account } });
  window.vectraSocket = socket; // for debugging from the console

  socket.on("connect", () => {
    $("connection").textContent = "connected";
    $("connection").className = "badge on";
    socket.emit("authenticate", trace(), {}, () => {});
  });
  socket.on("disconnect", (reason) => {
    $("connection").textContent = `disconnected (${reason})`;
    $("connection").className = "badge off";
  });

  socket.on("gameStateUpdate", (frame) => {
    if (frame.gameId !== state.gameId) {
      state.gameId = frame.gameId;
      state.prices = [1];
    }
    if (Array.isArray(frame.prices)) state.prices = frame.prices.slice();
    if (frame.partialPrices) {
      for (const [tick, price] of Object.entries(frame.partialPrices.values)) state.prices[Number(tick)] = price;
    }
    if ("active" in frame) {
      state.active = frame.active;
      state.rugged = frame.rugged;
      state.tick = frame.tickCount;
    }
    const phase = frame.rugged ? "RUGGED" : frame.active ? "ACTIVE" : frame.allowPreRoundBuys ? "PRESALE" : "COOLDOWN";
    $("phase").textContent = phase;
    $("phase").className = phase.toLowerCase();
    $("cooldown").textContent = frame.cooldownTimer ? `${(frame.cooldownTimer / 1000).toFixed(1)} s` : "–";
    $("tick").textContent = "active" in frame ? frame.tickCount : "–";
    $("price").textContent = "price" in frame ? `${frame.price.toFixed(4)}×` : "–";
    $("players").textContent = frame.connectedPlayers;
    $("game-id").textContent = frame.gameId;
    $("seed-hash").textContent = frame.provablyFair.serverSeedHash.slice(0, 16) + "…";
    renderLeaderboard(frame.leaderboard);
    if (frame.gameHistory) renderHistory(frame.gameHistory);
    drawChart();
  });

  socket.on("playerUpdate", (player) => {
    state.playerId = player.id;
    $("cash").textContent = `${sol(player.cash)} SOL`;
    $("position").textContent = player.positionQty ? player.positionQty.toFixed(6) : "0";
    $("avg-cost").textContent = player.avgCost ? `${player.avgCost.toFixed(4)}×` : "–";
    if (player.sideBet) {  // without one, keep showing the last result
      $("sidebet-status").textContent = `${player.sideBet.betAmount} SOL, ticks ${player.sideBet.startedAtTick}–${player.sideBet.end}`;
    }
    $("short-status").textContent = player.shortPosition
      ? `${player.shortPosition.amount} SOL @ ${player.shortPosition.entryPrice.toFixed(4)}×` : "none";
  });
  socket.on("gameStatePlayerUpdate", (update) => {
    if (update.leaderboardEntry) $("pnl").textContent = `${sol(update.leaderboardEntry.pnl)} SOL (${update.leaderboardEntry.pnlPercent.toFixed(1)} %)`;
  });
  socket.on("currentSidebet", (_trace, bet) => {
    $("sidebet-status").textContent = `${bet.betAmount} SOL, ticks ${bet.startTick}–${bet.endTick}`;
  });
  socket.on("currentSidebetResult", (_trace, result) => {
    $("sidebet-status").textContent = result.payout > 0 ? `WON ${result.payout} SOL` : `lost ${result.betAmount} SOL`;
  });
  socket.on("standard/newTrade", (_trace, trade) => {
    const item = document.createElement("li");
    item.className = trade.type;
    const who = trade.playerId === state.playerId ? "you" : trade.username;
    item.textContent = `${trade.tickIndex} · ${who} ${trade.type} ${trade.amount} SOL @ ${trade.price.toFixed(4)}×`;
    $("trades").prepend(item);
    while ($("trades").children.length > 12) $("trades").lastChild.remove();
  });

  function renderLeaderboard(board) {
    const rows = (board || []).map((e) =>
      `<tr><td>${e.position}</td><td>${escapeHtml(e.username || "anon")}</td><td>${sol(e.pnl)}</td><td>${(e.positionQty || 0).toFixed(4)}</td></tr>`);
    document.querySelector("#leaderboard tbody").innerHTML = rows.join("");
  }
  function renderHistory(history) {
    $("history").innerHTML = history.map((game) => {
      const peak = game.peakMultiplier;
      const title = `${game.id}: rugged at tick ${(game.prices || []).length - 1}; seed ${game.provablyFair.serverSeed}`;
      return `<li class="${peak >= 2 ? "high" : peak < 1.2 ? "low" : ""}" title="${escapeHtml(title)}">${peak.toFixed(2)}×</li>`;
    }).join("");
  }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  function drawChart() {
    const canvas = $("chart");
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, pad = 34;
    ctx.clearRect(0, 0, w, h);
    const prices = state.prices.filter((p) => typeof p === "number");
    const top = Math.max(2, ...prices) * 1.1;
    const n = Math.max(50, prices.length);
    const x = (i) => pad + (i / (n - 1)) * (w - pad - 8);
    const y = (p) => h - pad - (p / top) * (h - pad - 8);
    ctx.strokeStyle = "#262b38"; ctx.fillStyle = "#596075"; ctx.font = "11px sans-serif";
    for (const level of [0, 1, 2, 5, 10, 20, 50, 100, 500, 1000].filter((l) => l < top)) {
      ctx.beginPath(); ctx.moveTo(pad, y(level)); ctx.lineTo(w - 8, y(level)); ctx.stroke();
      ctx.fillText(`${level.toFixed(2)}×`, 2, y(level) + 4);
    }
    if (prices.length < 1) return;
    ctx.lineWidth = 2;
    ctx.strokeStyle = state.rugged ? "#ff5c5c" : prices[prices.length - 1] >= 1 ? "#5fd38a" : "#e0b050";
    ctx.beginPath();
    prices.forEach((p, i) => (i ? ctx.lineTo(x(i), y(p)) : ctx.moveTo(x(i), y(p))));
    ctx.stroke();
    ctx.lineWidth = 1;
  }

  function showAck(action, err, response) {
    const ok = !err && response && response.success;
    const text = err ? `${action}: no answer (${err.message || err})`
      : ok ? `${action}: ok${response.message ? ` — ${response.message}` : ""}`
      : `${action}: refused — ${response && response.reason}`;
    $("ack").textContent = text;
    $("ack").className = `ack ${ok ? "ok" : "fail"}`;
    const item = document.createElement("li");
    item.textContent = text;
    $("acks").prepend(item);
    while ($("acks").children.length > 8) $("acks").lastChild.remove();
  }
  const amount = () => Number($("amount").value);
  const send = (action, event, ...args) =>
    socket.timeout(5000).emit(event, ...args, (err, response) => showAck(action, err, response));

  $("buy").addEventListener("click", () => send("BUY", "buyOrder", trace(), { amount: amount() }));
  for (const pct of [10, 25, 50, 100]) {
    $(`sell-${pct}`).addEventListener("click", () => send(`SELL ${pct}%`, "sellOrder", { percentage: pct }));
  }
  $("sidebet").addEventListener("click", () =>
    send("SIDEBET", "requestSidebet", trace(), { amount: amount(), coinAddress: SOL_COIN, xPayout: 5 }));
  $("short-open").addEventListener("click", () => send("SHORT", "shortOrder", trace(), { amount: amount() }));
  $("short-close").addEventListener("click", () => send("CLOSE SHORT", "closeShort", trace(), {}));
  drawChart();
})();
