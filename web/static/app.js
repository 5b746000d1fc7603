// The page of `vot serve`: chat threads that follow the server's event stream, and the eval-run browser.
// Everything the server sends is put into the page as text (never as HTML): model output is untrusted.
// Children are put in with `el` or `fill`, which skip null: the DOM's own append turns null into "null".
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fill(node, ...children) {
  // node.replaceChildren(...children) without the absent ones (null, undefined, false).
  node.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) throw new Error((data && data.error) || `${response.status} ${response.statusText}`);
  return data;
}

function showError(id, message) {
  const box = $(id);
  box.textContent = message || "";
  box.hidden = !message;
}

function short(value, limit = 300) {
  // Structured values as compact JSON, an absent value (null) as a dash: "[–, 0.8]", not "[null,0.8]".
  // Strings (model output among them) are shown as they are.
  if (value === null || value === undefined) return "–";
  const text = typeof value === "string" ? value
    : JSON.stringify(value, (key, v) => (v === null ? "\u0000–" : v)).replace(/"\\u0000–"/g, "–");
  return text.length > limit ? text.slice(0, limit) + "…" : text;
}

// ---------------------------------------------------------------- one trace record, as a card
// Generic: the record's fields and every output key with its value. Known keys get a nicer view.

const KNOWN = new Set(["targets", "grounded", "partial_stsg", "action_analysis", "candidate_scores", "ranking",
                       "candidates", "passed", "status", "route", "answer", "answer_index"]);

// What the page says of an answer's check. The graph state's `verification` carries `status`
// (supported / refuted / unchecked) and `source` (program / llm: where the answer came from); an
// answer whose status is absent was checked by nothing the page knows of: "unchecked", never "verified".
const STATUS_TEXT = { supported: "supported by the scene graph", refuted: "refuted by the scene graph", unchecked: "unchecked" };
const SOURCE_TEXT = { program: "answered by the program on the scene graph", llm: "answered by the LLM" };

function verificationText(verification) {
  const v = verification || {};
  const parts = [STATUS_TEXT[v.status] || STATUS_TEXT.unchecked];
  if (SOURCE_TEXT[v.source]) parts.push(SOURCE_TEXT[v.source]);
  return parts.join(" · ") + (v.reason ? ` (${v.reason})` : "");
}

function renderGrounded(grounded) {
  // {phrase: [track ids]}: which tracks each target phrase was grounded to.
  return el("dd", {}, Object.entries(grounded || {}).map(([phrase, ids]) => el("span", { class: "chip",
    text: Array.isArray(ids) && ids.length ? `${phrase} → track${ids.length > 1 ? "s" : ""} ${ids.join(", ")}` : `${phrase} → not grounded` })));
}

function renderTargets(targets) {
  return el("dd", {}, (targets || []).map((t) => {
    if (typeof t !== "object" || t === null) return el("span", { class: "chip", text: String(t) });
    const tracks = (t.track_ids || []).length ? ` → track${t.track_ids.length > 1 ? "s" : ""} ${t.track_ids.join(", ")}`
                                              : " → not grounded";
    const score = typeof t.score === "number" ? ` (${t.score.toFixed(2)})` : "";
    return el("span", { class: "chip", text: `${t.phrase}${tracks}${score}` });
  }));
}

function renderScores(rows, answerIndex, candidates) {
  // Rows are {index, text, score, ...} dicts or [index, score] pairs (text from the node's inputs).
  const list = (Array.isArray(rows) ? rows : []).map((r) => Array.isArray(r)
    ? { index: r[0], score: r[1], text: (candidates || [])[r[0]] } : r);
  const scores = list.map((r) => (typeof r.score === "number" ? r.score : NaN)).filter((s) => !isNaN(s));
  const lo = Math.min(...scores, 0), hi = Math.max(...scores, 1e-9);
  const keys = ["loglik", "rating", "evidence"].filter((k) => list.some((r) => r[k] !== undefined));
  const table = el("table", { class: "scores" },
    el("tr", {}, el("th", { text: "#" }), el("th", { text: "candidate" }), el("th", { text: "score" }),
       keys.map((k) => el("th", { text: k }))));
  list.forEach((r, position) => {
    const index = r.index ?? position;
    const width = typeof r.score === "number" ? Math.max(2, 80 * (r.score - lo) / (hi - lo || 1)) : 0;
    table.append(el("tr", { class: index === answerIndex ? "leader" : "" },
      el("td", { text: String(index) }), el("td", { text: r.text ?? "" }),
      el("td", {}, el("span", { class: "bar", style: `width:${width}px` }), " ",
         typeof r.score === "number" ? r.score.toFixed(3) : ""),
      keys.map((k) => el("td", { text: r[k] === undefined ? "" : (typeof r[k] === "number" ? r[k].toFixed(2) : short(r[k], 60)) }))));
  });
  return el("dd", {}, table);
}

