// rnnkit serve: the article's game, the blank and the sampler, on the JSON API under /v1/.
"use strict";

const EXAMPLES = {
  zh: ["我昨天上学迟到了，老师批评了", "我的手机坏了，我打算"],
  en: ["i was late for school yesterday , and the teacher criticized", "the cat sat on the"],
};
const FILL_EXAMPLES = { zh: "我的手机坏了，我打算__一部新手机。", en: "the teacher __ me ." };
const DEBOUNCE_MS = 150;
const TOP = 10;

const $ = (selector) => document.querySelector(selector);
let models = [];
let lm = null; // the language model chosen in the selector
let predictTimer = 0;
let predictAbort = null;
let sampleAbort = null;

async function api(path, body, signal) {
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = data && data.error ? data.error.message : response.statusText;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return data;
}

function status(id, text, isError) {
  const el = $(id);
  el.textContent = text || "";
  el.classList.toggle("error", Boolean(isError));
}

const language = (model) => (model && model.tokenizer !== "word" ? "zh" : "en");
const ofKind = (kind) => models.filter((m) => m.kind === kind);
// The N-gram column shows only when it cuts text as the chosen model does.
const ngramFor = (model) => ofKind("ngram").find((m) => model && m.tokenizer === model.tokenizer) || null;

function percent(p) {
  if (p >= 0.1) return (100 * p).toFixed(1) + "%";
  if (p >= 0.001) return (100 * p).toFixed(2) + "%";
  return p.toExponential(1);
}

// One bar per token: a button that appends the token (game) or shows the filling (blank).
function renderBars(list, items, onPick) {
  list.replaceChildren();
  for (const item of items) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "bar";
    button.dataset.token = item.label;
    button.dataset.probability = String(item.value);
    button.setAttribute("aria-label", `${item.label}: ${percent(item.value)}`);
    const label = document.createElement("span");
    label.className = "bar-label";
    label.textContent = item.label === "<eos>" ? "⏎ <eos>" : item.label;
    const track = document.createElement("span");
    track.className = "bar-track";
    const fill = document.createElement("span");
    fill.className = "bar-fill";
    fill.style.width = `${Math.min(100, 100 * item.value)}%`;
    track.append(fill);
    const value = document.createElement("span");
    value.className = "bar-value";
    value.textContent = percent(item.value);
    button.append(label, track, value);
    if (onPick) button.addEventListener("click", () => onPick(item.label));
    else button.tabIndex = -1;
    li.append(button);
    list.append(li);
  }
}

function renderTokens(tokens, unknown) {
  const box = $("#tokens");
  box.replaceChildren();
  const unknownSet = new Set(unknown);
  for (const token of tokens) {
    const span = document.createElement("span");
    span.className = "tok" + (unknownSet.has(token) ? " unknown" : "");
    span.textContent = token;
    if (unknownSet.has(token)) span.title = "unknown to the model: read as <unk>";
    box.append(span);
  }
  if (unknown.length) {
    const note = document.createElement("span");
    note.className = "tok-note";
    note.textContent = ` unknown: ${unknown.join(" ")}`;
    box.append(note);
  }
}

// --- the game ------------------------------------------------------------------

function appendToken(token) {
  const input = $("#prefix");
  if (token === "<eos>" || token === "</s>") {
    input.value = "";
  } else {
    const separator = lm.tokenizer === "word" && input.value && !input.value.endsWith(" ") ? " " : "";
    input.value += separator + token;
  }
  input.focus();
  predictNow();
}

function schedulePredict() {
  clearTimeout(predictTimer);
  predictTimer = setTimeout(predictNow, DEBOUNCE_MS);
}

async function predictNow() {
  clearTimeout(predictTimer);
  if (!lm) return;
  if (predictAbort) predictAbort.abort();
  predictAbort = new AbortController();
  const signal = predictAbort.signal;
  const prefix = $("#prefix").value;
  const ngram = ngramFor(lm);
  const asks = [api("/v1/predict", { model: lm.id, prefix, top: TOP }, signal)];
  if (ngram) asks.push(api("/v1/predict", { model: ngram.id, prefix, top: TOP }, signal));
  try {
    const [rnn, gram] = await Promise.all(asks);
    renderTokens(rnn.tokens, rnn.unknown);
    renderBars($("#rnn-bars"), rnn.predictions.map((p) => ({ label: p.token, value: p.probability })), appendToken);
    if (gram) {
      renderBars($("#ngram-bars"), gram.predictions.map((p) => ({ label: p.token, value: p.probability })),
        gram.predictions.length ? appendToken : null);
    }
    status("#game-status", rnn.unknown.length ? "Words the model never saw are read as <unk>." : "");
    $("#columns").dataset.prefix = prefix; // which prefix the bars belong to (the page's tests wait on it)
  } catch (error) {
    if (error.name === "AbortError") return;
    status("#game-status", error.message, true);
  }
}

// --- the blank -------------------------------------------------------------------

