/// The dashboard: one page that reads the admin API every second and shows, first, one line
/// saying whether every site serves (or which is fenced, which plan runs), then sites, traffic
/// plots per relay, pool, DNS and SIP, pools and servers (fenced and backup ones marked), the
/// directory, the current plan and the history. Served at `/`; the page asks for the admin token
/// when the API wants one (or takes it once as `/?token=...`) and keeps it in the tab's session.
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
          header .live.stale b { color: var(--down); }
          #banner { margin: 18px 28px 0; padding: 12px 16px; border-radius: 10px; font-size: 16px; font-weight: 600; }
          #banner.ok { background: rgba(63,185,122,.12); color: var(--up); border: 1px solid rgba(63,185,122,.4); }
          #banner.warn { background: rgba(217,165,58,.12); color: var(--warn); border: 1px solid rgba(217,165,58,.4); }
          #banner.bad { background: rgba(229,83,75,.12); color: var(--down); border: 1px solid rgba(229,83,75,.4); }
          #banner.fenced { background: rgba(163,113,247,.12); color: var(--fenced); border: 1px solid rgba(163,113,247,.4); }
          #banner .detail { display: block; font-size: 13px; font-weight: 400; color: var(--text); margin-top: 2px; }
          main { display: grid; grid-template-columns: 2fr 1fr; gap: 18px; padding: 18px 28px 28px; }
          section { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
          section[hidden] { display: none; }
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
          .tag { display: inline-block; padding: 0 6px; border: 1px solid var(--line); border-radius: 4px; font-size: 11px; color: var(--muted); margin-left: 4px; }
          .tag.backup { border-color: var(--warn); color: var(--warn); }
          table { width: 100%; border-collapse: collapse; }
          th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
          th { color: var(--muted); font-weight: 500; font-size: 12px; }
          .dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px; }
          .dot.up { background: var(--up); } .dot.down { background: var(--down); } .dot.suspect, .dot.unknown { background: var(--warn); }
          .dot.fenced { background: var(--fenced); } .dot.drained { background: var(--muted); }
          .muted { color: var(--muted); }
          .steps li { margin: 4px 0; } .steps .done { color: var(--up); } .steps .running { color: var(--warn); }
          .steps .skipped { color: var(--muted); } .steps .pending { color: var(--text); } .steps .failed { color: var(--down); }
          .full { grid-column: 1 / -1; }
          .plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 12px; }
          .plot { border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; }
          .plot .title { display: flex; justify-content: space-between; font-weight: 600; }
          .plot .now { font-variant-numeric: tabular-nums; }
          .plot .now .err { color: var(--down); }
          .plot svg { display: block; width: 100%; height: 48px; margin-top: 4px; }
          .plot .axis { display: flex; justify-content: space-between; font-size: 11px; color: var(--muted); }
          #error { color: var(--down); }
          #signin form { display: flex; gap: 8px; align-items: center; margin-top: 8px; }
          #signin input { flex: 1; max-width: 420px; padding: 6px 8px; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--text); }
          #signin button { padding: 6px 14px; border-radius: 6px; border: 0; background: var(--accent); color: #fff; font-weight: 600; cursor: pointer; }
          code { color: var(--accent); }
        </style>
        </head>
        <body>
        <header><h1>Ballast</h1><span class="meta" id="meta">connecting…</span><span class="live" id="live"></span></header>
        <div id="banner" hidden></div>
        <main>
          <section class="full" id="signin" hidden><h2>Admin token</h2>
            <div id="signin-reason">This node's admin API needs its token (<code>admin.token</code> in the config).</div>
            <form id="signin-form"><input id="token" type="password" autocomplete="current-password" placeholder="admin token"><button type="submit">Open</button></form>
          </section>
          <section class="full" id="error" hidden></section>
          <section class="full" data-needs-data hidden><h2>Sites</h2><div class="sites" id="sites"></div></section>
          <section class="full" data-needs-data hidden><h2>Traffic, last <span id="traffic-span">minutes</span></h2><div class="plots" id="traffic"><span class="muted">collecting…</span></div></section>
          <section data-needs-data hidden><h2>Pools and servers</h2><table id="pools"></table></section>
          <section data-needs-data hidden><h2>Directory</h2><div id="directory"></div></section>
          <section data-needs-data hidden><h2>Current plan</h2><div id="plan" class="muted">no plan yet</div></section>
          <section data-needs-data hidden><h2>History</h2><table id="history"></table></section>
        </main>
        <script>
        const params = new URLSearchParams(location.search);
        if (params.get("token")) {
          sessionStorage.setItem("ballastToken", params.get("token"));
          history.replaceState(null, "", location.pathname);
        }
        const headers = () => {
          const token = sessionStorage.getItem("ballastToken");
          return token ? { Authorization: "Bearer " + token } : {};
        };
        class Unauthorized extends Error {}
        const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
        const pad = n => String(n).padStart(2, "0");
        // One format for every time on the page: local HH:MM:SS today, with the date otherwise.
        function when(value) {
          const date = value instanceof Date ? value : new Date(value);
          if (isNaN(date)) return esc(value);
          const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
          const today = new Date();
          return date.toDateString() === today.toDateString() ? time
            : `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
        }
        async function get(path) {
          const response = await fetch(path, { headers: headers() });
          if (response.status === 401) throw new Unauthorized(await response.text());
          if (response.status === 404) return null;
          if (!response.ok) throw new Error(path + ": " + response.status + " " + (await response.text()));
          return response.json();
        }
        function servingBadge(serving) {
          const kind = serving === "primaries" ? "up" : serving === "fenced" ? "fenced" : serving === "backups" ? "warn" : "down";
          return `<span class="badge ${kind}">${esc(serving)}</span>`;
        }
        function banner(status, plan) {
          const fenced = status.sites.filter(s => s.fenced).map(s => s.name);
          const troubled = status.pools.filter(p => p.serving !== "primaries" && p.serving !== "fenced");
          const running = plan && plan.status !== "applied" && plan.status !== "planned" ? plan : null;
          const planText = plan ? `${esc(plan.id)} ${esc(plan.status)}` + (running ? `, step ${plan.steps.filter(s => s.status === "done" || s.status === "skipped").length + 1} of ${plan.steps.length}` : "") : "";
          let kind, text, detail = "";
          if (running) { kind = "warn"; text = `Plan ${esc(running.id)} is ${esc(running.status)}`; detail = planText; }
          else if (fenced.length) { kind = "fenced"; text = `Site ${fenced.map(esc).join(", ")} fenced: traffic goes to the other sites`; detail = plan ? "last plan: " + planText : ""; }
          else if (troubled.some(p => p.serving === "unavailable")) { kind = "bad"; text = "Pools without a server: " + troubled.filter(p => p.serving === "unavailable").map(p => esc(p.name)).join(", "); }
          else if (troubled.length) { kind = "warn"; text = "Served by backups: " + troubled.map(p => esc(p.name)).join(", "); }
          else { kind = "ok"; text = "Every site serving from its own servers"; }
          const element = document.getElementById("banner");
          element.className = kind;
          element.innerHTML = text + (detail ? `<span class="detail">${detail}</span>` : "");
          element.hidden = false;
        }
        function sparkline(values, errors, top) {
          const n = Math.max(values.length, 2), w = 300, h = 48;
          const x = i => (i / (n - 1)) * w, y = v => h - 2 - (v / top) * (h - 6);
          const path = list => list.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
          return `<svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img">
            <path d="${path(values)}" fill="none" stroke="var(--accent)" stroke-width="1.5" vector-effect="non-scaling-stroke"/>
            ${errors && errors.some(v => v > 0) ? `<path d="${path(errors)}" fill="none" stroke="var(--down)" stroke-width="1.5" vector-effect="non-scaling-stroke"/>` : ""}</svg>`;
        }
        function renderTraffic(traffic) {
          const target = document.getElementById("traffic");
          if (!traffic || !traffic.series.length) { target.innerHTML = '<span class="muted">no relays, pools, DNS or SIP to plot</span>'; return; }
          const minutes = Math.max(1, Math.round(traffic.seconds / 60));
          document.getElementById("traffic-span").textContent = traffic.seconds < 90 ? `${traffic.seconds} s` : `${minutes} minutes`;
          const groups = new Map();
          for (const s of traffic.series) {
            if (!groups.has(s.group)) groups.set(s.group, {});
            groups.get(s.group)[s.measure] = s.values;
          }
          target.innerHTML = [...groups.entries()].map(([group, measures]) => {
            const main = Object.keys(measures).find(m => m !== "errors/s");
            const values = measures[main] ?? [], errors = measures["errors/s"] ?? [];
            const top = Math.max(1, ...values, ...errors);
            // The headline is the mean of the last ten seconds: steadier than the last second alone.
            const last = list => list.length ? list.slice(-10).reduce((a, b) => a + b, 0) / Math.min(10, list.length) : 0;
            const format = v => v >= 100 ? Math.round(v) : Math.round(v * 10) / 10;
            return `<div class="plot" data-traffic="${esc(group)}"><div class="title"><span>${esc(group)}</span>
              <span class="now">${format(last(values))} ${esc(main)}${last(errors) > 0 ? ` · <span class="err">${format(last(errors))} errors/s</span>` : ""}</span></div>
              ${sparkline(values, errors, top)}<div class="axis"><span>−${traffic.seconds} s</span><span>peak ${format(top)}</span><span>now</span></div></div>`;
          }).join("");
        }
        function render(status, plan, history, traffic) {
          for (const element of document.querySelectorAll("[data-needs-data]")) element.hidden = false;
          document.getElementById("signin").hidden = true;
          document.getElementById("meta").textContent = `state v${status.version} · directory r${status.directory.revision}`;
          const live = document.getElementById("live");
          live.className = "live";
          live.innerHTML = `<b>●</b> live · ${when(new Date())}`;
          banner(status, plan);
          const fencedSites = new Set(status.sites.filter(s => s.fenced).map(s => s.name));
          document.getElementById("sites").innerHTML = status.sites.map(site => {
            const pools = status.pools.filter(p => p.site === site.name);
            const up = pools.filter(p => p.serving === "primaries").length;
            const state = site.fenced ? '<span class="badge fenced">fenced</span>'
              : up === pools.length ? '<span class="badge up">serving</span>' : '<span class="badge down">degraded</span>';
            return `<div class="site ${site.fenced ? "fenced" : ""}" data-site="${esc(site.name)}">
              <div class="name">${esc(site.name)} ${state}</div>
              <div class="muted">${up}/${pools.length} pools serving${site.changedAt ? " · changed " + when(site.changedAt) : ""}</div></div>`;
          }).join("") || '<span class="muted">no sites in the config</span>';
          document.getElementById("pools").innerHTML = "<tr><th>pool</th><th>site</th><th>serving</th><th>servers</th></tr>" +
            status.pools.map(pool => {
              return `<tr data-pool="${esc(pool.name)}"><td>${esc(pool.name)}${pool.backupPool ? `<div class="muted">backup: ${esc(pool.backupPool)}</div>` : ""}</td><td>${esc(pool.site ?? "")}</td>
              <td>${servingBadge(pool.serving)}${pool.lost ? `<div class="muted" data-lost="true">lost: users at ${esc(pool.backupPool ?? "its backup")}</div>` : ""}</td><td>${pool.servers.map(s => {
                const site = s.site ?? pool.site;
                const fenced = site && fencedSites.has(site);
                const shown = fenced ? "fenced" : s.drained ? "drained" : s.health;
                const note = fenced ? `fenced with ${esc(site)} · checks say ${esc(s.health)}` : esc(s.health) + (s.drained ? " · drained" : "");
                return `<div class="server" data-server="${esc(s.name)}" data-shown="${esc(shown)}"><span class="dot ${esc(shown)}"></span>${esc(s.name)}${s.backup ? '<span class="tag backup">backup</span>' : ""} <span class="muted">${esc(s.address)}${s.port ? ":" + s.port : ""} · ${note}</span></div>`;
              }).join("")}</td></tr>`;
            }).join("");
          const d = status.directory;
          document.getElementById("directory").innerHTML = `<p><b>${d.users}</b> users · homes: ${Object.entries(d.homes).map(([k, v]) => esc(k) + " " + v).join(", ") || "none"}</p>
            ${d.databases.length ? `<table><tr><th>database</th><th>active</th><th>copies</th><th>users</th></tr>${d.databases.map(db =>
              `<tr><td>${esc(db.name)}</td><td><b>${esc(db.active)}</b></td><td class="muted">${db.copies.map(esc).join(", ")}</td><td>${db.users}</td></tr>`).join("")}</table>` : ""}`;
          document.getElementById("plan").innerHTML = plan ? `<p><b>${esc(plan.id)}</b> <span class="badge ${plan.status === "applied" ? "up" : "warn"}">${esc(plan.status)}</span></p>
            <ol class="steps">${plan.steps.map(s => `<li class="${esc(s.status)}">${esc(s.summary)} <span class="muted">[${esc(s.status)}${s.result ? ": " + esc(s.result) : ""}]</span></li>`).join("")}</ol>`
            : '<span class="muted">no plan yet: <code>ballast plan failover --site SITE</code></span>';
          document.getElementById("history").innerHTML = "<tr><th>when</th><th>who</th><th>what</th><th>subject</th></tr>" +
            (history ?? []).slice(0, 15).map(h => `<tr><td class="muted">${when(h.at)}</td><td>${esc(h.actor)}</td><td>${esc(h.action)}</td><td>${esc(h.subject)} <span class="muted">${esc(h.detail)}</span></td></tr>`).join("");
          renderTraffic(traffic);
        }
        function showError(message) {
          const element = document.getElementById("error");
          element.textContent = message;
          element.hidden = !message;
        }
        function askForToken(reason) {
          const hadToken = !!sessionStorage.getItem("ballastToken");
          document.getElementById("signin").hidden = false;
          document.getElementById("signin-reason").textContent = hadToken
            ? "The token given was refused; enter this node's admin token (admin.token in the config)."
            : "This node's admin API needs its token (admin.token in the config).";
          document.getElementById("meta").textContent = "waiting for the admin token";
          for (const element of document.querySelectorAll("[data-needs-data]")) element.hidden = true;
          document.getElementById("banner").hidden = true;
        }
        document.getElementById("signin-form").addEventListener("submit", event => {
          event.preventDefault();
          const value = document.getElementById("token").value.trim();
          if (value) sessionStorage.setItem("ballastToken", value);
          refresh();
        });
        let failingSince = null;
        async function refresh() {
          try {
            const status = await get("/api/status");
            let plan = null, history = [], traffic = null;
            try { plan = await get("/api/plans/latest"); history = await get("/api/history?limit=15"); } catch (e) { if (e instanceof Unauthorized) throw e; }
            try { traffic = await get("/api/traffic"); } catch (e) { if (e instanceof Unauthorized) throw e; }
            render(status, plan, history, traffic);
            failingSince = null;
            showError("");
          } catch (error) {
            if (error instanceof Unauthorized) { askForToken(); showError(""); return; }
            const live = document.getElementById("live");
            live.className = "live stale";
            failingSince = failingSince ?? new Date();
            live.innerHTML = `<b>●</b> not answering since ${when(failingSince)}`;
            showError("The node did not answer: " + String(error.message || error));
          }
        }
        refresh();
        setInterval(refresh, 1000);
        </script>
        </body>
        </html>
        """#
}