function renderOutputs(outputs, inputs) {
  const dl = el("dl", { class: "kv" });
  const add = (key, dd) => dl.append(el("dt", { text: key }), dd);
  if ("targets" in outputs) add("targets", renderTargets(outputs.targets));
  if ("grounded" in outputs) add("grounded to tracks", renderGrounded(outputs.grounded));
  if ("partial_stsg" in outputs) add("partial STSG", el("dd", {}, el("pre", { text: outputs.partial_stsg })));
  if ("action_analysis" in outputs) add("analysis", el("dd", { text: outputs.action_analysis }));
  if ("candidates" in outputs) add("candidates", el("dd", {}, (outputs.candidates || []).map((c) => el("span", { class: "chip", text: c }))));
  for (const key of ["candidate_scores", "ranking"]) {
    if (key in outputs) add(key === "ranking" ? "ranking" : "ranking (scores)", renderScores(outputs[key], outputs.answer_index,
      outputs.candidates || (inputs || {}).candidates || (inputs || {}).choices));
  }
  if ("answer" in outputs) add("answer", el("dd", { text: `${outputs.answer}${outputs.answer_index !== undefined ? `  (choice ${outputs.answer_index})` : ""}` }));
  if ("passed" in outputs || "status" in outputs) {
    const route = outputs.route && outputs.route !== "end" ? outputs.route : null;
    const status = "status" in outputs ? el("span", { class: `badge ${outputs.status === "supported" ? "ok" : outputs.status === "refuted" ? "bad" : "warn"}`,
                                                      text: STATUS_TEXT[outputs.status] || STATUS_TEXT.unchecked }) : null;
    const passed = "passed" in outputs ? el("span", { class: `badge ${outputs.passed ? "ok" : "bad"}`, text: outputs.passed ? "check passed" : "check failed" }) : null;
    add("verdict", el("dd", {}, status, passed, route ? el("span", { class: "badge warn", text: `loops back to ${route}` }) : null));
  } else if ("route" in outputs) {
    add("route", el("dd", { text: String(outputs.route) }));
  }
  for (const [key, value] of Object.entries(outputs)) {
    if (KNOWN.has(key)) continue;
    add(key, el("dd", { text: short(value) }));
  }
  return dl;
}

function renderRecord(record, text, step) {
  const attempt = record.attempt || 0;
  const cost = [`${(record.latency_seconds || 0).toFixed(2)} s`];
  if (record.llm_calls) cost.push(`${record.llm_calls} LLM call${record.llm_calls > 1 ? "s" : ""}`);
  if (record.prompt_tokens || record.completion_tokens) cost.push(`${record.prompt_tokens || 0}+${record.completion_tokens || 0} tokens`);
  const card = el("div", { class: `record${attempt ? " retry" : ""}`, "data-node": record.node, "data-step": step },
    el("div", { class: "head" },
      step !== undefined ? el("span", { class: "note", text: `${step + 1}.` }) : null,
      el("span", { class: "node", text: record.node }),
      attempt ? el("span", { class: "badge warn", text: `retry ${attempt}` }) : null,
      (record.errors || []).length ? el("span", { class: "badge bad", text: `${record.errors.length} error${record.errors.length > 1 ? "s" : ""}` }) : null,
      el("span", { class: "cost", text: cost.join(" · ") })),
    renderOutputs(record.outputs || {}, record.inputs || {}));
  if ((record.errors || []).length) card.append(el("div", { class: "error" }, record.errors.map((e) => el("div", { text: e }))));
  // The rest folds away, on one line: inputs, prompts, and the record as `vot ask` prints it.
  const more = el("div", { class: "more" });
  if (Object.keys(record.inputs || {}).length) {
    more.append(el("details", {}, el("summary", { text: "inputs" }), el("dl", { class: "kv" },
      Object.entries(record.inputs).map(([key, value]) => [el("dt", { text: key }), el("dd", { text: short(value, 600) })]))));
  }
  if ((record.prompts || []).length) {
    more.append(el("details", {}, el("summary", { text: `prompts (${record.prompts.length})` }),
      record.prompts.map((p) => el("pre", { text: typeof p === "string" ? p : JSON.stringify(p, null, 1) }))));
  }
  if (text) more.append(el("details", {}, el("summary", { text: "as `vot ask` prints it" }), el("pre", { text })));
  if (more.children.length) card.append(more);
  return card;
}

