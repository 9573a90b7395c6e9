// The live panel (templates/_live.html): counts and lists the clicks the server-sent events of
// /app/live announce while the page is open. EventSource reconnects by itself after a drop.
const SHOWN = 10; // rows the panel keeps

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function clickRow(click, withLink) {
  const row = document.createElement("tr");
  cell(row, click.at.slice(11, 19));
  if (withLink) {
    const td = cell(row, "");
    if (click.href) {
      const a = document.createElement("a");
      a.href = click.href;
      a.textContent = click.link;
      td.appendChild(a);
    }
  }
  cell(row, click.country || "(unknown)");
  cell(row, click.referrer || "(direct)");
  cell(row, click.bot && click.device !== "bot" ? `${click.device} (bot)` : click.device);
  return row;
}

function watch(panel) {
  const state = panel.querySelector("#live-state");
  const total = panel.querySelector("#live-clicks");
  const bots = panel.querySelector("#live-bots");
  const table = panel.querySelector("#live-recent");
  const rows = table.querySelector("tbody");
  const withLink = !panel.dataset.liveSrc.includes("slug=");
  let clicks = 0, botClicks = 0;
  const source = new EventSource(panel.dataset.liveSrc);
  source.addEventListener("ready", () => {
    state.textContent = "Connected";
    panel.dataset.state = "connected";
  });
  source.addEventListener("clicks", (event) => {
    const update = JSON.parse(event.data);
    clicks += update.clicks;
    botClicks += update.bots;
    total.textContent = clicks;
    panel.querySelector("#live-clicks-label").textContent = clicks === 1 ? "click" : "clicks";
    bots.textContent = botClicks;
    if (update.missed) panel.querySelector("#live-missed").hidden = false;
    for (const click of update.recent) rows.prepend(clickRow(click, withLink));
    while (rows.rows.length > SHOWN) rows.deleteRow(-1);
    if (rows.rows.length) {
      table.hidden = false;
      panel.querySelector("#live-empty").hidden = true;
    }
  });
  source.addEventListener("error", () => {
    // CLOSED: refused (signed out, too many live views open); else reconnecting on its own.
    const closed = source.readyState === EventSource.CLOSED;
    state.textContent = closed ? "Not live right now: reload the page to try again" : "Reconnecting…";
    panel.dataset.state = closed ? "closed" : "reconnecting";
  });
  window.addEventListener("pagehide", () => source.close());
}

for (const panel of document.querySelectorAll("[data-live-src]")) watch(panel);
