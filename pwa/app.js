/* The patient app: enrol, turn on notifications, answer check-ins (also offline), see recovery.
   Plain ES module; the page talks to the server only through /api/v1. */
const { store, bearer, sendAnswer, flushOutbox, refusal } = self.checkins;
const main = document.getElementById("main");
const statusRegion = document.getElementById("status");
let linkToken = null; // an e-mailed link opens one check-in without enrolment

/* ---------- small helpers ---------- */

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      element.append(child instanceof Node ? child : String(child));
    }
  }
  return element;
}

function show(title, ...content) {
  document.title = `${title} · Check-in`;
  main.replaceChildren(h("h1", {}, title), ...content.filter(Boolean));
  // a new screen starts at the top, bar and all; focusing main with a scroll would instead
  // scroll the bar away, moving everything under it (a layout shift)
  main.focus({ preventScroll: true });
  scrollTo(0, 0);
}

function announce(text) {
  statusRegion.textContent = text;
}

function when(iso) {
  return new Intl.DateTimeFormat(undefined, {
    weekday: "long", hour: "numeric", minute: "2-digit", day: "numeric", month: "long",
  }).format(new Date(iso));
}

/* A calendar day the server gives as "2026-03-02" (already on the patient's clock), in words. */
function day(isoDate) {
  return new Intl.DateTimeFormat(undefined, {
    weekday: "long", day: "numeric", month: "long", timeZone: "UTC",
  }).format(new Date(`${isoDate}T00:00:00Z`));
}

/* A treatment as the patient knows it: "Dry needling (trigger point) on Monday, March 2". The
   words come from the server (the protocol data), never from a list kept here. */
const treatmentName = (treatment) => `${treatment.modality_label} on ${day(treatment.treated_on)}`;