// ---------------------------------------------------------------- chat

const chat = { thread: null, source: null, turns: new Map(), busy: false };

async function loadMedia(select) {
  const data = await api("/api/media");
  const box = $("video");
  box.replaceChildren(
    el("optgroup", { label: "Sample clips" }, data.samples.map((name) => el("option", { value: `sample:${name}`, text: name }))),
    el("optgroup", { label: `Media folder (${data.media_dir})` }, data.files.map((f) => el("option", { value: `media:${f.name}`, text: f.name }))));
  if (select) box.value = select;
  $("upload-limit").textContent = `up to ${Math.round(data.max_upload_bytes / 2 ** 20)} MiB`;
  chat.maxUpload = data.max_upload_bytes;
}

function threadLabel(thread) {
  // "sample: vtest.avi" over "Dec 3, 2026, 14:05 · “What are the people doing?” +1"
  const when = new Date(thread.created * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  const first = thread.first_question ? `“${short(thread.first_question, 70)}”` : "no question yet";
  const more = thread.turns > 1 ? ` +${thread.turns - 1}` : "";
  return [el("div", { class: "thread-video", text: thread.label }), el("div", { class: "note", text: `${when} · ${first}${more}` })];
}

async function loadThreads() {
  const data = await api("/api/threads");
  fill($("threads"), data.threads.map((t) =>
    el("li", { class: chat.thread && chat.thread.id === t.id ? "active" : "", "data-thread": t.id, title: t.first_question || "",
               onclick: () => openThread(t.id) }, threadLabel(t))));
}

async function upload(file) {
  showError("upload-error", "");
  if (chat.maxUpload && file.size > chat.maxUpload) {
    showError("upload-error", `${file.name} is ${file.size} bytes; the limit is ${chat.maxUpload} bytes`);
    return;
  }
  $("upload-status").textContent = `uploading ${file.name}…`;
  try {
    const stored = await api(`/api/upload?name=${encodeURIComponent(file.name)}`, { method: "PUT", body: file });
    $("upload-status").textContent = `stored ${stored.name} (${stored.metadata.duration_seconds.toFixed(1)} s, ${stored.metadata.width}x${stored.metadata.height})`;
    await loadMedia(`media:${stored.name}`);
  } catch (error) {
    $("upload-status").textContent = "";
    showError("upload-error", error.message);
  } finally {
    $("upload").value = "";
  }
}

async function newChat() {
  showError("chat-error", "");
  const [kind, ...rest] = $("video").value.split(":");
  try {
    const thread = await api("/api/threads", { method: "POST", headers: { "Content-Type": "application/json" },
                                               body: JSON.stringify({ video: { kind, name: rest.join(":") } }) });
    await openThread(thread.id);
  } catch (error) {
    showError("chat-error", error.message);
  }
}

async function openThread(threadId) {
  if (chat.source) chat.source.close();
  let data;
  try {
    data = await api(`/api/threads/${encodeURIComponent(threadId)}`);
  } catch (error) {
    localStorage.removeItem("vot.thread");
    showError("chat-error", error.message);
    return;
  }
  chat.thread = data.thread;
  chat.turns = new Map();
  localStorage.setItem("vot.thread", threadId);
  $("thread-header").textContent = `Chat about ${data.thread.label}`;
  $("conversation").replaceChildren();
  $("ask").disabled = false;
  setBusy(data.turns.some((t) => t.status === "queued" || t.status === "running"));
  loadThreads();
  // Replay every stored event from the start, then follow new ones (EventSource reconnects with Last-Event-ID).
  chat.source = new EventSource(`/api/threads/${encodeURIComponent(threadId)}/events?after=0`);
  for (const kind of ["turn", "status", "record", "visuals", "answer", "error", "live"]) {
    chat.source.addEventListener(kind, (event) => onEvent(kind, JSON.parse(event.data)));
  }
}

function setBusy(busy) {
  chat.busy = busy;
  $("ask").disabled = busy || !chat.thread;
  $("ask").textContent = busy ? "Answering…" : "Ask";
}

function turnBox(turnId) {
  let turn = chat.turns.get(turnId);
  if (!turn) {
    const root = el("div", { class: "turn", "data-turn": turnId, id: `turn-${turnId}` });
    turn = { root, question: el("div", { class: "question" }), status: el("div", { class: "status" }),
             trace: el("div", { class: "trace" }), live: el("div", { class: "live", hidden: true }),
             visuals: el("div", { class: "visuals" }), answer: el("div"), error: el("div") };
    root.append(turn.question, turn.trace, turn.status, turn.live, turn.visuals, turn.answer, turn.error);
    $("conversation").append(root);
    chat.turns.set(turnId, turn);
  }
  return turn;
}

function setStatus(turn, text, node) {
  // The node that is running (from its start event), or a plain status line; "" clears it.
  turn.status.textContent = node ? `running ${node}…` : text || "";
  turn.status.dataset.running = node || "";
  turn.status.classList.toggle("running", Boolean(node));
}

function reveal(element) {
  // Scroll `element`'s bottom into view above the sticky ask form, which would otherwise cover it.
  element.style.scrollMarginBottom = `${$("ask-form").offsetHeight + 12}px`;
  element.scrollIntoView({ block: "end" });
}

function onEvent(kind, data) {
  if (kind === "live" && !chat.turns.has(data.turn)) return;  // text of no turn on this page (the idle buffer)
  const turn = turnBox(data.turn);
  if (kind === "turn") {
    fill(turn.question, el("span", { text: data.question }),
      data.choices.length ? el("span", { class: "choices", text: `  — ${data.choices.join(" | ")}` }) : null);
    turn.error.replaceChildren();
    setBusy(true);
  } else if (kind === "status") {
    setStatus(turn, data.text, data.node);
    turn.error.replaceChildren();
  } else if (kind === "live") {
    // The LLM's text as it is generated, labelled with the node that asked for it.
    turn.live.textContent = data.text ? `LLM${data.node ? ` in ${data.node}` : ""}: ${data.text}` : "";
    turn.live.dataset.node = data.node || "";
    turn.live.hidden = !data.text;
    if (data.text) { reveal(turn.live); return; }
  } else if (kind === "record") {
    turn.live.hidden = true;
    turn.trace.append(renderRecord(data.record, data.text, turn.trace.children.length));
  } else if (kind === "visuals") {
    const base = `/api/pictures/${encodeURIComponent(chat.thread.id)}/`;
    fill(turn.visuals,
      (data.frames || []).map((f) => el("figure", {}, el("img", { src: base + f.file, alt: `frame ${f.frame_index}` }),
        el("figcaption", { text: `frame ${f.frame_index}${f.seconds !== null && f.seconds !== undefined ? ` (${f.seconds} s)` : ""}` }))),
      data.timeline ? el("figure", {}, el("img", { class: "timeline", src: base + data.timeline, alt: "STSG timeline" }),
        el("figcaption", { text: (data.targets || []).some((t) => (t.track_ids || []).length)
          ? "STSG timeline of the grounded targets" : "STSG timeline (no target was grounded: every track)" })) : null);
  } else if (kind === "answer") {
    setStatus(turn, "");
    turn.live.hidden = true;
    const status = (data.verification || {}).status || "unchecked";
    const cost = `${data.resumed ? "resumed from a checkpoint · " : ""}${data.llm_calls} LLM calls · ${data.wall_seconds} s`;
    fill(turn.answer, el("div", { class: "answer", id: `answer-${data.turn}` },
      el("strong", { text: "Answer: " }), el("span", { class: "answer-text", text: data.answer || "(no answer)" }),
      el("div", { class: `verification ${status}`, "data-status": status, text: verificationText(data.verification) }),
      el("div", { class: "note", text: cost })),
      (data.warnings || []).length ? el("div", { class: "error step-errors", role: "alert" },
        el("div", { text: "Steps that failed or fell back (their records are marked red):" }), data.warnings.map((w) => el("div", { text: w }))) : null);
    setBusy(false);
    loadThreads();
  } else if (kind === "error") {
    turn.live.hidden = true;
    setStatus(turn, "");
    fill(turn.error, el("div", { class: "error turn-error", role: "alert" }, el("span", { text: data.message }), " ",
      data.retry ? el("button", { class: "secondary", text: "Retry", onclick: () => retry(data.turn) }) : null));
    setBusy(false);
  }
  reveal(turn.root);
}

async function retry(turnId) {
  try {
    await api(`/api/threads/${encodeURIComponent(chat.thread.id)}/turns/${turnId}/retry`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    setBusy(true);
  } catch (error) {
    showError("chat-error", error.message);
  }
}

async function ask(event) {
  event.preventDefault();
  showError("chat-error", "");
  const question = $("question").value.trim();
  const choices = $("choices").value.split("\n").map((c) => c.trim()).filter(Boolean);
  if (!question) { showError("chat-error", "Type a question first."); return; }
  setBusy(true);
  try {
    await api(`/api/threads/${encodeURIComponent(chat.thread.id)}/ask`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ question, choices }) });
    // Both fields are cleared: a follow-up must not silently reuse this question's choices.
    $("question").value = "";
    $("choices").value = "";
  } catch (error) {
    setBusy(false);
    showError("chat-error", error.message);
  }
}

