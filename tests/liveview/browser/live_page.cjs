// Drives Debian's chromium (headless) with playwright-core against a live-view server:
// loads the page, counts the hosts drawn, then moves devices (POST /test/move of the test
// server) and waits for each handover to be drawn, measuring how long after it happened.
// Environment: LIVE_URL (the server's root), PLAYWRIGHT_CORE (the module's directory),
// CHROMIUM (the browser), MOVES (JSON list of {device, ap}), USER_DATA_DIR (fresh, empty),
// SCREENSHOT (optional: a PNG of the page at the end).
// Prints one line `RESULT <json>`; exits non-zero on any failure.
"use strict";

const { chromium } = require(process.env.PLAYWRIGHT_CORE);

const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

async function main() {
  const base = process.env.LIVE_URL;
  const moves = JSON.parse(process.env.MOVES || "[]");
  const context = await chromium.launchPersistentContext(process.env.USER_DATA_DIR, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
  });
  const result = { hosts: [], moves: [], errors: [] };
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.on("pageerror", (error) => result.errors.push(String(error)));
    page.on("console", (m) => { if (m.type() === "error") result.errors.push(m.text()); });
    const loadStarted = Date.now();
    await page.goto(`${base}/live/`);
    await page.waitForSelector('#status[data-status="live"]', { timeout: 10000 });
    await page.waitForSelector("g.host", { timeout: 10000 });
    result.load_ms = Date.now() - loadStarted;
    result.hosts = await page.$$eval("g.host", (gs) => gs.map((g) => g.dataset.host).sort());
    result.instances = await page.$$eval("rect.instance", (rs) => rs.length);
    result.devices = await page.$$eval("circle.device", (cs) => cs.length);

    const counters = {
      completed: 'tr[data-app="city/ar"] td[data-counter="handovers"]',
      failed: 'tr[data-app="city/ar"] td[data-counter="failures"]',
    };
    for (const move of moves) {
      if (move.drop) {  // end the page's stream; the move after this one is made while it is away
        await fetch(`${base}/test/drop-streams`, { method: "POST" });
        await page.waitForSelector('#status[data-status="reconnecting"]', { timeout: 10000 });
        result.moves.push({ drop: true });
        continue;
      }
      const state = move.fail ? "failed" : "completed";
      const counter = counters[state];
      const before = Number(await page.textContent(counter));
      const posted = Date.now();
      const answer = await fetch(
        `${base}/test/move?device=${encodeURIComponent(move.device)}&ap=${move.ap}` +
        (move.fail ? "&fail=true" : ""), { method: "POST" });
      const body = await answer.json();
      const answered = Date.now();
      const outcome = body.moves.map((m) => m.outcome);
      if (!outcome.includes(move.fail ? "failed" : "moved")) {  // nothing to wait for
        result.moves.push({ ...move, outcome });
        continue;
      }
      await page.waitForFunction(
        ([selector, n]) => Number(document.querySelector(selector).textContent) > n,
        [counter, before], { timeout: 10000, polling: "raf" });
      const drawn = Date.now();
      const shown = await page.evaluate((state) => {
        const done = [...window.liveView.tables.handovers.values()]
          .filter((m) => m.state === state)
          .sort((a, b) => b.ended_s - a.ended_s)[0];
        const arrow = document.querySelector(`g.handover[data-handover-id="${done.id}"]`);
        return {
          id: done.id, source: done.source, target: done.target,
          interruption_ms: done.interruption_ms,
          received_after_end_ms: window.liveView.received[`${done.id}:${state}`] - done.ended_s * 1000,
          arrow_state: arrow ? arrow.dataset.state : null,
          arrow_label: arrow ? arrow.querySelector("text").textContent : null,
          listed: !!document.querySelector(`li[data-handover-id="${done.id}"][data-state="${state}"]`),
        };
      }, state);
      result.moves.push({
        ...move, ...shown, outcome,
        post_ms: answered - posted, drawn_after_answer_ms: drawn - answered,
      });
    }
    result.snapshots = await page.evaluate(() => window.liveView.snapshots);
    result.batches = await page.evaluate(() => window.liveView.batches);
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
  } finally {
    await context.close();
  }
  console.log(`RESULT ${JSON.stringify(result)}`);
}

main().catch((error) => { console.error(error); process.exit(1); });
