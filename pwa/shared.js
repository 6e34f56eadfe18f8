/* Shared by the page and the service worker (a classic script, so both can load it):
   the device's token and the outbox of answers not yet sent, kept in IndexedDB. */
(function (scope) {
  "use strict";
  const DB_NAME = "checkins";

  function database() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore("kv");
        request.result.createObjectStore("outbox", { keyPath: "client_id" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function run(storeName, mode, operation) {
    const db = await database();
    return new Promise((resolve, reject) => {
      const transaction = db.transaction(storeName, mode);
      const request = operation(transaction.objectStore(storeName));
      transaction.oncomplete = () => { db.close(); resolve(request.result); };
      transaction.onerror = () => { db.close(); reject(transaction.error); };
    });
  }

  const store = {
    get: (key) => run("kv", "readonly", (s) => s.get(key)),
    set: (key, value) => run("kv", "readwrite", (s) => s.put(value, key)),
    pending: () => run("outbox", "readonly", (s) => s.getAll()),
    queue: (item) => run("outbox", "readwrite", (s) => s.put(item)),
    dequeue: (clientId) => run("outbox", "readwrite", (s) => s.delete(clientId)),
  };

  async function bearer(token) {
    const value = token || (await store.get("token"));
    return value ? { Authorization: `Bearer ${value}` } : {};
  }

  /* Send one queued answer. Resolves with the server's answer; rejects only when the network
     is down (the answer then stays queued). A replay of the same client_id is harmless. */
  async function sendAnswer(item) {
    // answers saved by an earlier version carry no answered_at: they were queued as answered
    const answer = { answered_at: item.queued_at, ...item.body };
    const response = await fetch(`/api/v1/me/checkins/${item.checkin_id}/response`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...(await bearer(item.token)) },
      body: JSON.stringify(answer),
    });
    const body = await response.json().catch(() => null);
    const fromApi = body !== null && typeof body === "object";
    // stored: the API echoes our client_id (a captive portal's 200 page does not)
    const stored = response.ok && fromApi && body.client_id === item.client_id;
    // refused for good: the API's own 4xx (a closed window, say), not a timeout or rate limit
    const refused = !response.ok && fromApi && typeof body.code === "number"
      && response.status < 500 && response.status !== 408 && response.status !== 429;
    const retryLater = !stored && !refused;
    if (!retryLater) await store.dequeue(item.client_id);
    return { status: response.status, ok: stored, retryLater, body, item };
  }

  /* Send every queued answer, oldest first; stops at the first network failure. One flush at
     a time: a second call while one runs shares its result. */
  let flushing = null;
  function flushOutbox() {
    if (!flushing) flushing = sendQueued().finally(() => { flushing = null; });
    return flushing;
  }

  async function sendQueued() {
    const items = (await store.pending()).sort((a, b) => a.queued_at.localeCompare(b.queued_at));
    const results = [];
    for (const item of items) {
      const result = await sendAnswer(item);
      results.push(result);
      if (result.retryLater) break;
    }
    return results;
  }

  /* What the patient is told of a saved answer the server refused for good (it has left the
     phone): the server's reason when it is about the check-in (closed, already answered),
     plain words when the answer itself could not be taken. */
  function refusal(result) {
    const reason = result.status === 409 || result.status === 410
      ? (result.body && result.body.message) || "the check-in has closed"
      : "your clinic’s service could not take it";
    return `An answer saved on this phone could not be sent and has been removed from it: ${reason}. If the check-in is still open, please answer it again.`;
  }

  /* Tell the server (the delivery ledger) that a notification was shown or opened. */
  async function acknowledge(checkinId, event) {
    try {
      await fetch(`/api/v1/me/checkins/${checkinId}/delivery`, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...(await bearer()) },
        body: JSON.stringify({ event }),
      });
    } catch (error) {
      /* offline: the ledger misses one step; the answer itself is what matters */
    }
  }

  scope.checkins = { store, bearer, sendAnswer, flushOutbox, refusal, acknowledge };
})(self);