// ---------------------------------------------------------------- evaluation runs

const runs = { overview: null, comparison: null, detail: null, step: null };

function fmt(value, digits = 3) {
  return value === null || value === undefined ? "–" : typeof value === "number" ? value.toFixed(digits) : String(value);
}

async function loadRuns() {
  showError("runs-error", "");
  try {
    const data = await api("/api/runs");
    $("runs-dir").textContent = `in ${data.runs_dir}`;
    const options = data.runs.map((r) => el("option", { value: r.name, text: `${r.name}${r.task ? ` (${r.task})` : ""}` }));
    $("run-a").replaceChildren(...options);
    $("run-b").replaceChildren(el("option", { value: "", text: "—" }), ...options.map((o) => o.cloneNode(true)));
    if (!data.runs.length) showError("runs-error", `No run folders in ${data.runs_dir}: \`vot eval --out ${data.runs_dir}/NAME\` makes one.`);
  } catch (error) {
    showError("runs-error", error.message);
  }
}

function summaryTable(summaries) {
  const types = [...new Set(summaries.flatMap((s) => Object.keys(s.summary.accuracy_by_type || {})))];
  const table = el("table", { class: "summary" },
    el("tr", {}, el("th", { text: "" }), summaries.map((s) => el("th", { text: s.name }))),
    el("tr", {}, el("td", { text: "accuracy" }), summaries.map((s) => el("td", { text: `${fmt(s.summary.accuracy)} (${s.summary.correct}/${s.summary.scored})` }))),
    types.map((t) => el("tr", {}, el("td", { text: `  ${t}` }), summaries.map((s) => {
      const cell = (s.summary.accuracy_by_type || {})[t];
      return el("td", { text: cell ? `${fmt(cell.accuracy)} (${cell.correct}/${cell.total})` : "–" });
    }))),
    el("tr", {}, el("td", { text: "mean retries" }), summaries.map((s) => el("td", { text: fmt((s.summary.retries || {}).mean, 2) }))),
    el("tr", {}, el("td", { text: "errors / unparsable" }), summaries.map((s) => el("td", { text: `${(s.summary.errors || []).length} / ${(s.summary.unparsable || []).length}` }))));
  return table;
}