/* Which check-in this is: its treatment, and its time point in the protocol's words. */
function aboutCheckin(checkin, id, extra) {
  return h("div", { class: "about", id },
    h("p", { class: "treatment" }, treatmentName(checkin)),
    h("p", {}, `Check-in: ${checkin.slot_label}`, extra ? ` · ${extra}` : ""));
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The server answered ${status}.`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json", ...(await bearer(linkToken)) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

function problem(error) {
  if (error instanceof ApiError) return error.message;
  return "You seem to be offline. Check your connection and try again.";
}

/* ---------- notifications ---------- */

const isIos = () => /iphone|ipad|ipod/i.test(navigator.userAgent);
const isStandalone = () => matchMedia("(display-mode: standalone)").matches || navigator.standalone;
const pushSupported = () => "serviceWorker" in navigator && "PushManager" in self && "Notification" in self;

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(text, (char) => char.charCodeAt(0));
}

const PUSH_WAIT_MS = 10000;

class PushTimeout extends Error {}

/* Subscribe (or re-register the existing subscription) and tell the server; resolves only
   once the server has stored it. */
async function registerPush() {
  const registration = await navigator.serviceWorker.ready;
  let subscription = await registration.pushManager.getSubscription();
  if (!subscription) {
    const { public_key: publicKey } = await api("GET", "/api/v1/push/key");
    // a push service that never answers must not leave the card saying "turning on" for good;
    // a subscription that comes late is found and registered at the next open
    const late = new Promise((_, reject) => setTimeout(() => reject(new PushTimeout()), PUSH_WAIT_MS));
    subscription = await Promise.race([late, registration.pushManager.subscribe({
      userVisibleOnly: true, applicationServerKey: keyBytes(publicKey),
    })]);
  }
  await api("POST", "/api/v1/me/push-subscriptions", subscription.toJSON());
}

/* Why reminders could not be turned on, in the patient's words, and what to do. */
function pushProblem(error) {
  if (error instanceof ApiError) return "your clinic’s service did not accept this phone. Try again later; if it keeps happening, tell your clinic.";
  if (error instanceof PushTimeout) return "the phone’s notification service did not answer. Check that you are online and try again.";
  if (error instanceof TypeError) return "the app could not reach your clinic’s service. Check that you are online and try again.";
  return "this phone would not sign up for notifications. Try again in a moment.";
}

/* What becomes of a patient's check-ins without notifications on this phone. */
function emailLine(me) {
  return me.has_email
    ? "Your clinic will send your check-ins by e-mail instead."
    : "If you give your clinic your e-mail address, your check-ins can come by e-mail instead.";
}

/* The reminders card says "on" only once the server holds this phone's subscription; otherwise
   what went wrong, what the patient can do, and whether e-mail takes over. */
function notificationCard(me) {
  const card = h("section", { class: "card", "aria-labelledby": "notify-title" },
    h("h2", { id: "notify-title" }, "Check-in reminders"));
  // the new words take the focus of a button they replace, so a screen reader reads them
  const say = (focus, ...content) => {
    card.replaceChildren(card.firstChild, ...content);
    if (focus) (card.querySelector("button") || content[0]).focus();
  };
  const line = (text, attributes = {}) => h("p", { tabindex: -1, ...attributes }, text);
  const openApp = "You can still answer here: a check-in that is ready is listed at the top of this app.";
  const turnOn = async (asked) => {
    say(asked, line("Turning reminders on…"));
    try {
      await registerPush();
      say(asked, line("Reminders are on. We will tell you when a check-in is ready."));
    } catch (error) {
      const retry = h("button", { type: "button", onclick: () => turnOn(true) }, "Try again");
      say(asked, line(`Reminders could not be turned on on this phone: ${pushProblem(error)} ${emailLine(me)}`,
        { class: "notice", role: "alert" }), retry);
    }
  };
  if (!pushSupported()) {
    say(false, line(`This browser cannot show reminders. ${emailLine(me)} ${openApp}`));
  } else if (isIos() && !isStandalone()) {
    say(false,
      h("p", {}, "This iPhone can show reminders only from the app on your Home Screen, so none will come here yet. To get them:"),
      h("ol", {}, h("li", {}, "Tap the Share button."), h("li", {}, "Choose “Add to Home Screen”."),
        h("li", {}, "Open the app from your Home Screen and turn reminders on.")),
      h("p", {}, emailLine(me)),
    );
  } else if (Notification.permission === "denied") {
    say(false, line(`Notifications are blocked for this app, so no reminders will come to this phone. To get them, allow notifications for this site in your browser’s settings, then open the app again. ${emailLine(me)} ${openApp}`));
  } else if (Notification.permission === "granted") {
    turnOn(false); // already allowed: make sure the server has this phone before saying "on"
  } else {
    const button = h("button", { type: "button", class: "primary" }, "Turn on reminders");
    button.addEventListener("click", async () => {
      button.disabled = true;
      const permission = await Notification.requestPermission();
      if (permission === "granted") await turnOn(true);
      else {
        const again = notificationCard(me);
        card.replaceWith(again);
        again.querySelector("p").focus();
      }
    });
    say(false, h("p", {}, "A reminder tells you when a check-in is ready, so your clinic hears how you recover at the right moments. We never put your answers in a notification."), button);
  }
  return card;
}

/* ---------- screens ---------- */

async function enrolScreen() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  history.replaceState(null, "", "/enrol"); // the token leaves the address bar at once
  if (!token) return show("Open your link", h("p", {}, "Open the link or scan the QR code your clinic gave you."));
  try {
    const result = await api("POST", "/api/v1/enrol", { token });
    await store.set("token", result.patient_token);
    await store.set("clinic", result.clinic);
    history.replaceState(null, "", "/");
    await homeScreen(`You are set up with ${result.clinic}.`);
  } catch (error) {
    show("This link did not work", h("p", { role: "alert" }, problem(error)));
  }
}

async function homeScreen(greeting) {
  if (!(await store.get("token"))) {
    return show("Welcome", h("p", {}, "Open the link or scan the QR code your clinic gave you to set up your check-ins."));
  }
  try {
    const [me, due, history] = await Promise.all([
      api("GET", "/api/v1/me"), api("GET", "/api/v1/me/checkins?status=due"),
      api("GET", "/api/v1/me/history"),
    ]);
    await setContacts(me);
    const pending = await store.pending();
    show(greeting || (me.display_name ? `Hello, ${me.display_name}` : "Your check-ins"),
      pending.length ? h("p", { class: "notice" }, savedText(pending.length)) : null,
      dueList(due),
      h("p", {}, me.next_checkin_at ? `Next check-in: ${when(me.next_checkin_at)}.` : "No more check-ins are planned."),
      historyCard(history),
      notificationCard(me), // last: its words change as reminders turn on, moving nothing else
    );
  } catch (error) {
    show("Your check-ins", h("p", { role: "alert" }, problem(error)));
  }
}

function dueList(due) {
  if (!due.length) return h("p", {}, "Nothing to answer right now. Thank you!");
  return h("section", { "aria-labelledby": "due-title" }, h("h2", { id: "due-title" }, "Ready to answer"),
    h("ul", { class: "due" }, due.map((checkin) => h("li", { class: "card" },
      aboutCheckin(checkin, `about-${checkin.id}`, `open until ${when(checkin.expires_at)}`),
      h("a", { class: "button primary", href: `/checkin/${checkin.id}`, "aria-describedby": `about-${checkin.id}` },
        "Answer check-in")))));
}

const savedText = (count) => `${count === 1 ? "One answer is" : `${count} answers are`} saved on this phone and not sent yet. They will be sent when you are back online.`;

async function checkinScreen(id) {
  try {
    const [checkin, me] = await Promise.all([
      api("GET", `/api/v1/me/checkins/${id}`), api("GET", "/api/v1/me"),
    ]);
    await setContacts(me);
    const about = aboutCheckin(checkin);
    if (checkin.status === "answered") return show("Already answered", about, h("p", {}, "Thank you, this check-in is done."), homeLink());
    if (new Date(checkin.expires_at) <= new Date() || checkin.status === "missed") {
      return show("This check-in has closed", about, h("p", {}, `It was open until ${when(checkin.expires_at)}. Your next check-in will come as usual.`), homeLink());
    }
    show("How are you feeling?", about, checkinForm(checkin));
  } catch (error) {
    show("Check-in", h("p", { role: "alert" }, problem(error)), homeLink());
  }
}

function homeLink() {
  return linkToken ? null : h("p", {}, h("a", { href: "/" }, "Back to your check-ins"));
}

/* ---------- the check-in form, built from the server's item definitions ---------- */

function question(item) {
  const id = `q-${item.code}`;
  if (item.kind === "text") {
    return h("div", { class: "question", "data-code": item.code },
      h("label", { for: id }, item.text),
      item.help ? h("p", { class: "hint", id: `${id}-help` }, item.help) : null,
      h("textarea", { id, name: item.code, rows: 3, maxlength: item.max_length, "aria-describedby": item.help ? `${id}-help` : null }));
  }
  const options = item.kind === "scale"
    ? Array.from({ length: item.max - item.min + 1 }, (_, i) => ({ code: String(item.min + i), label: String(item.min + i) }))
    : item.kind === "boolean" ? [{ code: "yes", label: "Yes" }, { code: "no", label: "No" }] : item.options;
  const anchors = item.kind === "scale"
    ? h("p", { class: "anchors", id: `${id}-anchors` }, h("span", {}, `${item.min} = ${item.min_label}`), h("span", {}, `${item.max} = ${item.max_label}`))
    : null;
  return h("fieldset", { class: `question ${item.kind}`, "data-code": item.code, "aria-describedby": anchors ? `${id}-anchors` : null },
    h("legend", {}, item.text),
    anchors,
    h("div", { class: "choices" }, options.map((option) => h("label", { class: "choice" },
      h("input", { type: "radio", name: item.code, value: option.code }),
      h("span", {}, option.label)))));
}

function collect(form, items) {
  const answers = {};
  for (const item of items) {
    const container = form.querySelector(`[data-code="${item.code}"]`);
    const field = form.elements[item.code];
    if (!field || !container || container.hidden) continue;
    const value = (field.value || "").trim();
    if (!value) continue;
    if (item.kind === "scale") answers[item.code] = Number(value);
    else if (item.kind === "boolean") answers[item.code] = value === "yes";
    else answers[item.code] = value;
  }
  return answers;
}

function checkinForm(checkin) {
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const note = h("div", { class: "question" }, h("label", { for: "q-note" }, "A note for your clinic (optional)"),
    h("textarea", { id: "q-note", name: "note", rows: 2, maxlength: 1000 }));
  const form = h("form", { novalidate: true }, checkin.items.map(question), note, error,
    h("button", { type: "submit", class: "primary" }, "Send answers"));
  const toggleFollowUps = () => {
    for (const item of checkin.items.filter((i) => i.enable_when)) {
      const chosen = form.elements[item.enable_when.item];
      const shown = chosen && chosen.value === (item.enable_when.equals === true ? "yes" : String(item.enable_when.equals));
      form.querySelector(`[data-code="${item.code}"]`).hidden = !shown;
    }
  };
  form.addEventListener("change", toggleFollowUps);
  toggleFollowUps();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answers = collect(form, checkin.items);
    if (!Object.keys(answers).length) {
      error.textContent = "Please answer at least one question (you may skip any of them).";
      error.hidden = false;
      return;
    }
    form.querySelector("button[type=submit]").disabled = true;
    const noteText = form.elements.note.value.trim();
    // answered_at: the server judges the answer by this moment, not by when it arrives
    await submit(checkin, {
      client_id: crypto.randomUUID(), answers, note: noteText || null, answered_at: new Date().toISOString(),
    });
  });
  return form;
}

async function submit(checkin, body) {
  const item = { client_id: body.client_id, checkin_id: checkin.id, body, token: linkToken, queued_at: body.answered_at };
  await store.queue(item); // kept on the phone first: nothing is lost if the network drops now
  try {
    const result = await sendAnswer(item);
    if (result.retryLater) throw new Error("server busy");
    if (!result.ok) {
      return show("Not sent", h("p", { role: "alert" }, (result.body && result.body.message) || "The answers could not be saved."), homeLink());
    }
    confirmation(result.body);
  } catch (error) {
    savedOffline(checkin, body.answers);
  }
}

/* ---------- red-flag advice: what to do first, and a tap to call ---------- */

const SEVERITIES = ["urgent", "same_day", "routine"];
const bySeverity = (a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity);

/* The flags an answer meets, from the red_flags the server sent with each question (used when
   the answer could not reach the server): the phone holds data, not rules. */
function flagsOffline(checkin, answers) {
  const met = checkin.items.flatMap((item) => (item.red_flags || [])
    .filter((flag) => item.code in answers && flag.values.includes(answers[item.code])));
  const rules = new Set(met.map((flag) => flag.rule));
  const unique = [...new Map(met.map((flag) => [flag.rule, flag])).values()];
  return unique.map((flag) => ({
    rule: flag.rule,
    advice: flag.advice,
    severity: flag.escalate_to && flag.escalate_with.some((rule) => rules.has(rule)) ? flag.escalate_to : flag.severity,
  }));
}

function telLink(phone, text, className) {
  return h("a", { class: className, href: `tel:${phone.tel}` }, text);
}

/* The advice text with the emergency number in it as a link. */
function linked(advice) {
  const number = contacts.emergency && contacts.emergency.display;
  if (!number || !advice.includes(number)) return [advice];
  return advice.split(number).flatMap((part, i) => (i ? [telLink(contacts.emergency, number), part] : [part]));
}

function callButtons(urgent) {
  return h("div", { class: "calls" },
    urgent && contacts.emergency ? telLink(contacts.emergency, `Call ${contacts.emergency.display}`, "button call emergency") : null,
    contacts.clinic_phone ? telLink(contacts.clinic_phone, ["Call your clinic: ", h("span", { class: "number" }, contacts.clinic_phone.display)], "button call") : null);
}

/* The advice boxes of some flags, urgent first with a tap to call, and whether any is urgent. */
function adviceParts(flags) {
  const sorted = [...flags].sort(bySeverity);
  const urgent = sorted.filter((flag) => flag.severity === "urgent");
  const others = sorted.filter((flag) => flag.severity !== "urgent");
  const heading = (flag) => (flag.severity === "same_day" ? "Important" : "Good to know");
  return {
    urgent: urgent.length > 0,
    parts: [
      urgent.length ? h("div", { class: "advice urgent", role: "alert" },
        urgent.map((flag) => h("p", {}, ...linked(flag.advice))), callButtons(true)) : null,
      ...others.map((flag) => h("section", { class: `advice ${flag.severity}`, role: urgent.length ? null : "alert" },
        h("h2", {}, heading(flag)), h("p", {}, ...linked(flag.advice)))),
      others.length && !urgent.length ? callButtons(false) : null,
    ].filter(Boolean),
  };
}

/* Urgent advice first, under the page's own heading; calmer advice below it, each its own box. */
function adviceScreen(flags, calmTitle, ...rest) {
  const { urgent, parts } = adviceParts(flags);
  show(urgent ? "Please act now" : calmTitle, ...parts, ...rest);
}

function confirmation(result) {
  if (result.emergency !== undefined) setContacts(result).catch(() => {});
  adviceScreen(result.alerts || [], "Thank you",
    h("p", {}, "Your answers were sent to your clinic."),
    h("p", {}, result.next_checkin_at ? `Your next check-in: ${when(result.next_checkin_at)}.` : "There are no more check-ins planned."),
    homeLink());
  announce("Your answers were sent.");
}

async function savedOffline(checkin, answers) {
  const flags = flagsOffline(checkin, answers);
  adviceScreen(flags, "Saved on this phone",
    h("p", { class: "notice" }, flags.length
      ? "You are offline: your clinic cannot see these answers yet. They are saved on this phone and will be sent automatically when you are back online."
      : "You are offline. Your answers are saved on this phone and not sent yet; they will be sent automatically when you are back online."),
    homeLink());
  const registration = await navigator.serviceWorker?.ready;
  if (registration && "sync" in registration) await registration.sync.register("outbox").catch(() => {});
}

/* ---------- the patient's own recovery chart ---------- */

const SVG = "http://www.w3.org/2000/svg";
const MEASURES = [
  { code: "soreness", label: "Soreness", marker: "circle" },
  { code: "pain", label: "Pain", marker: "square" },
];
// Hours since treatment go on a square-root scale, so the first hours (2 h, 6 h) stay apart
// from each other and from 7 days; the ticks say where each hour and day is.
const HOUR_TICKS = [0, 2, 6, 12, 24, 48, 72, 168, 240];
const PLOT = { left: 40, right: 312, top: 10, bottom: 170, width: 340, height: 222 };

function svg(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

const hoursLabel = (hours) => (hours < 24 ? (hours ? `${hours} h` : "0")
  : `${hours / 24} ${hours === 24 ? "day" : "days"}`);

/* Axes for scores 0-10 against hours since treatment up to maxHours, and the scales. */
function chartAxes(maxHours) {
  const last = HOUR_TICKS.find((hours) => hours >= maxHours) || maxHours;
  const x = (hours) => PLOT.left + Math.sqrt(Math.min(hours, last) / last) * (PLOT.right - PLOT.left);
  const y = (score) => PLOT.bottom - (score / 10) * (PLOT.bottom - PLOT.top);
  const parts = [];
  for (const score of [0, 2, 4, 6, 8, 10]) {
    parts.push(svg("line", { x1: PLOT.left, x2: PLOT.right, y1: y(score), y2: y(score), class: score ? "grid" : "baseline" }),
      svg("text", { x: PLOT.left - 6, y: y(score) + 4, class: "tick", "text-anchor": "end" }, score));
  }
  let previous = -Infinity;
  for (const hours of HOUR_TICKS.filter((tick) => tick <= last)) {
    const tooClose = x(hours) - previous < 40 && hours !== last;
    if (tooClose) continue;
    previous = x(hours);
    parts.push(svg("text", { x: x(hours), y: PLOT.bottom + 18, class: "tick", "text-anchor": "middle" }, hoursLabel(hours)));
  }
  const middle = (PLOT.top + PLOT.bottom) / 2;
  parts.push(
    svg("text", { x: 12, y: middle, class: "title", "text-anchor": "middle", transform: `rotate(-90 12 ${middle})` }, "Score (0 to 10)"),
    svg("text", { x: (PLOT.left + PLOT.right) / 2, y: PLOT.height - 4, class: "title", "text-anchor": "middle" }, "Time since your treatment"));
  return { x, y, parts };
}

function marker(shape, cx, cy, className) {
  return shape === "circle" ? svg("circle", { cx, cy, r: 5, class: className })
    : svg("rect", { x: cx - 4.5, y: cy - 4.5, width: 9, height: 9, class: className });
}

function chart(points) {
  const { x, y, parts } = chartAxes(Math.max(24, ...points.map((p) => p.hours)));
  const drawing = svg("svg", { viewBox: `0 0 ${PLOT.width} ${PLOT.height}`, role: "img", "aria-labelledby": "chart-title", "aria-describedby": "chart-of" });
  drawing.append(...parts);
  for (const measure of MEASURES) {
    const answered = points.filter((p) => p[measure.code] !== null && p[measure.code] !== undefined);
    if (answered.length > 1) {
      drawing.append(svg("polyline", { class: measure.code, points: answered.map((p) => `${x(p.hours)},${y(p[measure.code])}`).join(" ") }));
    }
    drawing.append(...answered.map((p) => marker(measure.marker, x(p.hours), y(p[measure.code]), measure.code)));
  }
  return drawing;
}

function historyTable(latest) {
  const cell = (value) => h("td", {}, value ?? "–");
  const before = latest.baseline.soreness !== undefined || latest.baseline.pain !== undefined
    ? h("tr", {}, h("th", { scope: "row" }, "Before treatment"), cell(latest.baseline.soreness), cell(latest.baseline.pain))
    : null;
  const rows = latest.points.map((p) => h("tr", {}, h("th", { scope: "row" }, p.slot_label), cell(p.soreness), cell(p.pain)));
  return h("details", {}, h("summary", {}, "Show as a table"),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "When"),
      ...MEASURES.map((measure) => h("th", { scope: "col" }, measure.label)))), h("tbody", {}, before, rows)));
}

function historyCard(history) {
  const latest = history.find((entry) => entry.points.length);
  if (!latest) return null;
  return h("section", { class: "card", "aria-labelledby": "chart-title" },
    h("h2", { id: "chart-title" }, "Your recovery since your last treatment"),
    h("p", { id: "chart-of", class: "treatment" }, treatmentName(latest)),
    h("p", { class: "legend" }, MEASURES.map((measure) => h("span", { class: `key ${measure.code} ${measure.marker}` }, measure.label)),
      h("span", {}, "0 = none, 10 = worst imaginable")),
    chart(latest.points),
    latest.points.length === 1 ? h("p", { class: "hint" }, "One answer so far: each check-in you answer adds a point.") : null,
    historyTable(latest));
}

/* ---------- start ---------- */

/* Whom to call, from the server (and kept on the phone, so the footer is right offline too). */
let contacts = { emergency: null, clinic_phone: null };

async function setContacts(me) {
  contacts = { emergency: me.emergency, clinic_phone: me.clinic_phone };
  await store.set("contacts", contacts);
  showContacts();
}

function showContacts() {
  const footer = document.getElementById("emergency");
  footer.replaceChildren("If you think it’s an emergency, call ",
    contacts.emergency ? telLink(contacts.emergency, contacts.emergency.display) : "your local emergency number",
    ". This app is not watched around the clock.",
    contacts.clinic_phone ? h("span", { class: "clinic-phone" }, " Your clinic: ",
      telLink(contacts.clinic_phone, contacts.clinic_phone.display), ".") : "");
}

/* Send what the phone saved: the answers the server took, and what it refused for good (those
   are gone from the phone, so the patient must hear of them). */
async function sendSaved() {
  const results = await flushOutbox().catch(() => []);
  return {
    answers: results.filter((result) => result.ok).map((result) => result.body),
    refused: results.filter((result) => !result.ok && !result.retryLater).map(refusal),
  };
}

/* Answers saved on the phone have been sent (by this page or the service worker): the clinic's
   advice for them outweighs whatever screen is open, but never wipes a form half-filled. */
function showSent(answers, refusedMessages) {
  if (answers.length) setContacts(answers[answers.length - 1]).catch(() => {});
  const alerts = answers.flatMap((answer) => answer.alerts || []);
  if (alerts.length && main.querySelector("form")) main.prepend(...adviceParts(alerts).parts);
  else if (alerts.length) {
    adviceScreen(alerts, "Your saved answers were sent",
      h("p", {}, "Your answers saved on this phone have now reached your clinic."), homeLink());
  }
  reportSaved(answers.length, refusedMessages);
  return alerts.length > 0;
}

/* Say what became of answers saved on the phone: sent, or refused (never silently dropped). */
function reportSaved(sentCount, refusedTexts = []) {
  if (sentCount) announce(`${sentCount === 1 ? "One saved answer was" : `${sentCount} saved answers were`} sent.`);
  for (const text of refusedTexts) main.prepend(h("p", { class: "notice", role: "alert" }, text));
}

async function route() {
  const path = location.pathname;
  const checkin = path.match(/^\/checkin\/(\d+)$/);
  if (path === "/enrol") return enrolScreen();
  if (checkin) {
    linkToken = new URLSearchParams(location.hash.slice(1)).get("link");
    if (!linkToken && !(await store.get("token"))) {
      return show("Check-in", h("p", {}, "Open the link or scan the QR code your clinic gave you first."));
    }
    return checkinScreen(Number(checkin[1]));
  }
  return homeScreen();
}

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data && event.data.type === "open" && event.data.url !== location.href) location.assign(event.data.url);
    if (event.data && event.data.type === "outbox") showSent(event.data.answers || [], event.data.refused);
  });
}
addEventListener("online", async () => {
  const { answers, refused } = await sendSaved();
  showSent(answers, refused);
});
store.get("contacts").then((kept) => { if (kept) { contacts = kept; showContacts(); } }).catch(() => {});
(async () => {
  const { answers, refused } = await sendSaved();
  if (!showSent(answers, [])) await route();
  reportSaved(0, refused); // above the screen the app opened on, so it is not lost
})();
