// pue web page: plain JavaScript, no dependencies. Every API call sends the key the user typed; the key
// lives in sessionStorage (this tab's session) and is never logged or shown.
"use strict";

(function () {
  const NUM_RESULTS = 8;
  const SHOWN_INTERACTIONS = 10;
  const KEY_STORAGE = "pue.apiKey";
  // Segment e-commerce v2 events, as the default event map tracks them.
  const EVENTS = { view: "Product Viewed", cart: "Product Added", buy: "Order Completed", rate: "Product Reviewed" };
  const DONE = { view: "Viewed", cart: "Added to cart", buy: "Bought", rate: "Rated" };
  const STAT_LABELS = [
    ["records", "records"], ["processed", "processed"], ["filtered", "filtered"],
    ["deadLettered", "dead-lettered"], ["failed", "failed (retry)"], ["interactions", "interactions"],
    ["usersRefreshed", "users refreshed"],
  ];

  const $ = (id) => document.getElementById(id);
  const state = {
    user: "", anonymousId: "", loggedIn: false, list: null, meta: new Map(), ratings: new Map(),
    seenEvents: null, stats: null, busy: false,
  };

  class ApiFailure extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "style") Object.assign(node.style, value); // CSSOM: allowed by the page's CSP
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function randomId() {
    // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // --- talking to the API -------------------------------------------------------------------------

  function currentKey() { return $("api-key").value.trim(); }

  async function api(method, path, body) {
    const headers = { "x-api-key": currentKey() };
    if (body !== undefined) headers["content-type"] = "application/json";
    const shown = [`${method} ${path}`, "x-api-key: (hidden)"];
    if (body !== undefined) shown.push("content-type: application/json", "", JSON.stringify(body, null, 2));
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new ApiFailure(0, "network", "The API did not answer: is pue serve still running?");
    }
    $("last-call").textContent = `${shown.join("\n")}\n\n→ ${response.status} ${response.statusText}`;
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    if (!response.ok) {
      const err = (data && data.error) || {};
      throw new ApiFailure(response.status, err.code || "error", err.message || response.statusText);
    }
    return data;
  }

  function explain(failure) {
    if (failure.status === 401) {
      return "No API key was sent (401 Unauthorized). Enter the key pue serve printed, then “Use key”.";
    }
    if (failure.status === 403) {
      return "Wrong API key (403 Forbidden): the server does not accept this key. " +
        "Use the key pue serve printed (or one of PUE_API_KEY).";
    }
    if (failure.status === 0) return failure.message;
    return `The API answered ${failure.status} (${failure.code}): ${failure.message}`;
  }

  function showAlert(text) {
    const box = $("alert");
    box.textContent = text;
    box.hidden = !text;
  }

  function status(text) { $("status").textContent = text; }

  async function guarded(work) {
    if (state.busy) return;
    state.busy = true;
    document.body.setAttribute("aria-busy", "true");
    try {
      showAlert("");
      await work();
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      showAlert(explain(error));
      status("");
      if (error.status === 401 || error.status === 403) sessionStorage.removeItem(KEY_STORAGE);
    } finally {
      state.busy = false;
      document.body.removeAttribute("aria-busy");
    }
  }

  // --- item fields (catalog metadata, when the API has a catalog) ---------------------------------

  function field(meta, ...names) {
    if (!meta) return null;
    for (const [key, value] of Object.entries(meta)) {
      if (names.includes(key.toLowerCase()) && value !== "" && value !== null) return value;
    }
    return null;
  }

  function describe(itemId) {
    const meta = state.meta.get(itemId);
    const price = Number(field(meta, "price"));
    const image = String(field(meta, "image_url", "image", "imageurl", "image_link") || "");
    return {
      name: String(field(meta, "name", "title", "product_name") || itemId),
      category: field(meta, "category", "categories", "category_l1"),
      price: Number.isFinite(price) && field(meta, "price") !== null ? price : null,
      image: /^https?:\/\//i.test(image) ? image : null,
    };
  }

  function remember(list) {
    for (const item of list.items) if (item.metadata) state.meta.set(item.itemId, item.metadata);
  }

  function colour(text) {
    let hash = 0;
    for (const ch of String(text)) hash = (hash * 31 + ch.codePointAt(0)) % 360;
    return `hsl(${hash}, 45%, 38%)`;
  }

  // --- recommendations ------------------------------------------------------------------------------

  function card(item, index, previous) {
    const info = describe(item.itemId);
    const before = previous ? previous.get(item.itemId) : undefined;
    let badge = null;
    if (previous && before === undefined) badge = el("span", { class: "badge", text: "New" });
    else if (previous && before > index) badge = el("span", { class: "badge moved", text: `▲ ${before - index}` });
    const thumb = info.image
      ? el("img", { class: "thumb", src: info.image, alt: "", loading: "lazy" })
      : el("div", { class: "thumb placeholder", "aria-hidden": "true", style: { background: colour(info.category || info.name) } },
        (info.category || info.name).slice(0, 1).toUpperCase());
    const metaLine = [info.category ? String(info.category).replace(/\|/g, ", ") : null,
      info.price !== null ? `$${info.price.toFixed(2)}` : null].filter(Boolean).join(" · ");
    const rated = state.ratings.get(item.itemId) || 0;
    const stars = el("fieldset", { class: "stars" }, el("legend", { text: "Rate" }),
      [1, 2, 3, 4, 5].map((n) => el("button", {
        type: "button", "data-action": "rate", "data-rating": n, "aria-pressed": String(n <= rated),
        "aria-label": `Rate ${info.name} ${n} of 5 stars`, text: n <= rated ? "★" : "☆",
      })));
    const action = (kind, label, cls) => el("button", {
      type: "button", class: cls, "data-action": kind, "aria-label": `${label} ${info.name}`, text: label,
    });
    return el("li", { class: badge && badge.textContent === "New" ? "card is-new" : "card", "data-item-id": item.itemId },
      badge, thumb,
      el("h3", { text: info.name }),
      el("code", { class: "item-id", text: item.itemId }),
      metaLine ? el("p", { class: "meta", text: metaLine }) : null,
      el("div", { class: "actions" },
        action("view", "View", "secondary"), action("cart", "Add to cart", "secondary"), action("buy", "Buy", "buy")),
      stars);
  }

  function renderList(list, cause) {
    const previous = state.list && state.list.userId === list.userId
      ? new Map(state.list.items.map((item, index) => [item.itemId, index])) : null;
    remember(list);
    const cards = $("cards");
    cards.replaceChildren(...list.items.map((item, index) => card(item, index, previous)));
    $("empty").hidden = list.items.length > 0;
    $("empty").textContent = list.items.length ? "" : "No recommendations for this user.";
    $("recs-user").textContent = `for ${list.userId}`;
    const recId = $("rec-id");
    const changed = previous && state.list.recommendationId !== list.recommendationId;
    recId.textContent = list.recommendationId;
    recId.classList.toggle("changed", Boolean(changed));
    $("rec-id-was").textContent = changed ? `(was ${state.list.recommendationId})` : "";
    const gone = previous ? state.list.items.filter((item) => !list.items.some((i) => i.itemId === item.itemId)) : [];
    $("gone").hidden = gone.length === 0;
    $("gone").textContent = gone.length
      ? `No longer recommended: ${gone.map((item) => describe(item.itemId).name).join(", ")}` +
        (cause && cause.action === "buy" ? " (bought items are never recommended again)" : "")
      : "";
    state.list = list;
    if (!previous) return "";
    const fresh = list.items.filter((item) => !previous.has(item.itemId)).length;
    return `${fresh} new, ${gone.length} gone.`;
  }

  // --- profile and pipeline panels ------------------------------------------------------------------

  function section(title, ...content) { return [el("h3", { text: title }), ...content]; }

  function renderProfile(profile) {
    const body = $("profile-body");
    if (!profile) {
      body.replaceChildren(el("p", { class: "muted", text: "pue holds nothing for this user yet." }));
      state.seenEvents = new Set();
      return;
    }
    for (const [itemId, fields] of Object.entries(profile.items || {})) state.meta.set(itemId, fields);
    const seen = state.seenEvents;
    const when = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
    const interactions = el("ul", {}, profile.interactions.slice(0, SHOWN_INTERACTIONS).map((it) => {
      const isNew = seen !== null && !seen.has(it.eventId);
      const name = it.itemId ? describe(it.itemId).name : "(no item)";
      return el("li", { class: isNew ? "is-new" : null },
        `${it.eventType} · ${name} · `, el("time", { datetime: it.sentAt, text: when(it.sentAt) }),
        isNew ? el("strong", { text: " — new" }) : null);
    }));
    state.seenEvents = new Set(profile.interactions.map((it) => it.eventId));
    const traits = Object.entries(profile.traits).map(([name, value]) => el("li", {},
      el("code", { text: name }), ": ",
      Array.isArray(value) ? el("ul", { class: "chips" }, value.map((v) => el("li", { text: String(v) })))
        : JSON.stringify(value)));
    const endpoints = Object.entries(profile.endpointAttributes).map(([endpoint, attributes]) => el("li", {},
      el("code", { text: endpoint }),
      el("ul", {}, Object.entries(attributes).map(([name, values]) =>
        el("li", {}, el("code", { text: name }), `: ${values.join(", ")}`)))));
    const messages = profile.messages.map((m) => el("div", { class: "message" },
      el("div", { class: "muted" }, `${m.channel} · `, el("time", { datetime: m.sentAt, text: when(m.sentAt) })),
      el("div", { text: m.body })));
    const none = (text) => el("p", { class: "muted", text });
    body.replaceChildren(
      ...section(`Latest interactions (${profile.interactionCount} in all)`, interactions),
      ...section("Personas traits", traits.length ? el("ul", {}, traits) : none("None written.")),
      ...section("Pinpoint / Customer Profiles attributes",
        endpoints.length ? el("ul", {}, endpoints) : none("None written.")),
      ...section("Engagement messages", ...(messages.length ? messages : [none("None rendered.")])),
    );
  }

  function renderStats(stats) {
    const before = state.stats;
    const counts = el("dl", { class: "counts" }, STAT_LABELS.map(([key, label]) => [
      el("dt", { text: label }),
      el("dd", { class: before && before[key] !== stats[key] ? "changed" : null, text: stats[key].toLocaleString() }),
    ]));
    const reasons = (list) => el("ul", {}, list.map((r) => el("li", {}, `${r.reason} `, el("span", { class: "muted", text: `× ${r.count}` }))));
    const recent = stats.deadLetters.recent;
    $("pipeline-body").replaceChildren(counts,
      ...section("Top filter reasons", stats.filterReasons.length ? reasons(stats.filterReasons)
        : el("p", { class: "muted", text: "None." })),
      ...section(`Last dead letters (${stats.deadLetters.stored} stored)`, recent.length
        ? el("ul", {}, recent.map((d) => el("li", {}, d.reason, " ",
          el("span", { class: "muted", text: `(shard ${d.shardId}, #${d.sequenceNumber})` }))))
        : el("p", { class: "muted", text: "No dead letters." })));
    state.stats = stats;
  }

  function unavailable(target, failure) {
    $(target).replaceChildren(el("p", { class: "muted", text: failure.status === 501 ? failure.message : explain(failure) }));
  }

  async function refreshPanels(userId) {
    const [profile, stats] = await Promise.allSettled([
      api("GET", `/users/${encodeURIComponent(userId)}`), api("GET", "/stats")]);
    if (profile.status === "fulfilled") renderProfile(profile.value);
    else if (profile.reason.status === 404) renderProfile(null);
    else unavailable("profile-body", profile.reason);
    if (stats.status === "fulfilled") renderStats(stats.value);
    else unavailable("pipeline-body", stats.reason);
  }

  // --- actions ----------------------------------------------------------------------------------------

  async function loadUsers() {
    const data = await api("GET", "/users?limit=20");
    sessionStorage.setItem(KEY_STORAGE, currentKey());
    const select = $("sample-users");
    select.replaceChildren(el("option", { value: "", text: `Pick a sample user (${data.users.length})…` }),
      ...data.users.map((id) => el("option", { value: id, text: id })));
  }

  async function browseAnonymously() {
    // A new visitor: its anonymousId is its id until it logs in (Personalize's sessionId as the userId).
    state.anonymousId = `anon-${randomId().slice(0, 16)}`;
    state.loggedIn = false;
    $("user-id").value = "";
    await loadUser(state.anonymousId);
    status(`Browsing anonymously as ${state.anonymousId}: enter a user id to log in.`);
  }

  async function logIn(userId) {
    // Logging in keeps the visitor's anonymousId: events carry both ids from now on (Segment's identify).
    state.loggedIn = true;
    await loadUser(userId);
  }

  async function loadUser(userId) {
    status(`Loading ${userId}…`);
    const query = `userId=${encodeURIComponent(userId)}&numResults=${NUM_RESULTS}&includeMetadata=true`;
    const list = await api("GET", `/recommendations?${query}`);
    sessionStorage.setItem(KEY_STORAGE, currentKey());
    state.user = userId;
    state.list = null;
    state.seenEvents = null;
    renderList(list);
    await refreshPanels(userId);
    status(`${list.items.length} recommendations for ${userId} (list ${list.recommendationId}).`);
  }

  function ids() {
    if (!state.anonymousId) return { userId: state.user };
    return state.loggedIn ? { userId: state.user, anonymousId: state.anonymousId } : { anonymousId: state.anonymousId };
  }

  function trackMessage(action, itemId, rating) {
    const properties = { recommendation_id: state.list.recommendationId };
    const info = describe(itemId);
    if (action === "buy") {
      const product = { product_id: itemId, quantity: 1 };
      if (info.price !== null) product.price = info.price;
      Object.assign(properties, { order_id: `web-${randomId().slice(0, 12)}`, products: [product] });
    } else {
      properties.product_id = itemId;
    }
    if (action === "rate") properties.rating = rating;
    return {
      type: "track", event: EVENTS[action], ...ids(), messageId: `web-${randomId()}`,
      timestamp: new Date().toISOString(), properties, context: { library: { name: "pue-web-page" } },
    };
  }

  async function act(button) {
    const cardNode = button.closest("li.card");
    const itemId = cardNode.dataset.itemId;
    const action = button.dataset.action;
    const rating = Number(button.dataset.rating || 0);
    const name = describe(itemId).name;
    cardNode.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    status(`${DONE[action]} ${name}…`);
    let list;
    try {
      list = await api("POST", `/events?numResults=${NUM_RESULTS}&includeMetadata=true`,
        trackMessage(action, itemId, rating));
    } catch (error) {
      cardNode.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      throw error;
    }
    if (action === "rate") state.ratings.set(itemId, rating);
    const summary = renderList(list, { action, itemId });
    await refreshPanels(state.user);
    status(`${DONE[action]} ${name}${action === "rate" ? ` (${rating}/5)` : ""}. Fresh list ${list.recommendationId}: ${summary}`);
    restoreFocus(itemId, button);
  }

  function restoreFocus(itemId, button) {
    // The card was re-rendered: put focus back on the same control, or on the list if the card is gone.
    const selector = button.dataset.rating ? `[data-rating="${button.dataset.rating}"]` : `[data-action="${button.dataset.action}"]`;
    const same = Array.from($("cards").children).find((li) => li.dataset.itemId === itemId);
    const target = same && same.querySelector(selector);
    (target || $("recommendations")).focus();
  }

  // --- wiring -----------------------------------------------------------------------------------------

  function start() {
    $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(async () => {
        await loadUsers();
        status("Key accepted.");
        if ($("user-id").value.trim()) await loadUser($("user-id").value.trim());
      });
    });
    $("user-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const userId = $("user-id").value.trim();
      if (userId) guarded(() => logIn(userId));
    });
    $("browse-anonymously").addEventListener("click", () => guarded(browseAnonymously));
    $("sample-users").addEventListener("change", (event) => {
      const userId = event.target.value;
      if (!userId) return;
      $("user-id").value = userId;
      guarded(() => logIn(userId));
    });
    $("cards").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button || button.disabled) return;
      if (state.busy) status("Still loading: try again in a moment.");
      else guarded(() => act(button));
    });
    if (currentKey()) guarded(loadUsers);
  }

  start();
})();
