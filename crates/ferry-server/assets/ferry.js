// Ferry web UI: live updates and side panels. The pages work without this script; it only
//  - follows the live event stream (SSE) and swaps in fresh server-rendered fragments,
//  - opens steps, issues and release notes in a side panel (Escape closes it),
//  - appends new log lines of running steps,
//  - toggles hooks without a reload.
"use strict";
(function () {
  const main = document.getElementById("main");
  const panel = document.getElementById("panel");
  const panelBody = document.getElementById("panel-body");
  const panelTitle = document.getElementById("panel-title");
  const panelPage = document.getElementById("panel-page");
  const live = document.getElementById("live");
  if (!main) return;

  let showHooks = !!document.querySelector(".release.show-hooks");
  let panelHref = null; // the page shown in the panel
  let opener = null; // what to focus again when the panel closes

  function setLive(state, text) {
    if (!live) return;
    live.dataset.state = state;
    const t = live.querySelector(".live-text");
    if (t) t.textContent = text;
  }

  function withParam(url, key, value) {
    const u = new URL(url, location.href);
    u.searchParams.set(key, value);
    return u.pathname + u.search;
  }

  async function fetchHtml(url) {
    const res = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!res.ok && res.status >= 500) throw new Error("HTTP " + res.status);
    const text = await res.text();
    return new DOMParser().parseFromString(text, "text/html");
  }

  // A selector that finds the focused element again in a fresh fragment.
  function focusKey(root) {
    const el = document.activeElement;
    if (!el || el === document.body || !root.contains(el)) return null;
    if (el.id) return "#" + CSS.escape(el.id);
    const href = el.getAttribute("href");
    if (href) return el.tagName.toLowerCase() + '[href="' + CSS.escape(href) + '"]';
    return null;
  }

  // Replaces `old` by `fresh`, keeping the nodes marked data-keep (open forms, expanded texts) and focus.
  function swap(old, fresh) {
    document.adoptNode(fresh);
    fresh.querySelectorAll("[data-keep][id]").forEach(function (n) {
      const kept = old.querySelector("#" + CSS.escape(n.id));
      if (kept) n.replaceWith(kept);
    });
    if (fresh.classList.contains("release")) fresh.classList.toggle("show-hooks", showHooks);
    syncHooksButton(fresh);
    const key = focusKey(old);
    const logs = scrollState(old);
    old.replaceWith(fresh);
    restoreScroll(fresh, logs);
    if (key) {
      const again = fresh.querySelector(key);
      if (again) again.focus({ preventScroll: true });
    }
    startLogs(fresh);
  }

  // Log boxes scrolled to their end stay at the end after a refresh.
  function scrollState(root) {
    const out = {};
    root.querySelectorAll("pre[data-log]").forEach(function (pre) {
      out[pre.dataset.run] = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24 ? "end" : pre.scrollTop;
    });
    return out;
  }

  function restoreScroll(root, state) {
    root.querySelectorAll("pre[data-log]").forEach(function (pre) {
      const s = state[pre.dataset.run];
      if (s === undefined || s === "end") pre.scrollTop = pre.scrollHeight;
      else pre.scrollTop = s;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Page fragments
  // ---------------------------------------------------------------------------------------------

  let busy = false;
  let again = false;
  let timer = null;

  function fragmentUrl() {
    let url = main.dataset.fragment;
    if (showHooks && main.dataset.target === "release-body") url = withParam(url, "hooks", "1");
    return url;
  }

  async function refreshPage() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const doc = await fetchHtml(fragmentUrl());
      const fresh = doc.getElementById(main.dataset.target);
      const old = document.getElementById(main.dataset.target);
      if (fresh && old) swap(old, fresh);
    } catch (e) {
      setLive("retry", "Reconnecting…");
    } finally {
      busy = false;
      if (again) { again = false; schedule(); }
    }
  }

  function schedule() {
    if (timer) return;
    // Release and step pages follow one release; the lists follow many, so they refresh less often.
    const delay = main.dataset.target === "release-body" || main.dataset.target === "step-body" ? 120 : 800;
    timer = setTimeout(function () { timer = null; refreshPage(); }, delay);
  }

  // ---------------------------------------------------------------------------------------------
  // Live events
  // ---------------------------------------------------------------------------------------------

  function panelRuns() {
    return Array.from(panelBody.querySelectorAll("[data-run]")).map(function (n) { return n.dataset.run; });
  }

  function onEvent(ev) {
    let data = null;
    try { data = JSON.parse(ev.data); } catch (e) { data = null; }
    if (main.dataset.fragment) schedule();
    if (!panel.hidden && panelHref) {
      const body = data && data.body ? data.body : {};
      const runs = panelRuns();
      if (!body.runId || runs.indexOf(body.runId) >= 0 || panelBody.querySelector("[data-live]")) schedulePanel();
    }
  }

  if (main.dataset.events && window.EventSource) {
    const es = new EventSource(main.dataset.events);
    es.addEventListener("open", function () { setLive("on", "Live"); schedule(); });
    es.addEventListener("release", onEvent);
    es.addEventListener("error", function () { setLive("retry", "Reconnecting…"); });
  }

  // ---------------------------------------------------------------------------------------------
  // Logs of running steps
  // ---------------------------------------------------------------------------------------------

  const polling = new Set();

  function appendLines(pre, items) {
    const atEnd = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
    const empty = pre.querySelector(".log-empty");
    if (empty && items.length) empty.parentNode.removeChild(empty);
    items.forEach(function (line) {
      const span = document.createElement("span");
      if (line.stream === "stderr") span.className = "stderr";
      span.textContent = line.text;
      pre.appendChild(span);
      pre.appendChild(document.createTextNode("\n"));
    });
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  async function pollLog(pre) {
    const view = pre.closest("[data-release]");
    if (!view) return;
    const url = "/api/v1/releases/" + encodeURIComponent(view.dataset.release) + "/logs?run=" +
      encodeURIComponent(pre.dataset.run) + "&step=" + encodeURIComponent(pre.dataset.step) +
      "&after=" + encodeURIComponent(pre.dataset.after || "0") + "&limit=1000";
    try {
      const res = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!res.ok) return;
      const page = await res.json();
      if (page.items && page.items.length) {
        appendLines(pre, page.items);
        pre.dataset.after = String(page.next);
      }
    } catch (e) { /* the next round tries again */ }
  }

  function startLogs(root) {
    root.querySelectorAll("pre[data-log][data-live]").forEach(function (pre) {
      if (polling.has(pre)) return;
      polling.add(pre);
      const tick = async function () {
        if (!pre.isConnected || !pre.hasAttribute("data-live")) { polling.delete(pre); return; }
        await pollLog(pre);
        setTimeout(tick, 1500);
      };
      tick();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Side panel
  // ---------------------------------------------------------------------------------------------

  let panelBusy = false;
  let panelAgain = false;
  let panelTimer = null;

  function schedulePanel() {
    if (panelTimer) return;
    panelTimer = setTimeout(function () { panelTimer = null; loadPanel(false); }, 150);
  }

  async function loadPanel(first) {
    if (!panelHref) return;
    if (panelBusy) { panelAgain = true; return; }
    panelBusy = true;
    const href = panelHref;
    if (first) panelBody.setAttribute("aria-busy", "true");
    try {
      const doc = await fetchHtml(withParam(href, "fragment", "panel"));
      if (href !== panelHref) return;
      const fresh = doc.body.firstElementChild;
      if (!fresh) return;
      const title = fresh.querySelector(".sv-title-text");
      panelTitle.textContent = title ? title.textContent : "Details";
      const old = panelBody.firstElementChild;
      if (old && !first) swap(old, fresh);
      else {
        document.adoptNode(fresh);
        panelBody.replaceChildren(fresh);
        restoreScroll(fresh, {});
        startLogs(fresh);
      }
    } catch (e) {
      panelBody.textContent = "This could not be loaded. Open it as a page instead.";
    } finally {
      panelBody.removeAttribute("aria-busy");
      panelBusy = false;
      if (panelAgain) { panelAgain = false; schedulePanel(); }
    }
  }

  function openPanel(link) {
    panelHref = link.getAttribute("href");
    opener = link.getAttribute("href");
    panelPage.setAttribute("href", panelHref);
    panelTitle.textContent = "Loading…";
    panelBody.replaceChildren();
    panel.hidden = false;
    panelTitle.setAttribute("tabindex", "-1");
    panelTitle.focus();
    loadPanel(true);
  }

  function closePanel() {
    if (panel.hidden) return;
    panel.hidden = true;
    panelHref = null;
    panelBody.replaceChildren();
    if (opener) {
      const back = main.querySelector('a[href="' + CSS.escape(opener) + '"]');
      if (back) back.focus();
    }
    opener = null;
  }

  document.getElementById("panel-close").addEventListener("click", closePanel);

  // ---------------------------------------------------------------------------------------------
  // Hooks toggle
  // ---------------------------------------------------------------------------------------------

  function syncHooksButton(root) {
    const btn = (root || document).querySelector("#hooks-toggle");
    if (btn) {
      btn.setAttribute("role", "button");
      btn.setAttribute("aria-pressed", showHooks ? "true" : "false");
    }
  }

  function toggleHooks() {
    showHooks = !showHooks;
    const body = document.getElementById("release-body");
    if (body) body.classList.toggle("show-hooks", showHooks);
    syncHooksButton(document);
    const u = new URL(location.href);
    if (showHooks) u.searchParams.set("hooks", "1"); else u.searchParams.delete("hooks");
    history.replaceState(null, "", u.pathname + u.search + u.hash);
  }

  syncHooksButton(document);
  startLogs(document);

  // ---------------------------------------------------------------------------------------------
  // Clicks and keys (delegated: fragments are replaced)
  // ---------------------------------------------------------------------------------------------

  document.addEventListener("click", function (ev) {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const link = ev.target.closest("a[data-panel]");
    if (link) { ev.preventDefault(); openPanel(link); return; }
    const hooks = ev.target.closest("#hooks-toggle");
    if (hooks) { ev.preventDefault(); toggleHooks(); }
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.key === " " && document.activeElement && document.activeElement.id === "hooks-toggle") {
      ev.preventDefault();
      toggleHooks();
      return;
    }
    if (ev.key !== "Escape") return;
    if (!panel.hidden) { ev.preventDefault(); closePanel(); return; }
    const open = document.querySelector("details.terminate[open]");
    if (open) {
      open.open = false;
      const summary = open.querySelector("summary");
      if (summary) summary.focus();
    }
  });

  document.addEventListener("toggle", function (ev) {
    const d = ev.target;
    if (d.classList && d.classList.contains("terminate") && d.open) {
      const area = d.querySelector("textarea");
      if (area) area.focus();
    }
  }, true);
})();