function fillFilters(questions) {
  const types = [...new Set(questions.map((q) => q.question_type))].sort();
  $("filter-type").replaceChildren(el("option", { value: "all", text: "all" }), ...types.map((t) => el("option", { value: t, text: t })));
  $("filters").hidden = false;
}

function passes(question) {
  const type = $("filter-type").value, result = $("filter-correct").value;
  if (type !== "all" && question.question_type !== type) return false;
  if (result === "right" && question.correct !== true) return false;
  if (result === "wrong" && question.correct !== false) return false;
  return true;
}

function mark(correct) {
  return correct === true ? el("span", { class: "right", text: "right" })
       : correct === false ? el("span", { class: "wrong", text: "wrong" }) : el("span", { class: "note", text: "–" });
}

function renderQuestionList() {
  const compare = runs.comparison;
  const questions = compare ? compare.questions : runs.overview ? runs.overview.questions : [];
  const shown = questions.filter(passes);
  $("filter-count").textContent = `${shown.length} of ${questions.length} questions`;
  const head = compare
    ? el("tr", {}, ["#", "type", "question", compare.a.name, compare.b.name, "first divergence"].map((h) => el("th", { text: h })))
    : el("tr", {}, ["#", "type", "question", "answer", "result"].map((h) => el("th", { text: h })));
  $("questions").replaceChildren(head, ...shown.map((q) => el("tr", { class: "question-row", "data-key": q.key,
      onclick: (event) => openQuestion(q.key, event.currentTarget) },
    el("td", { text: String(q.index) }), el("td", { text: q.question_type }), el("td", { text: q.question || q.key }),
    compare ? [el("td", {}, mark(q.correct)), el("td", {}, mark(q.correct_b)),
               el("td", { text: q.divergence ? `step ${q.divergence.step + 1}: ${q.divergence.node}` : "identical" })]
            : [el("td", { text: q.answer ?? "" }), el("td", {}, mark(q.correct))])));
}

