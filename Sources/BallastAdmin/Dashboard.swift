/// The dashboard: one page that reads the admin API every second and shows sites, pools,
/// servers and their health, the directory, the current plan and the history. Served at `/`;
/// the token, when one is set, is given once as `/?token=...` and kept in the tab's session.
enum Dashboard {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Ballast</title>
        <style>
          :root { --bg: #0f1720; --panel: #17212c; --line: #263241; --text: #dbe4ee; --muted: #8a9bb0;
                  --up: #3fb97a; --down: #e5534b; --warn: #d9a53a; --fenced: #a371f7; --accent: #4fa3e0; }
          * { box-sizing: border-box; }
          body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--text); }
          header { display: flex; align-items: baseline; gap: 16px; padding: 18px 28px; border-bottom: 1px solid var(--line); }
          header h1 { margin: 0; font-size: 20px; letter-spacing: .5px; }
          header .meta { color: var(--muted); }
          header .live { margin-left: auto; color: var(--muted); }
          header .live b { color: var(--up); }
          main { display: grid; grid-template-columns: 2fr 1fr; gap: 18px; padding: 18px 28px 28px; }
          section { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
          h2 { margin: 0 0 10px; font-size: 13px; text-transform: uppercase; letter-spacing: 1px; color: var(--muted); }
          .sites { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }
          .site { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
          .site.fenced { border-color: var(--fenced); }
          .site .name { font-weight: 600; font-size: 16px; }
          .badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
          .badge.up { background: rgba(63,185,122,.15); color: var(--up); }
          .badge.down { background: rgba(229,83,75,.15); color: var(--down); }
          .badge.warn { background: rgba(217,165,58,.15); color: var(--warn); }
          .badge.fenced { background: rgba(163,113,247,.18); color: var(--fenced); }
          table { width: 100%; border-collapse: collapse; }
          th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
          th { color: var(--muted); font-weight: 500; font-size: 12px; }
          .dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px; }
          .dot.up { background: var(--up); } .dot.down { background: var(--down); } .dot.suspect, .dot.unknown { background: var(--warn); }
          .muted { color: var(--muted); }
          .steps li { margin: 4px 0; } .steps .done { color: var(--up); } .steps .running { color: var(--warn); }
          .steps .skipped { color: var(--muted); } .steps .pending { color: var(--text); }
          .full { grid-column: 1 / -1; }
          #error { color: var(--down); }
          code { color: var(--accent); }
        </style>
        </head>
        <body>
        <header><h1>Ballast</h1><span class="meta" id="meta">connecting…</span><span class="live" id="live"></span></header>
        <main>
          <section class="full"><h2>Sites</h2><div class="sites" id="sites"></div></section>
          <section><h2>Pools and servers</h2><table id="pools"></table></section>
          <section><h2>Directory</h2><div id="directory"></div></section>
          <section><h2>Current plan</h2><div id="plan" class="muted">no plan yet</div></section>
          <section><h2>History</h2><table id="history"></table></section>
          <section class="full" id="error"></section>
        </main>
        <script>
        const params = new URLSearchParams(location.search);
        if (params.get("token")) sessionStorage.setItem("ballastToken", params.get("token"));
        const token = sessionStorage.getItem("ballastToken");
        const headers = token ? { Authorization: "Bearer " + token } : {};
        const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
        async function get(path) {
          const response = await fetch(path, { headers });
          if (response.status === 404) return null;
          if (!response.ok) throw new Error(path + ": " + response.status + " " + (await response.text()));
          return response.json();
        }
        function servingBadge(serving) {
          const kind = serving === "primaries" ? "up" : serving === "fenced" ? "fenced" : serving === "backups" ? "warn" : "down";
          return `<span class="badge ${kind}">${esc(serving)}</span>`;
        }
        function render(status, plan, history) {
          document.getElementById("meta").textContent = `state v${status.version} · directory r${status.directory.revision}`;
          document.getElementById("live").innerHTML = `<b>●</b> live · ${new Date().toLocaleTimeString()}`;
          document.getElementById("sites").innerHTML = status.sites.map(site => {
            const pools = status.pools.filter(p => p.site === site.name);
            const up = pools.filter(p => p.serving === "primaries").length;
            const state = site.fenced ? '<span class="badge fenced">fenced</span>'
              : up === pools.length ? '<span class="badge up">serving</span>' : '<span class="badge down">degraded</span>';
            return `<div class="site ${site.fenced ? "fenced" : ""}" data-site="${esc(site.name)}">
              <div class="name">${esc(site.name)} ${state}</div>
              <div class="muted">${up}/${pools.length} pools serving${site.changedAt ? " · changed " + esc(site.changedAt) : ""}</div></div>`;
          }).join("") || '<span class="muted">no sites in the config</span>';
          document.getElementById("pools").innerHTML = "<tr><th>pool</th><th>site</th><th>serving</th><th>servers</th></tr>" +
            status.pools.map(pool => `<tr data-pool="${esc(pool.name)}"><td>${esc(pool.name)}</td><td>${esc(pool.site ?? "")}</td>
              <td>${servingBadge(pool.serving)}</td><td>${pool.servers.map(s =>
                `<div class="server"><span class="dot ${esc(s.health)}"></span>${esc(s.name)} <span class="muted">${esc(s.address)}${s.port ? ":" + s.port : ""} · ${esc(s.health)}${s.drained ? " · drained" : ""}</span></div>`).join("")}</td></tr>`).join("");
          const d = status.directory;
          document.getElementById("directory").innerHTML = `<p><b>${d.users}</b> users · homes: ${Object.entries(d.homes).map(([k, v]) => esc(k) + " " + v).join(", ") || "none"}</p>
            <table><tr><th>database</th><th>active</th><th>copies</th><th>users</th></tr>${d.databases.map(db =>
              `<tr><td>${esc(db.name)}</td><td><b>${esc(db.active)}</b></td><td class="muted">${db.copies.map(esc).join(", ")}</td><td>${db.users}</td></tr>`).join("")}</table>`;
          document.getElementById("plan").innerHTML = plan ? `<p><b>${esc(plan.id)}</b> <span class="badge ${plan.status === "applied" ? "up" : "warn"}">${esc(plan.status)}</span></p>
            <ol class="steps">${plan.steps.map(s => `<li class="${esc(s.status)}">${esc(s.summary)} <span class="muted">[${esc(s.status)}${s.result ? ": " + esc(s.result) : ""}]</span></li>`).join("")}</ol>`
            : '<span class="muted">no plan yet: <code>ballast plan failover --site SITE</code></span>';
          document.getElementById("history").innerHTML = "<tr><th>when</th><th>who</th><th>what</th><th>subject</th></tr>" +
            (history ?? []).slice(0, 15).map(h => `<tr><td class="muted" title="${esc(h.at)}">${esc(h.at.slice(11, 19))}</td><td>${esc(h.actor)}</td><td>${esc(h.action)}</td><td>${esc(h.subject)} <span class="muted">${esc(h.detail)}</span></td></tr>`).join("");
        }
        async function refresh() {
          try {
            const status = await get("/api/status");
            let plan = null, history = [];
            try { plan = await get("/api/plans/latest"); history = await get("/api/history?limit=15"); } catch (e) { /* no store */ }
            render(status, plan, history);
            document.getElementById("error").textContent = "";
          } catch (error) {
            document.getElementById("error").textContent = String(error.message || error);
          }
        }
        refresh();
        setInterval(refresh, 1000);
        </script>
        </body>
        </html>
        """#
}
