/* The service worker: an offline app shell, push notifications, and sending saved answers. */
importScripts("{{ asset('shared.js') }}");

const CACHE = "app-{{ version }}";
const PRECACHE = ["/", "/manifest.webmanifest", {% for url in precache %}"{{ url }}", {% endfor %}];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((name) => name.startsWith("app-") && name !== CACHE)
      .map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/")) return;  // answers and check-ins always come live
  if (event.request.mode === "navigate") {
    // every page is the same shell: fresh when online, the cached one offline
    event.respondWith(fetch(event.request).catch(() => caches.match("/", { cacheName: CACHE })));
    return;
  }
  event.respondWith(caches.match(event.request).then((hit) => hit || fetch(event.request)));
});

self.addEventListener("push", (event) => {
  event.waitUntil((async () => {
    let message = {};
    try { message = event.data ? event.data.json() : {}; } catch (error) { message = {}; }
    // never a silent push: browsers revoke the permission of sites that show nothing
    await self.registration.showNotification(message.title || "Time for your check-in", {
      body: message.body || "A few quick questions about how you feel since your visit.",
      tag: message.tag || "checkin",
      renotify: true,
      icon: "{{ asset('icons/icon-192.png') }}",
      data: { url: message.url || "/", checkin_id: message.checkin_id || null },
      actions: [{ action: "answer", title: "Answer now" }],
    });
    if (message.checkin_id) await self.checkins.acknowledge(message.checkin_id, "shown");
  })());
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const { url, checkin_id: checkinId } = event.notification.data || {};
  event.waitUntil((async () => {
    if (checkinId) await self.checkins.acknowledge(checkinId, "opened");
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const target = new URL(url || "/", self.location.origin).href;
    const open = windows.find((client) => client.url === target) || windows[0];
    if (open) {
      open.postMessage({ type: "open", url: target });  // the page goes to the check-in
      await open.focus().catch(() => {});  // may be refused without a real click
      return;
    }
    await self.clients.openWindow(target);
  })());
});

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil((async () => {
    const options = event.oldSubscription ? event.oldSubscription.options : null;
    const subscription = event.newSubscription
      || (options && await self.registration.pushManager.subscribe(options));
    if (!subscription) return;
    await fetch("/api/v1/me/push-subscriptions", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...(await self.checkins.bearer()) },
      body: JSON.stringify(subscription.toJSON()),
    });
  })());
});

async function sendSavedAnswers() {
  const results = await self.checkins.flushOutbox();
  for (const result of results) {
    for (const alert of (result.body && result.body.alerts) || []) {
      // the patient answered offline: the clinic's advice must still reach them at once
      await self.registration.showNotification("Important advice from your clinic", {
        body: alert.advice, tag: `advice-${alert.rule}`, requireInteraction: true,
        data: { url: `/checkin/${result.item.checkin_id}` },
      });
    }
  }
  const clients = await self.clients.matchAll({ type: "window" });
  const answers = results.filter((result) => result.ok).map((result) => result.body);
  const refused = results.filter((result) => !result.ok && !result.retryLater);
  clients.forEach((client) => client.postMessage({
    type: "outbox", answers, refused: refused.map(self.checkins.refusal),
  }));
}

self.addEventListener("sync", (event) => {
  if (event.tag === "outbox") event.waitUntil(sendSavedAnswers());
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "flush") event.waitUntil(sendSavedAnswers());
});