async function openRun() {
  showError("runs-error", "");
  runs.comparison = null;
  $("question-detail").replaceChildren();
  try {
    runs.overview = await api(`/api/runs/${$("run-a").value}`);
    $("run-summary").replaceChildren(el("h3", { text: `Run ${runs.overview.name}` }),
      summaryTable([{ name: runs.overview.name, summary: runs.overview.summary }]));
    fillFilters(runs.overview.questions);
    renderQuestionList();
  } catch (error) {
    showError("runs-error", error.message);
  }
}

async function compareRuns() {
  showError("runs-error", "");
  const a = $("run-a").value, b = $("run-b").value;
  if (!b) { showError("runs-error", "Pick a second run to compare with."); return; }
  $("question-detail").replaceChildren();
  try {
    runs.comparison = await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
    const d = runs.comparison.divergence;
    const where = Object.entries(d.first_divergence_node).map(([node, n]) => `${node}: ${n}`).join(", ") || "none";
    $("run-summary").replaceChildren(el("h3", { text: `${a} vs ${b}` }),
      summaryTable([runs.comparison.a, runs.comparison.b]),
      el("p", { class: "note", id: "divergence-summary",
                text: `${d.compared} questions compared, ${d.identical} identical traces; first divergence by node: ${where}` }));
    fillFilters(runs.comparison.questions);
    renderQuestionList();
  } catch (error) {
    showError("runs-error", error.message);
  }
}

function traceColumn(record, divergence) {
  const trace = record.trace || [];
  return trace.map((step, index) => {
    const card = renderRecord(step, (record.trace_text || [])[index], index);
    if (divergence && divergence.step === index) card.classList.add("diverged");
    return card;
  });
}