async function fillNow(event) {
  event.preventDefault();
  const cloze = models.find((m) => m.id === $("#fill").dataset.model);
  if (!cloze) return;
  status("#fill-status", "…");
  try {
    const r = await api("/v1/fill", { model: cloze.id, text: $("#fill-text").value, top: TOP });
    const exact = r.scoring === "exact";
    renderBars($("#fill-bars"), r.predictions.map((p) => ({
      label: p.text, value: exact ? p.probability : p.pseudo_likelihood })), null);
    status("#fill-status", (exact ? "Probability of each filling" : "Pseudo-likelihood (not normalised)") +
      (r.unknown.length ? ` · unknown: ${r.unknown.join(" ")}` : ""));
  } catch (error) {
    $("#fill-bars").replaceChildren();
    status("#fill-status", error.message, true);
  }
}

// --- sampling, streamed ----------------------------------------------------------

function numberOrNull(id) {
  const text = $(id).value.trim();
  return text === "" ? null : Number(text);
}

async function sampleNow(event) {
  event.preventDefault();
  if (!lm) return;
  if (sampleAbort) sampleAbort.abort();
  sampleAbort = new AbortController();
  const out = $("#sample-out");
  out.textContent = "";
  out.classList.add("streaming");
  $("#sample-stop").disabled = false;
  status("#sample-status", "writing…");
  const body = {
    model: lm.id, prefix: $("#sample-prefix").value, stream: true,
    temperature: numberOrNull("#temperature") ?? 1, max_tokens: numberOrNull("#max-tokens") ?? 50,
  };
  const topK = numberOrNull("#top-k");
  const seed = numberOrNull("#seed");
  if (topK !== null) body.top_k = topK;
  if (seed !== null) body.seed = seed;
  try {
    const response = await fetch("/v1/generate", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      signal: sampleAbort.signal,
    });
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      throw new Error(data && data.error ? data.error.message : response.statusText);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (!data) continue;
        const message = JSON.parse(data);
        if (message.error) throw new Error(message.error.message);
        out.textContent = message.text;
        if (message.generated_text !== null && message.generated_text !== undefined) {
          out.dataset.done = "true";
          status("#sample-status", `${message.details.generated_tokens} tokens · seed ${message.details.seed}`);
        }
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") status("#sample-status", error.message, true);
    else status("#sample-status", "stopped");
  } finally {
    out.classList.remove("streaming");
    $("#sample-stop").disabled = true;
  }
}

// --- the model ---------------------------------------------------------------------

function describe(model) {
  const a = model.architecture;
  const t = model.training;
  const shape = a.cell ? `${a.cell} ${a.layers}×${a.hidden}` : `${a.order}-gram`;
  const ppl = t.valid_ppl ? `, validation perplexity ${Number(t.valid_ppl).toFixed(1)}` : "";
  return `${shape}, ${model.vocab_size.toLocaleString()} ${model.tokenizer} tokens${ppl}`;
}

function chooseModel(id) {
  lm = models.find((m) => m.id === id) || null;
  if (!lm) return;
  const lang = language(lm);
  const ngram = ngramFor(lm);
  $("#model-about").textContent = describe(lm) + (ngram ? ` · beside it: ${ngram.id} (${describe(ngram)})` : "");
  $("#rnn-title").textContent = `RNN (${lm.id})`;
  $("#ngram-column").hidden = !ngram;
  $("#columns").classList.toggle("two", Boolean(ngram));
  if (ngram) $("#ngram-title").textContent = `${ngram.architecture.order}-gram (${ngram.id})`;
  const examples = $("#examples");
  examples.replaceChildren(document.createTextNode("Try: "));
  for (const text of EXAMPLES[lang]) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", () => { $("#prefix").value = text; $("#prefix").focus(); predictNow(); });
    examples.append(b);
  }
  $("#prefix").placeholder = EXAMPLES[lang][0];
  $("#sample-prefix").placeholder = EXAMPLES[lang][0];
  predictNow();
}

async function start() {
  try {
    models = (await api("/v1/models")).data;
  } catch (error) {
    status("#game-status", `cannot reach the server: ${error.message}`, true);
    return;
  }
  const select = $("#model");
  for (const m of ofKind("lm")) select.append(new Option(`${m.id} (${m.tokenizer})`, m.id));
  select.addEventListener("change", () => chooseModel(select.value));
  $("#prefix").addEventListener("input", schedulePredict);
  $("#sample-form").addEventListener("submit", sampleNow);
  $("#sample-stop").addEventListener("click", () => sampleAbort && sampleAbort.abort());
  const cloze = ofKind("cloze")[0];
  if (cloze) {
    $("#fill").hidden = false;
    $("#fill").dataset.model = cloze.id;
    $("#fill-title").textContent = `Fill the blank (${cloze.id})`;
    $("#fill-text").value = FILL_EXAMPLES[language(cloze)];
    $("#fill-form").addEventListener("submit", fillNow);
  }
  if (ofKind("lm").length) {
    chooseModel(select.value);
  } else {
    $("#game").hidden = true;
    $("#sample").hidden = true;
  }
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", start);