function renderStepper(record) {
  const trace = record.trace || [];
  const detail = $("question-detail");
  const cards = traceColumn(record, null);
  const label = el("span", { class: "note", id: "step-label" });
  const show = (step) => {
    runs.step = step;
    cards.forEach((card, index) => {
      card.hidden = step !== null && index !== step;
      card.classList.toggle("current", step === index);
    });
    label.textContent = step === null ? `all ${trace.length} steps` : `step ${step + 1} of ${trace.length}`;
  };
  const stepper = el("div", { class: "stepper" },
    el("button", { class: "secondary", id: "step-prev", text: "◀ previous", onclick: () => show(Math.max(0, (runs.step ?? 1) - 1)) }),
    el("button", { class: "secondary", id: "step-next", text: "next ▶", onclick: () => show(runs.step === null ? 0 : Math.min(trace.length - 1, runs.step + 1)) }),
    el("button", { class: "secondary", id: "step-all", text: "all steps", onclick: () => show(null) }), label);
  const sample = record.sample || {};
  detail.replaceChildren(
    el("h3", { text: sample.question || record.key }),
    el("div", { class: "note", id: "question-note", text: `choices: ${(sample.choices || []).join(" | ") || "(open)"} · gold: ${goldText(sample)} · answer: ${record.answer ?? "–"} · ${record.status}${record.error ? ` (${record.error})` : ""}` }),
    stepper, el("div", { class: "trace", id: "question-trace" }, cards));
  show(null);
}

function goldText(sample) {
  // The gold answer's text ("the red circle (choice 1)"), not its bare index.
  const choices = sample.choices || [];
  const index = sample.answer_index;
  if (Number.isInteger(index) && index >= 0 && index < choices.length) return `${choices[index]} (choice ${index})`;
  if (typeof sample.answer === "string" && sample.answer) return sample.answer;
  return "–";
}

async function openQuestion(key, row) {
  showError("runs-error", "");
  document.querySelectorAll("#questions tr.selected").forEach((r) => r.classList.remove("selected"));
  if (row) row.classList.add("selected");
  try {
    if (runs.comparison) {
      const a = runs.comparison.a.name, b = runs.comparison.b.name;
      const data = await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}&key=${encodeURIComponent(key)}`);
      const d = data.divergence;
      $("question-detail").replaceChildren(
        el("h3", { text: (data.a.sample || {}).question || key }),
        el("div", { class: "note", id: "divergence-note",
                    text: d ? `first divergence at step ${d.step + 1}: ${d.node}${d.node_b && d.node_b !== d.node ? ` (vs ${d.node_b})` : ""}` : "the traces are identical" }),
        el("div", { class: "columns" },
          el("div", { class: "compare-col", id: "compare-a" }, el("h3", {}, `${a}: `, mark(data.a.correct), ` ${data.a.answer ?? ""}`), traceColumn(data.a, d)),
          el("div", { class: "compare-col", id: "compare-b" }, el("h3", {}, `${b}: `, mark(data.b.correct), ` ${data.b.answer ?? ""}`), traceColumn(data.b, d))));
    } else {
      renderStepper(await api(`/api/question?run=${encodeURIComponent(runs.overview.name)}&key=${encodeURIComponent(key)}`));
    }
  } catch (error) {
    showError("runs-error", error.message);
  }
}

// ---------------------------------------------------------------- wiring

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  $("panel-chat").hidden = name !== "chat";
  $("panel-runs").hidden = name !== "runs";
  if (name === "runs" && !$("run-a").children.length) loadRuns();
  localStorage.setItem("vot.tab", name);
}

document.addEventListener("DOMContentLoaded", async () => {
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  $("new-chat").addEventListener("click", newChat);
  $("upload").addEventListener("change", (event) => { if (event.target.files[0]) upload(event.target.files[0]); });
  $("ask-form").addEventListener("submit", ask);
  $("open-run").addEventListener("click", openRun);
  $("compare").addEventListener("click", compareRuns);
  $("filter-type").addEventListener("change", renderQuestionList);
  $("filter-correct").addEventListener("change", renderQuestionList);
  try {
    await loadMedia();
    await loadThreads();
  } catch (error) {
    showError("chat-error", error.message);
  }
  // A reload or a closed tab drops only this page's event stream; the run goes on in the server,
  // and the reloaded page replays what happened and follows the rest.
  window.addEventListener("pagehide", () => { if (chat.source) chat.source.close(); });
  const saved = localStorage.getItem("vot.thread");
  if (saved) openThread(saved);
  if (localStorage.getItem("vot.tab") === "runs") showTab("runs");
});
